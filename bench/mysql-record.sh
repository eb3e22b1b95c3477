#!/usr/bin/env bash
# Measures what recording MySQL costs: `mysqlslap` (primary-key reads from
# concurrent clients, each a COM_QUERY and its one-row result) directly
# against the server, through a bare relay that copies bytes and records
# nothing (proxy/examples/bare_relay.rs), and through `reel record --dep
# db=mysql:...`; then checks that reel stored every query it sent.
#
# Usage: bench/mysql-record.sh
#   QUERIES=100000    queries per run, spread over the clients
#   CLIENTS=20        mysqlslap connections (--concurrency)
#   MYSQL=127.0.0.1:3306   the real server (user root, no password)
#   REEL=path         a reel binary to measure instead of building one
#
# Exit status: 0 when the measurement ran (the 60 % target is reported, not
# enforced); 1 when reel stored fewer queries than mysqlslap sent or
# dropped captures; 2 when the bench itself broke.
set -euo pipefail
export LC_ALL=C

QUERIES=${QUERIES:-100000}
CLIENTS=${CLIENTS:-20}
MYSQL=${MYSQL:-127.0.0.1:3306}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() {
    echo "mysql-record: $*" >&2
    exit 2
}
command -v mysqlslap >/dev/null || die "mysqlslap not found (Debian: mariadb-client)"
command -v sqlite3 >/dev/null || die "sqlite3 not found (apt-get install sqlite3)"

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
reel_binary
relay_binary

# Each run makes its own schema, fills a table, reads it by primary key and
# drops the schema. Prints queries per second of the read phase.
schema=reel_bench_$$
run_slap() { # host port label
    mysqlslap -h "$1" -P "$2" -u root --create-schema="$schema" \
        --auto-generate-sql --auto-generate-sql-load-type=key \
        --auto-generate-sql-add-autoincrement --auto-generate-sql-write-number=100 \
        --concurrency="$CLIENTS" --number-of-queries="$QUERIES" --iterations=1 \
        >"$work/$3.out" 2>&1 || die "mysqlslap ($3) failed: $(tail -3 "$work/$3.out")"
    local secs
    secs=$(sed -n 's/.*Average number of seconds to run all queries: \([0-9.]*\) seconds.*/\1/p' "$work/$3.out")
    [[ -n $secs ]] || die "mysqlslap ($3) printed no time: $(cat "$work/$3.out")"
    python3 -c "print(round($QUERIES / max($secs, 0.001)))"
}

echo "mysqlslap --auto-generate-sql-load-type=key, $CLIENTS clients, $QUERIES queries"
direct=$(run_slap "${MYSQL%:*}" "${MYSQL##*:}" direct)
echo "  direct            $direct queries/s"

start_relay "$MYSQL"
bare=$(run_slap 127.0.0.1 "$relay_port" relay)
stop_relay
echo "  bare relay        $bare queries/s ($(ratio "$bare" "$direct") of direct)"

start_reel mysqlslap db "db=mysql:127.0.0.1:0=$MYSQL"
recorded=$(run_slap 127.0.0.1 "$port" recorded)
stop_reel

# mysqlslap's key reads: SELECT ... FROM t1 WHERE id = '...'.
stored=$(sqlite3 "$work/reel.db" "select count(*) from exchanges where protocol = 'mysql' \
    and response_head is not null and error is null \
    and request_head like '%\"sql\":\"SELECT%FROM t1 WHERE id =%'")
dropped=$(sqlite3 "$work/reel.db" "select dropped from sessions")
echo "  through reel      $recorded queries/s ($(ratio "$recorded" "$direct") of direct; target 0.60)"
echo "                    $(ratio "$recorded" "$bare") of the bare relay"
echo "  queries           $QUERIES sent, $stored answered reads stored, $dropped dropped"
if ((stored < QUERIES || dropped > 0)); then
    echo "mysql-record: reel stored fewer queries than mysqlslap sent" >&2
    exit 1
fi
