#!/usr/bin/env bash
# Measures what recording Redis costs: `redis-benchmark -t get,set -P 16`
# directly against the server, through a bare relay that copies bytes and
# records nothing (proxy/examples/bare_relay.rs: the floor any proxy pays
# here), and through `reel record --dep cache=redis:...`; then checks that
# reel stored every command it sent.
#
# Usage: bench/redis-record.sh
#   REQUESTS=200000   requests per test (-n), so 2 x REQUESTS commands
#   CLIENTS=50        redis-benchmark connections (-c)
#   REDIS=127.0.0.1:6379   the real server
#   REEL=path         a reel binary to measure instead of building one
#
# Exit status: 0 when the measurement ran (the 60 % target is reported, not
# enforced); 1 when reel stored fewer commands than redis-benchmark sent or
# dropped captures; 2 when the bench itself broke.
set -euo pipefail
export LC_ALL=C

REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
REDIS=${REDIS:-127.0.0.1:6379}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() {
    echo "redis-record: $*" >&2
    exit 2
}
command -v redis-benchmark >/dev/null || die "redis-benchmark not found (Debian: redis-tools)"
command -v sqlite3 >/dev/null || die "sqlite3 not found (apt-get install sqlite3)"

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
reel_binary
relay_binary

# "SET: 123456.79 requests per second, p50=..." (one line per test with -q).
rps() { tr '\r' '\n' | sed -n "s/^$1: \([0-9.]*\) requests per second.*/\1/p" | tail -1; }

run_bench() { # host port label
    redis-benchmark -h "$1" -p "$2" -q -t set,get -P 16 -c "$CLIENTS" -n "$REQUESTS" \
        >"$work/$3.out" 2>&1 || die "redis-benchmark ($3) failed: $(tail -3 "$work/$3.out")"
}

echo "redis-benchmark -t set,get -P 16, $CLIENTS clients, $REQUESTS requests each"
run_bench "${REDIS%:*}" "${REDIS##*:}" direct
dset=$(rps SET <"$work/direct.out")
dget=$(rps GET <"$work/direct.out")
[[ -n $dset && -n $dget ]] || die "direct run printed no rates: $(cat "$work/direct.out")"
echo "  direct            SET $dset/s  GET $dget/s"

start_relay "$REDIS"
run_bench 127.0.0.1 "$relay_port" relay
bset=$(rps SET <"$work/relay.out")
bget=$(rps GET <"$work/relay.out")
stop_relay
echo "  bare relay        SET $bset/s ($(ratio "$bset" "$dset") of direct)  GET $bget/s ($(ratio "$bget" "$dget") of direct)"

start_reel redis-benchmark cache "cache=redis:127.0.0.1:0=$REDIS"

run_bench 127.0.0.1 "$port" recorded
rset=$(rps SET <"$work/recorded.out")
rget=$(rps GET <"$work/recorded.out")
[[ -n $rset && -n $rget ]] || die "run through reel printed no rates: $(cat "$work/recorded.out")"
stop_reel

stored=$(sqlite3 "$work/reel.db" "select count(*) from exchanges where protocol = 'redis' \
    and response_head is not null and error is null \
    and (request_head like '%\"SET\"%' or request_head like '%\"GET\"%')")
dropped=$(sqlite3 "$work/reel.db" "select dropped from sessions")
sent=$((2 * REQUESTS))
echo "  through reel      SET $rset/s ($(ratio "$rset" "$dset") of direct)  GET $rget/s ($(ratio "$rget" "$dget") of direct; target 0.60)"
echo "                    $(ratio "$rset" "$bset") / $(ratio "$rget" "$bget") of the bare relay"
echo "  commands          $sent sent, $stored answered SET/GET stored, $dropped dropped"
if ((stored < sent || dropped > 0)); then
    echo "redis-record: reel stored fewer commands than redis-benchmark sent" >&2
    exit 1
fi
