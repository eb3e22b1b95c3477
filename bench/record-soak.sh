#!/usr/bin/env bash
# Soak: does `reel record` keep its memory flat over a long recording? wrk
# sends REQUESTS small JSON API reads (varied targets, a request id header,
# every CLOSE_EVERY-th on a new connection) through `reel record` in front of
# nginx serving a 1 KiB JSON file, at RATE requests/s. Every SAMPLE_S seconds
# it samples reel's RSS, the exchanges stored so far and the store's size,
# prints the samples as a table and sums them up: RSS at the start, peak and
# end, and its slope per 100,000 requests (over the whole load and over its
# second half, where a leak shows as a slope that does not fall to zero).
# Then it stops reel with SIGINT and reports the store's bytes per exchange,
# and how long `reel sessions rm` and `reel sessions vacuum` take on it.
#
# Usage: bench/record-soak.sh
#   REQUESTS=1000000  responses to wait for
#   RATE=5000         requests per second (0: as fast as reel goes)
#   CONNECTIONS=32    connections wrk keeps open
#   CLOSE_EVERY=100   every Nth request closes its connection (0: never)
#   SAMPLE_S=10       seconds between samples
#   IDLE_S=20         seconds to watch reel idle after the load
#   REEL_FLAGS=...    more `reel record` flags, e.g. "--sample 0.1"
#   KEEP_STORE=PATH   keep a copy of the recorded store there
#
# Exit status: 0 when it ran (the figures are reported, not judged); 1 when
# reel stored fewer exchanges than wrk got answers for or dropped captures;
# 2 when the bench itself broke.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQUESTS=${REQUESTS:-1000000}
RATE=${RATE:-5000}
CLOSE_EVERY=${CLOSE_EVERY:-100}
SAMPLE_S=${SAMPLE_S:-10}
IDLE_S=${IDLE_S:-20}
read -r -a reel_flags <<<"${REEL_FLAGS:-}"

bench_name=record-soak
# shellcheck source=bench/record-setup.sh
source "$root/bench/record-setup.sh"
# shellcheck source=bench/soak-summary.sh
source "$root/bench/soak-summary.sh"

wrk_pid=
sampler_pid=
# record-setup.sh's cleanup stops reel and nginx; the load and the sampler go first.
trap 'for p in $wrk_pid $sampler_pid; do kill "$p" 2>/dev/null || true; done; cleanup' EXIT

start_reel "$reel_bin" "${reel_flags[@]}"

# --- sampling ---------------------------------------------------------------------

# One line: seconds since the load began, exchanges stored, reel's RSS in KiB,
# the store's bytes (file and WAL).
sample() {
    local rss rows bytes
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$reel_pid/status" 2>/dev/null || echo 0)
    rows=$(sqlite3 -readonly "$store" 'select coalesce(max(id), 0) from exchanges' 2>/dev/null || echo -1)
    bytes=$(($(stat -c %s "$store") + $(stat -c %s "$store-wal" 2>/dev/null || echo 0)))
    echo "$((SECONDS - load_start)) $rows $rss $bytes"
}

load_start=$SECONDS
samples=$tmp/samples
: >"$samples"
sampler() {
    while kill -0 "$reel_pid" 2>/dev/null; do
        sample >>"$samples"
        sleep "$SAMPLE_S"
    done
}

delay_ms=0
((RATE > 0)) && delay_ms=$(((CONNECTIONS * 1000 + RATE / 2) / RATE))
((RATE > 0 && delay_ms == 0)) && delay_ms=1
echo "$bench_name: $REQUESTS requests, $CONNECTIONS connections," \
    "${delay_ms} ms between a connection's requests (RATE=$RATE)," \
    "a new connection every ${CLOSE_EVERY} requests" >&2

sampler &
sampler_pid=$!
SOAK_REQUESTS=$REQUESTS SOAK_DELAY_MS=$delay_ms SOAK_CLOSE_EVERY=$CLOSE_EVERY \
    SOAK_DONE_FILE=$tmp/wrk.done \
    wrk -t1 -c"$CONNECTIONS" -d24h --latency -s "$root/bench/record-soak.lua" \
    "http://$reel_addr/" >"$tmp/wrk.txt" &
