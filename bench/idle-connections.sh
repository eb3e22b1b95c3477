#!/usr/bin/env bash
# What idle clients cost `reel record`: N connections held open to the
# inbound recorder in three ways (idle: nothing sent; partial: a head begun;
# keepalive: one request answered), each against a fresh recorder. Prints the
# recorder's RSS before, while held (and per connection), and 5 s after they
# all closed.
#
# Usage: bench/idle-connections.sh [N]     (N=3000)
#   REEL=PATH   measure this reel binary instead of building target/release/reel
# Exit status: 0 when the measurement ran, 2 when it broke.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${1:-3000}
die() {
    echo "idle-connections: $*" >&2
    exit 2
}
# Each held connection is one file here and two in reel.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(($(ulimit -n) > n + 64)) || die "ulimit -n is $(ulimit -n): too low for $n connections"

reel=${REEL:-}
if [[ -z $reel ]]; then
    "$root/scripts/deps.sh" --build-only >&2 || die "could not install the build dependencies"
    (cd "$root" && cargo build --release -p reel --bin reel) >&2 || die "cargo build failed"
    reel=$root/target/release/reel
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/reel-idle.XXXXXX")
upstream_pid=
reel_pid=
cleanup() {
    for pid in $reel_pid $upstream_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# A keep-alive HTTP/1.1 upstream answering `{"ok":true}` (11 bytes).
cat >"$tmp/upstream.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$tmp/upstream.py" >"$tmp/upstream.port" &
upstream_pid=$!
for _ in $(seq 100); do [[ -s $tmp/upstream.port ]] && break; sleep 0.05; done
upstream_port=$(cat "$tmp/upstream.port")
[[ -n $upstream_port ]] || die "the upstream did not start"

printf '%-10s %6s %9s %9s %8s %9s\n' mode conns "rss MiB" "held MiB" "KiB/conn" "after MiB"
for mode in idle partial keepalive; do
    rm -f "$tmp"/s.db*
    "$reel" record --store "$tmp/s.db" --upstream "http://127.0.0.1:$upstream_port" \
        --listen 127.0.0.1:0 --max-connections "$((n + 100))" >/dev/null 2>"$tmp/reel.log" &
    reel_pid=$!
    addr=
    for _ in $(seq 200); do
        addr=$(sed -n 's/^reel: listening inbound=\([^ ]*\).*/\1/p' "$tmp/reel.log")
        [[ -n $addr ]] && break
        sleep 0.05
    done
    [[ -n $addr ]] || die "reel did not start: $(cat "$tmp/reel.log")"
    python3 "$root/bench/idle_clients.py" "${addr%:*}" "${addr##*:}" "$n" "$mode" "$reel_pid" ||
        die "the client failed"
    kill -INT "$reel_pid"
    wait "$reel_pid" || true
    reel_pid=
done
