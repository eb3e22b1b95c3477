#!/usr/bin/env bash
# Bounds what recording can reach on this machine: for each round, wrk runs
# against
#   nginx-proxy   nginx as a plain reverse proxy, in the same process as the
#                 upstream (the reference of record-throughput.sh),
#   nginx-own     the same proxy in an nginx process of its own, as reel is,
#   bare-pingora  pingora proxying exactly as reel runs it but recording
#                 nothing (proxy/examples/bare_proxy.rs), on reel's runtime,
#   bare-1thread  the same on a single worker thread,
#   reel          `reel record`.
# Whatever reel's recording costs, reel cannot beat the bare pingora rows:
# when they are below the target ratio, the target needs a cheaper pingora,
# not cheaper recording.
#
# Usage: bench/record-bound.sh [ROUNDS]
#   ROUNDS=3         how many times each way is measured
#   DURATION=8s      how long each wrk run lasts
#   CONNECTIONS=32   concurrent connections wrk keeps open
#
# Exit status: 0 when the measurement ran, 2 when it broke.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=record-bound
DURATION=${DURATION:-8s}
rounds=${1:-3}
# shellcheck source=bench/record-setup.sh
source "$root/bench/record-setup.sh"

echo "building proxy/examples/bare_proxy.rs" >&2
(cd "$root" && cargo build --release -p reel-proxy --example bare_proxy) >&2 ||
    die "cargo build of bare_proxy failed"
bare_bin=$target_dir/release/examples/bare_proxy
bare_pid=
own_pid=

# A second nginx, one worker, proxying to the same upstream from a process of
# its own.
read -r own_port < <(free_ports 1)
mkdir -p "$tmp/own"
sed -e "s|$tmp/nginx|$tmp/own|g" \
    -e '/# The upstream: a static/,/^    }$/d' \
    -e "s|listen 127.0.0.1:$nginx_proxy_port;|listen 127.0.0.1:$own_port;|" \
    "$tmp/nginx/nginx.conf" >"$tmp/own/nginx.conf"
"$nginx_bin" -p "$tmp/own" -c "$tmp/own/nginx.conf" -e "$tmp/own/error.log" \
    >"$tmp/own/stdout.log" 2>&1 &
own_pid=$!
wait_http "http://127.0.0.1:$own_port/data.json" "nginx (own process)" "$own_pid" \
    "$tmp/own/error.log"
# The master idles; the one worker, its child, does the proxying.
own_worker=$(pgrep -P "$own_pid" | head -1)
[[ -n $own_worker ]] || die "no worker process under nginx $own_pid"

stop_bare() {
    [[ -n $bare_pid ]] || return 0
    stop_process "$bare_pid" INT
    wait "$bare_pid" 2>/dev/null || true
    bare_pid=
}
trap 'stop_bare; [[ -z $own_pid ]] || stop_process "$own_pid" TERM; cleanup' EXIT

# Starts the bare proxy with THREADS workers (empty: tokio's default); sets
# bare_pid and bare_addr.
start_bare() {
    : >"$tmp/bare.err"
    # shellcheck disable=SC2086 # an empty $1 passes no argument
    "$bare_bin" 127.0.0.1:0 "127.0.0.1:$upstream_port" $1 2>"$tmp/bare.err" &
    bare_pid=$!
    bare_addr=$(wait_addr bare_proxy "$bare_pid" "$tmp/bare.err" 's/^listening //p')
    wait_http "http://$bare_addr/data.json" "bare_proxy" "$bare_pid" "$tmp/bare.err"
}

echo "recording bound, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t1 -c$CONNECTIONS -d$DURATION, 1 KiB JSON from nginx"
printf '%-5s %-12s %9s %8s %8s | %6s %6s %8s\n' round way "req/s" "p50 ms" "p99 ms" ratio "p99 x" "us/req"
results=$tmp/results
: >"$results"
# Prints one row; ratio and p99 x are against this round's nginx-proxy.
row() {
    local round=$1 way=$2 rps=$3 p50=$4 p99=$5 us=$6 line
    line=$(awk -v r="$rps" -v p50="$p50" -v p99="$p99" -v n="$n_rps" -v np="$n_p99" -v us="$us" 'BEGIN {
        printf "%9.0f %8.3f %8.3f | %6.2f %6.2f %8s", r, p50, p99, r / n, p99 / np, us }')
    printf '%-5s %-12s %s\n' "$round" "$way" "$line"
    echo "$way $line" >>"$results"
}
# Microseconds of PID's CPU per request between two proc_cpu readings.
per_request() {
    awk -v c0="$1" -v c1="$2" -v done="$3" 'BEGIN { printf "%.1f", (c1 - c0) * 1e6 / done }'
}

# Measures URL and prints WAY's row, with the CPU process PID spent per request.
measure_way() {
    local round=$1 way=$2 url=$3 pid=$4 c0 c1 rps p50 p99 done
    c0=$(proc_cpu "$pid")
    measure "$url"
    c1=$(proc_cpu "$pid")
    read -r rps p50 p99 done <<<"$measured"
    row "$round" "$way" "$rps" "$p50" "$p99" "$(per_request "$c0" "$c1" "$done")"
}

for ((round = 1; round <= rounds; round++)); do
    measure "http://127.0.0.1:$nginx_proxy_port/data.json"
    read -r n_rps n_p50 n_p99 _ <<<"$measured"
    row "$round" nginx-proxy "$n_rps" "$n_p50" "$n_p99" -

    measure_way "$round" nginx-own "http://127.0.0.1:$own_port/data.json" "$own_worker"

    for threads in "" 1; do
        start_bare "$threads"
        measure_way "$round" "$([[ -z $threads ]] && echo bare-pingora || echo bare-1thread)" \
            "http://$bare_addr/data.json" "$bare_pid"
        stop_bare
    done

    start_reel "$reel_bin"
    measure_way "$round" reel "http://$reel_addr/data.json" "$reel_pid"
    stop_reel
done

echo
echo "median per way (ratio = req/s / nginx-proxy's, p99 x = p99 / nginx-proxy's; targets for reel: ratio >= 0.80, p99 x <= 2.00):"
for way in nginx-own bare-pingora bare-1thread reel; do
    print_medians "$results" "$way" 6 7 8
done