wrk_pid=$!
# The script stops sending at REQUESTS answers, but wrk only reports (and
# exits) at the end of -d or on SIGINT.
while [[ ! -e $tmp/wrk.done ]] && kill -0 "$wrk_pid" 2>/dev/null; do
    sleep 0.2
done
kill -INT "$wrk_pid" 2>/dev/null || true
wait "$wrk_pid" || die "wrk failed: $(cat "$tmp/wrk.txt")"
load_end=$((SECONDS - load_start))
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sample >>"$samples"
# Idle with every connection closed: what reel gives back.
sleep "$IDLE_S"
sample >"$tmp/idle"
cat "$tmp/idle" >>"$samples"

completed=$(awk '/ requests in / { print $1 }' "$tmp/wrk.txt")
wrk_errors=$(awk '/Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { e += $NF } END { print e + 0 }' "$tmp/wrk.txt")
rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.txt")
p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.txt")
[[ -n $completed ]] || die "could not parse wrk output: $(cat "$tmp/wrk.txt")"

# --- stop reel and read the store -----------------------------------------------------

stop_reel
stored=$(sqlite3 "$store" 'select count(*) from exchanges')
read -r heads bodies < <(sqlite3 -separator ' ' "$store" \
    'select sum(length(request_head) + coalesce(length(response_head), 0)),
            sum(length(request_body) + coalesce(length(response_body), 0)) from exchanges')
store_bytes=$(stat -c %s "$store")
[[ ! -e $store-wal ]] || store_bytes=$((store_bytes + $(stat -c %s "$store-wal")))
[[ -z ${KEEP_STORE:-} ]] || cp "$store" "$KEEP_STORE" || die "cannot copy the store to $KEEP_STORE"

# --- report ----------------------------------------------------------------------------

echo
echo "reel record soak, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t1 -c$CONNECTIONS," \
    "$REQUESTS requests at RATE=$RATE, new connection every $CLOSE_EVERY," \
    "1 KiB JSON from nginx${REEL_FLAGS:+, reel flags: $REEL_FLAGS}"
soak_table "$samples"
echo
echo "wrk: $completed responses, $rps req/s, p99 $p99, $wrk_errors errors; load took ${load_end} s"
soak_summary "$samples" "$load_end" "$IDLE_S"
awk -v n="$stored" -v b="$store_bytes" -v h="$heads" -v d="$bodies" 'BEGIN {
    printf "store: %d exchanges in %.1f MiB: %.0f bytes per exchange (heads %.0f, bodies %.0f, SQLite and index %.0f)\n",
        n, b / 1048576, b / n, h / n, d / n, (b - h - d) / n }'

# --- rm and vacuum on the soaked store -------------------------------------------------------

time_cmd() {
    local start=$EPOCHREALTIME
    "$@" >"$tmp/cmd.out" 2>&1 || die "$* failed: $(cat "$tmp/cmd.out")"
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}
if "$reel_bin" sessions vacuum --help >/dev/null 2>&1; then
    rm_s=$(time_cmd "$reel_bin" sessions rm bench --store "$store")
    after_rm=$(stat -c %s "$store")
    free_pages=$(sqlite3 "$store" 'pragma freelist_count')
    page_size=$(sqlite3 "$store" 'pragma page_size')
    vacuum_s=$(time_cmd "$reel_bin" sessions vacuum --store "$store")
    mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
    echo "sessions rm: ${rm_s} s; file $(mib "$after_rm") with" \
        "$(mib $((free_pages * page_size))) free for reuse;" \
        "sessions vacuum: ${vacuum_s} s, file now $(mib "$(stat -c %s "$store")")"
fi

if ((stored < completed)); then
    echo "FAIL: reel stored $stored exchanges, wrk got $completed answers" >&2
    exit 1
fi
