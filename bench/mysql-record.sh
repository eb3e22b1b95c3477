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
#   ROUNDS=3          rounds of direct, relay and reel, one after another
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
ROUNDS=${ROUNDS:-3}
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

echo "mysqlslap --auto-generate-sql-load-type=key, $CLIENTS clients, $QUERIES queries, $ROUNDS rounds"
# The three run one after another in each round, so that what else the
# machine does at a given moment touches all three alike; the medians
# are reported. CPU per query (the proxy's own user and system time over
# the queries it carried) moves far less between runs than throughput
# does when mysqlslap, the server and the proxy share the cores.
printf '  %-6s %10s %10s %6s %12s %10s %6s %12s\n' round direct relay "of" "relay cpu" reel "of" "reel cpu"
directs=() relays=() reels=() relay_cpus=() reel_cpus=() relay_ratios=() reel_ratios=()
for round in $(seq "$ROUNDS"); do
    direct=$(run_slap "${MYSQL%:*}" "${MYSQL##*:}" direct)

    start_relay "$MYSQL"
    before=$(cpu_ticks "$relay_pid")
    bare=$(run_slap 127.0.0.1 "$relay_port" relay)
    relay_cpu=$(cpu_per_query $(($(cpu_ticks "$relay_pid") - before)) "$QUERIES")
    stop_relay

    rm -f "$work/reel.db"*
    start_reel mysqlslap db "db=mysql:127.0.0.1:0=$MYSQL"
    before=$(cpu_ticks "$reel_pid")
    recorded=$(run_slap 127.0.0.1 "$port" recorded)
    reel_cpu=$(cpu_per_query $(($(cpu_ticks "$reel_pid") - before)) "$QUERIES")
    stop_reel

    # mysqlslap's key reads: SELECT ... FROM t1 WHERE id = '...'.
    stored=$(sqlite3 "$work/reel.db" "select count(*) from exchanges where protocol = 'mysql' \
        and response_head is not null and error is null \
        and request_head like '%\"sql\":\"SELECT%FROM t1 WHERE id =%'")
    dropped=$(sqlite3 "$work/reel.db" "select dropped from sessions")
    if ((stored < QUERIES || dropped > 0)); then
        echo "mysql-record: round $round: reel stored $stored of $QUERIES queries, dropped $dropped" >&2
        exit 1
    fi
    printf '  %-6s %10s %10s %6s %9s us %10s %6s %9s us\n' "$round" "$direct" "$bare" \
        "$(ratio "$bare" "$direct")" "$relay_cpu" "$recorded" "$(ratio "$recorded" "$direct")" "$reel_cpu"
    directs+=("$direct") relays+=("$bare") reels+=("$recorded")
    relay_cpus+=("$relay_cpu") reel_cpus+=("$reel_cpu")
    relay_ratios+=("$(ratio "$bare" "$direct")") reel_ratios+=("$(ratio "$recorded" "$direct")")
done
printf '  %-6s %10s %10s %6s %9s us %10s %6s %9s us\n' median "$(median "${directs[@]}")" \
    "$(median "${relays[@]}")" "$(median "${relay_ratios[@]}")" "$(median "${relay_cpus[@]}")" \
    "$(median "${reels[@]}")" "$(median "${reel_ratios[@]}")" "$(median "${reel_cpus[@]}")"
echo "  through reel: $(median "${reel_ratios[@]}") of direct (target 0.60), every round's $QUERIES reads stored, none dropped"
