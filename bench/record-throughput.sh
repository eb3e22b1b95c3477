#!/usr/bin/env bash
# Measures what recording costs: wrk against a 1 KiB JSON file served by nginx,
# three ways in one run -- directly, through nginx as a plain reverse proxy
# (the reference: a proxy that records nothing), and through `reel record`.
# Then checks that reel stored every exchange wrk saw completed.
#
# Usage: bench/record-throughput.sh
#   DURATION=10s     how long each wrk run lasts
#   CONNECTIONS=32   concurrent connections wrk keeps open
#   PERF=FILE        also profile reel during its run (perf record -g) into FILE
#
# Exit status: 0 when the measurement ran (throughput and latency targets are
# reported, not enforced); 1 when reel stored fewer exchanges than wrk completed
# or dropped captures (a correctness failure); 2 when the bench itself broke.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_name=record-throughput
# shellcheck source=bench/record-setup.sh
source "$root/bench/record-setup.sh"

# --- reel ----------------------------------------------------------------------

start_reel "$reel_bin"
probes=1

# --- measurement ---------------------------------------------------------------------

# Sets `snap` to "wall machine wrk nginx reel": seconds of wall clock, of busy CPU
# on the whole machine, and of CPU used by wrk, nginx (all processes) and reel.
cpu_snapshot() {
    local wall machine wrk nginx=0 reel pid
    wall=$(date +%s.%N)
    machine=$(awk -v hz="$clk_tck" \
        '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat)
    # wrk has exited by now; its CPU shows in this shell's children times.
    times >"$tmp/times"
    wrk=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, k, /[ms]/)
        printf "%.2f", u[1] * 60 + u[2] + k[1] * 60 + k[2] }' "$tmp/times")
    for pid in "$nginx_pid" $(ps -o pid= --ppid "$nginx_pid"); do
        nginx=$(awk -v a="$nginx" -v b="$(proc_cpu "$pid")" 'BEGIN { printf "%.2f", a + b }')
    done
    reel=$(proc_cpu "$reel_pid")
    snap="$wall $machine $wrk $nginx $reel"
}

