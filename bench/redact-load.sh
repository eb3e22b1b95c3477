#!/usr/bin/env bash
# Measures what `reel record --redact` costs other requests while large,
# secret-laden JSON bodies go through: wrk sends small GETs through reel
# (8 connections) while a curl loop posts an 860 KB JSON body holding 16,000
# secret-named fields, back to back. Four runs: without and with --redact,
# each without and with the large bodies. Reports the small GETs' req/s, p50
# and p99, and how many large bodies went through.
#
# Usage: bench/redact-load.sh
#   DURATION=6s      how long each wrk run lasts
#   CONNECTIONS=8    concurrent wrk connections
#
# Exit status: 0 when the measurement ran, 2 when it broke.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=redact-load
DURATION=${DURATION:-6s}
CONNECTIONS=${CONNECTIONS:-8}
# shellcheck source=bench/record-setup.sh
source "$root/bench/record-setup.sh"

python3 - "$tmp/big.json" <<'PY'
import json, sys
items = [{"id": i, "name": "item %d" % i, "token": "t%d" % i} for i in range(16000)]
json.dump({"user": "qa", "password": "hunter22", "items": items}, open(sys.argv[1], "w"))
PY
big_bytes=$(stat -c %s "$tmp/big.json")

echo "reel record --redact under large bodies, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t1 -c$CONNECTIONS -d$DURATION"
echo "large body: $big_bytes bytes of JSON, 16,000 secret-named fields, posted back to back"
printf '%-10s %-12s %10s %8s %8s %12s\n' flags "large bodies" "GET req/s" "p50 ms" "p99 ms" "large posted"
for flags in "" --redact; do
    for load in none back-to-back; do
        # shellcheck disable=SC2086 # an empty $flags passes no argument
        start_reel "$reel_bin" $flags
        poster=
        if [[ $load != none ]]; then
            # Posts until told to stop, then prints how many went through.
            (
                n=0 stop=
                trap 'stop=1' TERM
                while [[ -z $stop ]]; do
                    curl -fsS -o /dev/null -H 'content-type: application/json' \
                        --data-binary @"$tmp/big.json" "http://$reel_addr/data.json" 2>/dev/null || true
                    n=$((n + 1))
                done
                echo "$n" >"$tmp/posted"
            ) &
            poster=$!
        fi
        measure "http://$reel_addr/data.json"
        read -r rps p50 p99 _ <<<"$measured"
        posted=-
        if [[ -n $poster ]]; then
            kill -TERM "$poster"
            wait "$poster" || true
            posted=$(cat "$tmp/posted")
        fi
        stop_reel
        printf '%-10s %-12s %10.0f %8.3f %8.3f %12s\n' "${flags:--}" "$load" "$rps" "$p50" "$p99" "$posted"
    done
done
