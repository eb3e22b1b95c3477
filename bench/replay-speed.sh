#!/usr/bin/env bash
# Replay speed: records a 1,000-case session of the demo app (a quarter of the
# cases call the pricing dependency), generates the suite, stops the pricing
# service and replays the suite against the app with reel's mock in its place.
# Reports cases per second (from the run's JSON report and from wall time,
# which includes starting the app) for three replays.
#
#   bench/replay-speed.sh            # CASES=1000 RUNS=3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${CASES:-1000}
RUNS=${RUNS:-3}

scripts/deps.sh --build-only
cargo build --release --quiet -p reel -p reel-fixtures
REEL=$PWD/target/release/reel
PRICING_BIN=$PWD/target/release/reel-demo-pricing

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL, seconds
    local deadline=$((SECONDS + $2))
    until curl -fsS -o /dev/null "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || { echo "timed out waiting for $1" >&2; exit 1; }
        sleep 0.05
    done
}

P=$(free_port); A=$(free_port); I=$(free_port); D=$(free_port)
"$PRICING_BIN" --listen "127.0.0.1:$P" >/dev/null 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$P/health" 20

REEL_LOG=warn "$REEL" record --upstream "http://127.0.0.1:$A" --listen "127.0.0.1:$I" \
    --dep "pricing=http:127.0.0.1:$D=http://127.0.0.1:$P" --session bench --store "$work/reel.db" \
    -- "$REEL" demo-app --listen "127.0.0.1:$A" --pricing-url "http://127.0.0.1:$D" \
    >"$work/record.out" 2>"$work/record.err" &
rec=$!
pids+=($rec)
wait_http "http://127.0.0.1:$I/health" 30

# Drive the session over one keep-alive connection.
python3 - "$I" "$CASES" <<'PY'
import http.client, json, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
def go(method, path, body=None):
    headers = {"content-type": "application/json"} if body is not None else {}
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse(); r.read(); return r.status
for i in range(n):
    k = i % 4
    if k == 0:
        go("GET", f"/books?page={i % 3 + 1}&per_page=2")
    elif k == 1:
        go("GET", f"/books/{i % 5 + 1}")
    elif k == 2:
        go("GET", f"/books/{i % 5 + 1}/quote?currency={['EUR','USD','GBP'][i % 3]}")
    else:
        go("GET", f"/books?q=rust&page=1&per_page={i % 7 + 1}")
PY
kill -INT "$rec"
wait "$rec" || true
grep -E "inbound|outbound|dropped" "$work/record.out"
kill "${pids[0]}"   # the real pricing service is gone from here on

"$REEL" generate bench --out "$work/suite" --store "$work/reel.db" | head -1

echo
printf "%-6s %8s %12s %14s %14s\n" run cases passed "cases/s" "cases/s(wall)"
for r in $(seq 1 "$RUNS"); do
    start=$(date +%s.%N)
    REEL_LOG=warn CI= "$REEL" test "$work/suite" --report "json=$work/run$r.json" >"$work/run$r.out" 2>&1 || true
    end=$(date +%s.%N)
    python3 - "$work/run$r.json" "$start" "$end" "$r" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
n = len(rep["cases"])
case_ms = sum(c["duration_ms"] for c in rep["cases"])
print(f"{sys.argv[4]:<6} {n:>8} {rep['passed']:>12} {n / (case_ms / 1000):>14.0f} {n / wall:>14.0f}")
mocked = [c["duration_ms"] for c in rep["cases"] if c["mocks_used"]]
plain = [c["duration_ms"] for c in rep["cases"] if not c["mocks_used"]]
def p(xs, q):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(q * len(xs)))]
if mocked and plain:
    print(f"       case latency p50/p99 ms: with a mocked call {p(mocked,.5):.2f}/{p(mocked,.99):.2f}, without {p(plain,.5):.2f}/{p(plain,.99):.2f}")
PY
done
