#!/usr/bin/env bash
# Removing a large session while a recorder writes to the same store: does the
# recorder lose captures? A store is filled with one session of ROWS exchanges
# (recorded through `reel record`, then copied row by row in SQL up to ROWS).
# Then, twice, a fresh copy of it gets a live `reel record` under wrk load and,
# 2 s into the load, the large session is removed: once as one SQL DELETE (what
# `reel sessions rm` did before it deleted in batches), once by `reel sessions
# rm`. For each it reports how long the removal took and what the recorder
# stored and dropped.
#
# Usage: bench/prune-live.sh
#   ROWS=1000000     exchanges in the session that is removed
#   LOAD_S=40        seconds of load on the live recorder (must outlast the removal)
#   CONNECTIONS=4    wrk connections to the live recorder
#
# Exit status: 0 when it ran, 1 when `reel sessions rm` cost the live
# recorder captures, 2 when the bench itself broke.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=${ROWS:-1000000}
LOAD_S=${LOAD_S:-40}
CONNECTIONS=${CONNECTIONS:-4}

bench_name=prune-live
# shellcheck source=bench/record-setup.sh
source "$root/bench/record-setup.sh"

# --- a store with one large session -------------------------------------------------

echo "$bench_name: recording a session to copy up to $ROWS exchanges" >&2
start_reel "$reel_bin"
wrk -t1 -c32 -d5s "http://$reel_addr/data.json" >"$tmp/fill.txt" || die "wrk failed: $(cat "$tmp/fill.txt")"
stop_reel fill
recorded=$(sqlite3 "$store" 'select count(*) from exchanges')
copies=$(((ROWS + recorded - 1) / recorded - 1))
sqlite3 "$store" "
    INSERT INTO exchanges (session_id, seq, direction, protocol, dependency, connection,
        started_at, first_byte_at, ended_at, request_head, request_body, request_size,
        request_truncated, response_head, response_body, response_size, response_truncated, error)
    SELECT session_id, seq + k.n * $recorded, direction, protocol, dependency, connection,
        started_at, first_byte_at, ended_at, request_head, request_body, request_size,
        request_truncated, response_head, response_body, response_size, response_truncated, error
    FROM exchanges,
        (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < $copies)
         SELECT n FROM c) AS k
    WHERE $copies > 0;" || die "could not copy the exchanges"
big=$(sqlite3 "$store" 'select count(*) from exchanges')
mv "$store" "$tmp/template.db"
echo "$bench_name: the session to remove holds $big exchanges" \
    "($(($(stat -c %s "$tmp/template.db") / 1048576)) MiB)" >&2

# --- remove it under a live recorder ----------------------------------------------------

# Runs one removal (the command after the mode) while a recorder writes to
# the store; appends "mode seconds completed stored dropped" to $tmp/results.
removal_under_load() {
    local mode=$1
    shift
    local live=$tmp/live.db start secs
    rm -f "$live" "$live-wal" "$live-shm"
    cp "$tmp/template.db" "$live"
    : >"$tmp/live.err"
    "$reel_bin" record --upstream "http://127.0.0.1:$upstream_port" --listen 127.0.0.1:0 \
        --session live --store "$live" >"$tmp/live.out" 2>"$tmp/live.err" &
    reel_pid=$!
    reel_addr=$(wait_addr reel "$reel_pid" "$tmp/live.err" 's/^reel: listening inbound=\([^ ]*\).*/\1/p')
    wait_http "http://$reel_addr/data.json" "reel" "$reel_pid" "$tmp/live.err"
    wrk -t1 -c"$CONNECTIONS" -d"${LOAD_S}s" "http://$reel_addr/data.json" >"$tmp/wrk-$mode.txt" &
    local wrk_pid=$!
    sleep 2
    start=$EPOCHREALTIME
    "$@" "$live" >"$tmp/rm-$mode.out" 2>&1 || die "$mode failed: $(cat "$tmp/rm-$mode.out")"
    secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    wait "$wrk_pid" || die "wrk failed: $(cat "$tmp/wrk-$mode.txt")"
    stop_process "$reel_pid" INT
    wait "$reel_pid" || true
    reel_pid=
    local completed stored dropped
    completed=$(awk '/ requests in / { print $1 }' "$tmp/wrk-$mode.txt")
    stored=$(sqlite3 "$live" "select count(*) from exchanges e join sessions s on s.id = e.session_id where s.name = 'live'")
    dropped=$(awk '$1 == "dropped" { print $2 }' "$tmp/live.out")
    [[ -n $dropped ]] || die "no summary from reel: $(cat "$tmp/live.out" "$tmp/live.err")"
    echo "$mode $secs $completed $stored $dropped" >>"$tmp/results"
}

one_delete() {
    sqlite3 "$1" 'PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; DELETE FROM sessions WHERE id = 1;'
}
reel_rm() {
    "$reel_bin" sessions rm 1 --store "$1"
}

: >"$tmp/results"
removal_under_load one-delete one_delete
removal_under_load "reel-rm" reel_rm

echo
echo "removing a $big-exchange session while reel records into the same store," \
    "$(date -u +%Y-%m-%dT%H:%MZ), wrk -t1 -c$CONNECTIONS -d${LOAD_S}s through the recorder"
printf '%-12s %10s %10s %10s %8s\n' removal seconds completed stored dropped
while read -r mode secs completed stored dropped; do
    printf '%-12s %10s %10s %10s %8s\n' "$mode" "$secs" "$completed" "$stored" "$dropped"
done <"$tmp/results"

rm_dropped=$(awk '$1 == "reel-rm" { print $5 }' "$tmp/results")
if ((rm_dropped > 0)); then
    echo "FAIL: reel sessions rm cost the live recorder $rm_dropped captures" >&2
    exit 1
fi
