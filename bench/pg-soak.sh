#!/usr/bin/env bash
# Soak of the Postgres recorder: does its memory stay flat over a million
# queries on long-lived connections, as an app's pool keeps them for hours?
# `pgbench -S -M prepared` (extended protocol: Parse once, then Bind/Execute
# per query) runs TRANSACTIONS in all over CLIENTS connections through
# `reel record --dep db=postgres:...`. Every SAMPLE_S seconds it samples
# reel's RSS, the exchanges stored and the store's size, then prints them and
# the same summary as bench/record-soak.sh.
#
# Usage: bench/pg-soak.sh
#   TRANSACTIONS=1000000  pgbench transactions (one query each), in all
#   CLIENTS=8             pgbench connections, kept for the whole run
#   RATE=4000             transactions per second in all (pgbench -R; 0: as
#                         fast as it goes)
#   SAMPLE_S=10 IDLE_S=20
#   PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres   the real server
#
# Uses (and creates once) the database `reel_bench`, initialised by
# `pgbench -i -s 10`, as bench/pg-record.sh does. Exit status: 0 when it ran;
# 1 when reel stored fewer queries than pgbench ran or dropped captures; 2 when
# the bench itself broke.
set -euo pipefail
export LC_ALL=C

TRANSACTIONS=${TRANSACTIONS:-1000000}
CLIENTS=${CLIENTS:-8}
RATE=${RATE:-4000}
SAMPLE_S=${SAMPLE_S:-10}
IDLE_S=${IDLE_S:-20}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=reel_bench
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() {
    echo "pg-soak: $*" >&2
    exit 2
}
command -v pgbench >/dev/null || die "pgbench not found (Debian: postgresql-contrib or postgresql-client)"
command -v sqlite3 >/dev/null || die "sqlite3 not found (apt-get install sqlite3)"
# shellcheck source=bench/soak-summary.sh
source "$root/bench/soak-summary.sh"

cargo build --release -p reel --quiet || die "building reel failed"
reel=$root/target/release/reel

if ! psql -X -q -d "$DB" -c 'select 1 from pgbench_accounts limit 1' >/dev/null 2>&1; then
    psql -X -q -d postgres -c "create database $DB" >/dev/null 2>&1 || true
    pgbench -q -i -s 10 "$DB" >/dev/null 2>&1 || die "pgbench -i failed"
fi

work=$(mktemp -d)
reel_pid=
sampler_pid=
cleanup() {
    for p in $sampler_pid $reel_pid; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
store=$work/reel.db

# Created first so the poll below never reads a file reel has yet to open.
: >"$work/reel.err"
"$reel" record --upstream http://127.0.0.1:9 --listen 127.0.0.1:0 --session pgsoak \
    --store "$store" --dep "db=postgres:127.0.0.1:0=$PGHOST:$PGPORT" \
    >"$work/reel.out" 2>"$work/reel.err" &
reel_pid=$!
deadline=$((SECONDS + 15))
until [[ -z $(tail -c 1 "$work/reel.err") ]] && grep -q '^reel: listening' "$work/reel.err"; do
    kill -0 "$reel_pid" 2>/dev/null || die "reel exited: $(cat "$work/reel.err")"
    ((SECONDS < deadline)) || die "reel did not start in 15 s"
    sleep 0.1
done
port=$(grep -o 'dep:db=[0-9.:]*' "$work/reel.err" | sed 's/.*://')

sample() {
    local rss rows bytes
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$reel_pid/status" 2>/dev/null || echo 0)
    rows=$(sqlite3 -readonly "$store" 'select coalesce(max(id), 0) from exchanges' 2>/dev/null || echo 0)
    bytes=$(($(stat -c %s "$store") + $(stat -c %s "$store-wal" 2>/dev/null || echo 0)))
    echo "$((SECONDS - load_start)) $rows $rss $bytes"
}
load_start=$SECONDS
samples=$work/samples
: >"$samples"
(while kill -0 "$reel_pid" 2>/dev/null; do
    sample >>"$samples"
    sleep "$SAMPLE_S"
done) &
sampler_pid=$!

per_client=$(((TRANSACTIONS + CLIENTS - 1) / CLIENTS))
throttle=()
((RATE > 0)) && throttle=(-R "$RATE")
echo "pg-soak: pgbench -S -M prepared, $CLIENTS clients x $per_client transactions, RATE=$RATE" >&2
pgbench -n -S -M prepared -c "$CLIENTS" -j 2 -t "$per_client" "${throttle[@]}" \
    -h 127.0.0.1 -p "$port" "$DB" \
    >"$work/pgbench.out" 2>&1 || die "pgbench failed: $(tail -5 "$work/pgbench.out")"
load_end=$((SECONDS - load_start))
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=
sample >>"$samples"
sleep "$IDLE_S"
sample >>"$samples"

kill -INT "$reel_pid"
wait "$reel_pid" || true
reel_pid=
done_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench.out")
tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench.out" | head -1)
stored=$(sqlite3 "$store" 'select count(*) from exchanges')
executes=$(sqlite3 "$store" "select count(*) from exchanges where request_head like '%\"Execute\"%' and error is null")
dropped=$(sqlite3 "$store" 'select dropped from sessions')
bytes=$(stat -c %s "$store")

echo
echo "reel record Postgres soak, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
    "pgbench -S -M prepared, $CLIENTS connections x $per_client transactions, RATE=$RATE"
soak_table "$samples"
echo
echo "pgbench: $done_tx transactions, $tps tps; load took $load_end s"
soak_summary "$samples" "$load_end" "$IDLE_S"
awk -v n="$stored" -v b="$bytes" 'BEGIN {
    printf "store: %d exchanges in %.1f MiB: %.0f bytes per exchange\n", n, b / 1048576, b / n }'
echo "queries stored with their answer: $executes; dropped: $dropped"
if ((executes < done_tx || dropped > 0)); then
    echo "pg-soak: reel stored fewer queries than pgbench ran, or dropped some" >&2
    exit 1
fi
