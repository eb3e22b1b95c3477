#!/usr/bin/env bash
# Compares two reel builds on the recording path, alternating them so that
# both see the same machine: for each round, wrk runs against nginx as a plain
# reverse proxy (the reference) and then through `BIN record`, for each binary
# in turn. Reports req/s, p50 and p99 for both ways, the ratio to the
# reference, and the CPU reel spent per request, which moves much less than
# req/s with the machine's other load: compare builds by that column first.
#
# Usage: bench/record-ab.sh BIN_A BIN_B [ROUNDS]
#   BIN_A, BIN_B     reel binaries, e.g. a copy of target/release/reel built
#                    from main and one from your change
#   ROUNDS=4         how many times each binary is measured
#   DURATION=8s      how long each wrk run lasts
#   CONNECTIONS=32   concurrent connections wrk keeps open
#
# Exit status: 0 when the comparison ran, 2 when it broke.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=record-ab
DURATION=${DURATION:-8s}
(($# >= 2)) || { sed -n '9,14p' "$0" >&2; exit 2; }
bins=("$1" "$2")
rounds=${3:-4}
for b in "${bins[@]}"; do
    [[ -x $b ]] || { echo "$bench_name: $b is not an executable" >&2; exit 2; }
done
# shellcheck source=bench/record-setup.sh
source "$root/bench/record-setup.sh"

echo "reel A/B, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t1 -c$CONNECTIONS -d$DURATION, 1 KiB JSON from nginx"
echo "A: ${bins[0]}"
echo "B: ${bins[1]}"
printf '%-5s %-3s %10s %9s | %9s %8s %8s | %6s %8s %8s\n' round bin "nginx r/s" "nginx p99" "reel r/s" "p50 ms" "p99 ms" ratio "p99 x" "us/req"
results=$tmp/results
: >"$results"
for ((round = 1; round <= rounds; round++)); do
    for i in 0 1; do
        name=$([[ $i == 0 ]] && echo A || echo B)
        start_reel "${bins[$i]}"
        measure "http://127.0.0.1:$nginx_proxy_port/data.json"
        out=$measured
        read -r n_rps _ n_p99 _ <<<"$out"
        cpu_before=$(proc_cpu "$reel_pid")
        measure "http://$reel_addr/data.json"
        out=$measured
        read -r r_rps r_p50 r_p99 r_done <<<"$out"
        cpu_after=$(proc_cpu "$reel_pid")
        stop_reel "${bins[$i]}"
        line=$(awk -v n="$n_rps" -v np="$n_p99" -v r="$r_rps" -v p50="$r_p50" -v p99="$r_p99" \
            -v c0="$cpu_before" -v c1="$cpu_after" -v done="$r_done" 'BEGIN {
            printf "%10.0f %9.3f | %9.0f %8.3f %8.3f | %6.2f %8.2f %8.1f",
                n, np, r, p50, p99, r / n, p99 / np, (c1 - c0) * 1e6 / done }')
        printf '%-5s %-3s %s\n' "$round" "$name" "$line"
        echo "$name $line" >>"$results"
    done
done

echo
echo "median per binary (ratio = reel / nginx-proxy req/s, p99 x = reel / nginx-proxy p99):"
for name in A B; do
    print_medians "$results" "$name" 9 10 11
done
