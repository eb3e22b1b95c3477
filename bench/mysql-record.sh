#!/usr/bin/env bash
# Measures what recording MySQL costs: a load directly against the server,
# through a bare relay that copies bytes and records nothing
# (proxy/examples/bare_relay.rs), and through `reel record --dep
# db=mysql:...`; then checks that reel stored every query the load sent.
#
# The loads:
#   mysqlslap  (the default) concurrent clients sending COM_QUERYs, of
#              the kind LOAD names:
#                key    (the default) primary-key reads, each a one-row
#                       text result: the cheapest query, so the one where
#                       a proxy's cost per query weighs most
#                mixed  mysqlslap's own default: half inserts, half
#                       selects that scan the table (a result of up to
#                       a few hundred rows)
#   sysbench   sysbench's oltp_read_only: prepared statements (point
#              selects, ranges of 100 rows, sums, ORDER BY, DISTINCT) in
#              transactions, each a COM_STMT_EXECUTE and its binary result
#              (Debian: apt-get install sysbench)
#
# Usage: bench/mysql-record.sh
#   WORKLOAD=mysqlslap  or sysbench
#   LOAD=key          mysqlslap: key or mixed (above)
#   QUERIES=100000    mysqlslap: queries per run, spread over the clients
#   SECONDS_PER_RUN=10  sysbench: how long each run lasts
#   CLIENTS=20        connections (mysqlslap --concurrency, sysbench --threads)
#   ROUNDS=3          rounds of direct, relay and reel, one after another
#   MYSQL=127.0.0.1:3306   the real server (user root, no password)
#   REEL=path         a reel binary to measure instead of building one
#
# Exit status: 0 when the measurement ran (the 60 % target is reported, not
# enforced); 1 when reel stored fewer queries than the load sent, dropped
# captures, or stored raw bytes that do not decode when read; 2 when the
# bench itself broke.
set -euo pipefail
export LC_ALL=C

WORKLOAD=${WORKLOAD:-mysqlslap}
QUERIES=${QUERIES:-100000}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CLIENTS=${CLIENTS:-20}
ROUNDS=${ROUNDS:-3}
MYSQL=${MYSQL:-127.0.0.1:3306}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() {
    echo "mysql-record: $*" >&2
    exit 2
}
case $WORKLOAD in
mysqlslap) command -v mysqlslap >/dev/null || die "mysqlslap not found (Debian: mariadb-client)" ;;
sysbench) command -v sysbench >/dev/null || die "sysbench not found (apt-get install sysbench)" ;;
*) die "WORKLOAD is mysqlslap or sysbench, not $WORKLOAD" ;;
esac
LOAD=${LOAD:-key}
case $LOAD in
key | mixed) ;;
*) die "LOAD is key or mixed, not $LOAD" ;;
esac
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
        --auto-generate-sql --auto-generate-sql-load-type="$LOAD" \
        --auto-generate-sql-add-autoincrement --auto-generate-sql-write-number=100 \
        --concurrency="$CLIENTS" --number-of-queries="$QUERIES" --iterations=1 \
        >"$work/$3.out" 2>&1 || die "mysqlslap ($3) failed: $(tail -3 "$work/$3.out")"
    local secs
    secs=$(sed -n 's/.*Average number of seconds to run all queries: \([0-9.]*\) seconds.*/\1/p' "$work/$3.out")
    [[ -n $secs ]] || die "mysqlslap ($3) printed no time: $(cat "$work/$3.out")"
    python3 -c "print(round($QUERIES / max($secs, 0.001)))"
}

