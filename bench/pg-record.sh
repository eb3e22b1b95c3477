#!/usr/bin/env bash
# Measures what recording Postgres costs: `pgbench -S` (select-only, simple
# protocol) for DURATION directly against the server and then through
# `reel record --dep db=postgres:...`, and checks that reel stored every
# transaction pgbench completed.
#
# Usage: bench/pg-record.sh
#   DURATION=10      seconds per pgbench run
#   CLIENTS=8        pgbench connections (-c), with 2 threads (-j)
#   PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres   the real server
#   REEL=path        a reel binary to measure instead of building one
#
# Uses (and creates once) the database `reel_bench`, initialised by
# `pgbench -i -s 10`. Exit status: 0 when the measurement ran (the 60 % target
# is reported, not enforced); 1 when reel stored fewer transactions than
# pgbench completed or dropped captures; 2 when the bench itself broke.
set -euo pipefail
export LC_ALL=C

DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-8}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=reel_bench
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() {
    echo "pg-record: $*" >&2
    exit 2
}
command -v pgbench >/dev/null || die "pgbench not found (Debian: postgresql-contrib or postgresql-client)"
command -v sqlite3 >/dev/null || die "sqlite3 not found (apt-get install sqlite3)"

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
reel_binary

if ! psql -X -q -d "$DB" -c 'select 1 from pgbench_accounts limit 1' >/dev/null 2>&1; then
    psql -X -q -d postgres -c "create database $DB" >/dev/null 2>&1 || true
    pgbench -q -i -s 10 "$DB" >/dev/null 2>&1 || die "pgbench -i failed"
fi

tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1; }
transactions() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p'; }

run_pgbench() { # host port label
    pgbench -n -S -M simple -c "$CLIENTS" -j 2 -T "$DURATION" -h "$1" -p "$2" "$DB" 2>&1 | tee "$work/$3.out" >/dev/null
}

echo "pgbench -S -M simple, $CLIENTS clients, ${DURATION}s each"
run_pgbench "$PGHOST" "$PGPORT" direct
direct=$(tps <"$work/direct.out")
[[ -n $direct ]] || die "direct pgbench failed: $(cat "$work/direct.out")"
echo "  direct            $direct tps"

start_reel pgbench db "db=postgres:127.0.0.1:0=$PGHOST:$PGPORT"

run_pgbench 127.0.0.1 "$port" recorded
recorded=$(tps <"$work/recorded.out")
done_tx=$(transactions <"$work/recorded.out")
[[ -n $recorded ]] || die "pgbench through reel failed: $(cat "$work/recorded.out")"
stop_reel

# Only queries stored with their answer count: one cut off when reel stopped
# is stored too, but unanswered or with an error.
stored=$(sqlite3 "$work/reel.db" "select count(*) from exchanges where protocol = 'postgres' \
    and request_head like '%\"Query\"%' and response_head is not null and error is null")
dropped=$(sqlite3 "$work/reel.db" "select dropped from sessions")
ratio=$(python3 -c "print(f'{$recorded / $direct:.2f}')")
echo "  through reel      $recorded tps ($ratio of direct; target 0.60)"
echo "  transactions      $done_tx completed, $stored answered queries stored, $dropped dropped"
if ((stored < done_tx || dropped > 0)); then
    echo "pg-record: reel stored fewer answered queries than pgbench completed" >&2
    exit 1
fi
