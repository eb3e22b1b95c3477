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

if [[ -n ${REEL:-} ]]; then
    reel=$REEL
else
    cargo build --release -p reel --quiet || die "building reel failed"
    reel=$root/target/release/reel
fi
cargo build --release -p reel-proxy --example bare_relay --quiet || die "building bare_relay failed"
relay=$root/target/release/examples/bare_relay

work=$(mktemp -d)
reel_pid=""
relay_pid=""
cleanup() {
    [[ -n $reel_pid ]] && kill -9 "$reel_pid" 2>/dev/null || true
    [[ -n $relay_pid ]] && kill -9 "$relay_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

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
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

echo "mysqlslap --auto-generate-sql-load-type=key, $CLIENTS clients, $QUERIES queries"
direct=$(run_slap "${MYSQL%:*}" "${MYSQL##*:}" direct)
echo "  direct            $direct queries/s"

"$relay" 127.0.0.1:0 "$MYSQL" 2>"$work/relay.err" &
relay_pid=$!
for _ in $(seq 150); do
    grep -q '^listening' "$work/relay.err" && break
    sleep 0.1
done
relay_port=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$work/relay.err")
[[ -n $relay_port ]] || die "bare_relay did not start: $(cat "$work/relay.err")"
bare=$(run_slap 127.0.0.1 "$relay_port" relay)
kill "$relay_pid"
wait "$relay_pid" 2>/dev/null || true
relay_pid=""
echo "  bare relay        $bare queries/s ($(ratio "$bare" "$direct") of direct)"

"$reel" record --upstream http://127.0.0.1:9 --listen 127.0.0.1:0 --session mysqlslap \
    --store "$work/reel.db" --dep "db=mysql:127.0.0.1:0=$MYSQL" 2>"$work/reel.err" &
reel_pid=$!
for _ in $(seq 150); do
    grep -q '^reel: listening' "$work/reel.err" && break
    sleep 0.1
done
port=$(grep -o 'dep:db=[0-9.:]*' "$work/reel.err" | sed 's/.*://')
[[ -n $port ]] || die "reel did not start: $(cat "$work/reel.err")"
recorded=$(run_slap 127.0.0.1 "$port" recorded)
kill -INT "$reel_pid"
wait "$reel_pid" || true
reel_pid=""

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