# sysbench's tables are made once, directly, in a schema of the bench's
# own, and dropped on exit. Prints queries per second and the queries run.
sb_schema=reel_bench_sb_$$
sysbench_args() { # host port
    echo oltp_read_only --mysql-host="$1" --mysql-port="$2" --mysql-user=root \
        --mysql-db="$sb_schema" --tables=4 --table-size=10000
}
run_sysbench() { # host port label
    # shellcheck disable=SC2046
    sysbench $(sysbench_args "$1" "$2") --threads="$CLIENTS" --time="$SECONDS_PER_RUN" run \
        >"$work/$3.out" 2>&1 || die "sysbench ($3) failed: $(tail -3 "$work/$3.out")"
    sed -n 's/^ *queries: *\([0-9]*\) *(\([0-9.]*\) per sec.)/\2 \1/p' "$work/$3.out" |
        awk '{printf "%d %d\n", $1, $2}'
}
# The server's count of SELECTs and INSERTs run so far: what a mixed load
# sent, setup included, is its growth over the run (nothing else may use
# the server meanwhile, or the bench reports queries not stored).
statements() {
    mariadb -h "${MYSQL%:*}" -P "${MYSQL##*:}" -u root -N -B \
        -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select', 'Com_insert')" |
        awk '{n += $2} END {print n}'
}
# Prints queries per second and how many queries the run sent.
run_load() { # host port label
    case $WORKLOAD/$LOAD in
    mysqlslap/key) echo "$(run_slap "$@") $QUERIES" ;;
    mysqlslap/mixed)
        local before qps
        before=$(statements)
        qps=$(run_slap "$@")
        echo "$qps $(($(statements) - before))"
        ;;
    sysbench/*) run_sysbench "$@" ;;
    esac
}
if [[ $WORKLOAD == sysbench ]]; then
    mysql_host=${MYSQL%:*} mysql_port=${MYSQL##*:}
    mariadb -h "$mysql_host" -P "$mysql_port" -u root -e "CREATE DATABASE $sb_schema" ||
        die "cannot create $sb_schema on $MYSQL"
    trap 'mariadb -h "$mysql_host" -P "$mysql_port" -u root -e "DROP DATABASE IF EXISTS $sb_schema"; bench_cleanup' EXIT
    # shellcheck disable=SC2046
    sysbench $(sysbench_args "$mysql_host" "$mysql_port") prepare >"$work/prepare.out" 2>&1 ||
        die "sysbench prepare failed: $(tail -3 "$work/prepare.out")"
fi

case $WORKLOAD in
mysqlslap) echo "mysqlslap --auto-generate-sql-load-type=$LOAD, $CLIENTS clients, $QUERIES queries, $ROUNDS rounds" ;;
sysbench) echo "sysbench oltp_read_only, $CLIENTS threads, $SECONDS_PER_RUN s a run, $ROUNDS rounds" ;;
esac
# The three run one after another in each round, so that what else the
# machine does at a given moment touches all three alike; the medians
# are reported. CPU per query (the proxy's own user and system time over
# the queries it carried) moves far less between runs than throughput
# does when mysqlslap, the server and the proxy share the cores.
# "writer" is the part of reel's CPU its store writer thread spent.
printf '  %-6s %10s %10s %6s %12s %10s %6s %12s %12s\n' round direct relay "of" "relay cpu" reel "of" "reel cpu" "writer"
row() { # label direct relay ratio cpu reel ratio cpu writer
    printf '  %-6s %10s %10s %6s %9s us %10s %6s %9s us %9s us\n' "$@"
}
directs=() relays=() reels=() relay_cpus=() reel_cpus=() relay_ratios=() reel_ratios=() writer_cpus=()
for round in $(seq "$ROUNDS"); do
    out=$(run_load "${MYSQL%:*}" "${MYSQL##*:}" direct)
    direct=${out% *}

    start_relay "$MYSQL"
    before=$(cpu_ticks "$relay_pid")
    out=$(run_load 127.0.0.1 "$relay_port" relay)
    bare=${out% *} sent=${out#* }
    relay_cpu=$(cpu_per_query $(($(cpu_ticks "$relay_pid") - before)) "$sent")
    stop_relay

    rm -f "$work/reel.db"*
    start_reel "$WORKLOAD" db "db=mysql:127.0.0.1:0=$MYSQL"
    before=$(cpu_ticks "$reel_pid") writer_before=$(thread_ticks "$reel_pid" reel-store-writ)
    out=$(run_load 127.0.0.1 "$port" recorded)
    recorded=${out% *} sent=${out#* }
    reel_cpu=$(cpu_per_query $(($(cpu_ticks "$reel_pid") - before)) "$sent")
    writer_cpu=$(cpu_per_query $(($(thread_ticks "$reel_pid" reel-store-writ) - writer_before)) "$sent")
    stop_reel

    # Counted by their raw bytes, which every stored exchange has (most
    # are stored as raw bytes only, and decoded when the session is read):
    # the command's code after the 4-byte packet header.
    case $WORKLOAD/$LOAD in
    # mysqlslap's key reads: COM_QUERY SELECT ... FROM t1 WHERE id = '...'.
    mysqlslap/key) which="substr(request_body, 5, 1) = x'03' and instr(request_body, cast('FROM t1 WHERE id =' as blob)) > 0" ;;
    # Every COM_QUERY SELECT and INSERT, the setup's too, as the server counts them.
    mysqlslap/mixed) which="substr(request_body, 5, 1) = x'03' and upper(cast(substr(request_body, 6, 6) as text)) in ('SELECT', 'INSERT')" ;;
    # Every query sysbench counts is an execute of a prepared statement.
    sysbench/*) which="substr(request_body, 5, 1) = x'17'" ;;
    esac
    stored=$(sqlite3 "$work/reel.db" "select count(*) from exchanges where protocol = 'mysql' \
        and response_head is not null and error is null and $which")
    dropped=$(sqlite3 "$work/reel.db" "select dropped from sessions")
    if ((stored < sent || dropped > 0)); then
        echo "mysql-record: round $round: reel stored $stored of $sent queries, dropped $dropped" >&2
        exit 1
    fi
    # Those stored as raw bytes only must decode when read.
    undecoded=$("$reel" sessions show "$WORKLOAD" --store "$work/reel.db" | grep -c 'error: stored as raw bytes' || true)
    if ((undecoded > 0)); then
        echo "mysql-record: round $round: $undecoded exchanges stored as raw bytes do not decode" >&2
        exit 1
    fi
    relay_ratio=$(ratio "$bare" "$direct") reel_ratio=$(ratio "$recorded" "$direct")
    row "$round" "$direct" "$bare" "$relay_ratio" "$relay_cpu" "$recorded" "$reel_ratio" "$reel_cpu" "$writer_cpu"
    directs+=("$direct") relays+=("$bare") reels+=("$recorded")
    relay_cpus+=("$relay_cpu") reel_cpus+=("$reel_cpu") writer_cpus+=("$writer_cpu")
    relay_ratios+=("$relay_ratio") reel_ratios+=("$reel_ratio")
done
row median "$(median "${directs[@]}")" \
    "$(median "${relays[@]}")" "$(median "${relay_ratios[@]}")" "$(median "${relay_cpus[@]}")" \
    "$(median "${reels[@]}")" "$(median "${reel_ratios[@]}")" "$(median "${reel_cpus[@]}")" \
    "$(median "${writer_cpus[@]}")"
echo "  through reel: $(median "${reel_ratios[@]}") of direct (target 0.60), every query of every round stored and read back decoded, none dropped"