# CPU per thread name of a process, "name<TAB>seconds" lines.
thread_cpu() {
    local stat
    for stat in /proc/"$1"/task/*/stat; do
        sed 's/^[0-9]* (\(.*\)) /\1\t/' "$stat" 2>/dev/null |
            awk -F'\t' -v hz="$clk_tck" '{ split($2, f, " "); print $1 "\t" (f[12] + f[13]) / hz }'
    done | awk -F'\t' '{ t[$1] += $2 } END { for (n in t) print n "\t" t[n] }' | sort
}

declare -A rps p50 p99 completed errors cpu
ways=(direct nginx-proxy reel)
declare -A url=(
    [direct]="http://127.0.0.1:$upstream_port/data.json"
    [nginx-proxy]="http://127.0.0.1:$nginx_proxy_port/data.json"
    [reel]="http://$reel_addr/data.json"
)

for way in "${ways[@]}"; do
    echo "wrk -t1 -c$CONNECTIONS -d$DURATION --latency: $way" >&2
    out=$tmp/wrk-$way.txt
    [[ $way == reel ]] && thread_cpu "$reel_pid" >"$tmp/threads-before"
    cpu_snapshot
    before=$snap
    perf_pid=
    if [[ $way == reel && -n ${PERF:-} ]]; then
        perf record -g -F 999 -p "$reel_pid" -o "$PERF" >"$tmp/perf.log" 2>&1 &
        perf_pid=$!
    fi
    measure "${url[$way]}" "$out"
    read -r "rps[$way]" "p50[$way]" "p99[$way]" "completed[$way]" <<<"$measured"
    if [[ -n $perf_pid ]]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        # perf exits 130 after SIGINT; the profile is complete once it has gone.
        wait "$perf_pid" || true
        [[ -s $PERF ]] || die "perf wrote no profile: $(cat "$tmp/perf.log")"
    fi
    cpu_snapshot
    [[ $way == reel ]] && thread_cpu "$reel_pid" >"$tmp/threads-after"
    # "wall machine wrk nginx reel" -> percent of one core for the last four.
    cpu[$way]=$(awk -v a="$before" -v b="$snap" 'BEGIN {
        split(a, x, " "); split(b, y, " "); wall = y[1] - x[1]
        for (i = 2; i <= 5; i++) printf "%s%.0f", (i > 2 ? " " : ""), (y[i] - x[i]) / wall * 100
        printf " %.3f", wall }')
    errors[$way]=$(awk '/Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { e += $NF } END { print e + 0 }' "$out")
done

# --- stop reel and read what it stored -----------------------------------------------

# SIGINT is how a user stops a recording: reel drains, flushes and summarises.
stop_process "$reel_pid" INT
reel_rc=0
wait "$reel_pid" || reel_rc=$?
reel_pid=
summary_inbound=$(awk '$1 == "inbound" { print $2 }' "$tmp/reel.out")
dropped=$(awk '$1 == "dropped" { print $2 }' "$tmp/reel.out")
[[ -n $summary_inbound && -n $dropped ]] ||
    die "no summary from reel (exit $reel_rc): $(cat "$tmp/reel.out" "$tmp/reel.err")"
stored=$(sqlite3 "$store" 'select count(*) from exchanges')
expected=$((completed[reel] + probes))

# --- report -----------------------------------------------------------------------

echo
echo "reel record throughput, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
    "wrk -t1 -c$CONNECTIONS -d$DURATION, 1 KiB JSON from nginx"
printf '%-12s %10s %9s %9s %10s %7s\n' way req/s "p50 ms" "p99 ms" completed errors
for way in "${ways[@]}"; do
    printf '%-12s %10.0f %9.3f %9.3f %10d %7d\n' "$way" "${rps[$way]}" "${p50[$way]}" \
        "${p99[$way]}" "${completed[$way]}" "${errors[$way]}"
done
echo

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v c="$1" 'BEGIN { print (c ? "PASS" : "FAIL") }'; }
tput_ratio=$(ratio "${rps[reel]}" "${rps[nginx-proxy]}")
p99_ratio=$(ratio "${p99[reel]}" "${p99[nginx-proxy]}")
echo "nginx-proxy / direct throughput  $(ratio "${rps[nginx-proxy]}" "${rps[direct]}")"
echo "reel / direct throughput         $(ratio "${rps[reel]}" "${rps[direct]}")"
printf '%-32s %-6s %s\n' \
    "reel / nginx-proxy throughput" "$tput_ratio" \
    "$(verdict "$(awk -v r="${rps[reel]}" -v n="${rps[nginx-proxy]}" 'BEGIN { print r >= 0.8 * n }')") (target >= 0.80)" \
    "reel / nginx-proxy p99" "$p99_ratio" \
    "$(verdict "$(awk -v r="${p99[reel]}" -v n="${p99[nginx-proxy]}" 'BEGIN { print r <= 2 * n }')") (target <= 2.00)"
printf '%-32s %-6s %s\n' \
    "stored exchanges" "$stored" \
    "$(verdict $((stored >= expected))) (wrk completed ${completed[reel]} + $probes probe = $expected; summary inbound $summary_inbound)" \
    "dropped captures" "$dropped" "$(verdict $((dropped == 0))) (target 0; reel exit $reel_rc)"

# Where the CPU went: the machine is shared by wrk, nginx and the proxy under
# test, and by anything else running on it ("other": the noise in the figures).
echo
echo "CPU during each run, % of one core ($(nproc) cores = $(($(nproc) * 100))%):"
printf '%-12s %8s %6s %6s %6s %6s %14s\n' way machine wrk nginx reel other "server us/req"
for way in "${ways[@]}"; do
    read -r machine wrk nginx reel wall <<<"${cpu[$way]}"
    # CPU the serving side (nginx and reel, not wrk) spent per completed request.
    per_req=$(awk -v n="$nginx" -v r="$reel" -v w="$wall" -v c="${completed[$way]}" \
        'BEGIN { printf "%.0f", (n + r) / 100 * w / c * 1e6 }')
    printf '%-12s %7s%% %5s%% %5s%% %5s%% %5s%% %14s\n' "$way" "$machine" "$wrk" "$nginx" "$reel" \
        "$((machine - wrk - nginx - reel))" "$per_req"
done

echo
echo "reel CPU by thread during its run, % of one core:"
read -r _ _ _ _ wall <<<"${cpu[reel]}"
join -t $'\t' -a 2 -e 0 -o 0,1.2,2.2 "$tmp/threads-before" "$tmp/threads-after" |
    awk -F'\t' -v wall="$wall" '{ printf "  %-20s %5.0f%%\n", $1, ($3 - $2) / wall * 100 }'
echo

if ((stored < expected || dropped > 0)); then
    echo "FAIL: reel lost exchanges" >&2
    exit 1
fi
