# Sourced by the recording benchmarks (record-throughput.sh, record-ab.sh,
# record-bound.sh, redact-load.sh, record-soak.sh, prune-live.sh), which set
# `bench_name` and `root` first. It installs what is missing, builds
# reel, makes a scratch directory that is removed on exit, and starts one nginx
# (one worker) serving a 1 KiB JSON file on $upstream_port and proxying it,
# recording nothing, on $nginx_proxy_port. It defines `start_reel BIN [FLAG...]`
# (starts `BIN record FLAG...` in front of the upstream with a fresh store;
# sets reel_pid, reel_addr and store), `stop_reel`, `wait_addr`,
# `proc_cpu PID`, `to_ms LATENCY`, `measure URL` and `print_medians`.

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
# How long nginx and reel get to come up or go down.
READY_DEADLINE_S=15
STOP_DEADLINE_S=30

die() {
    echo "$bench_name: $*" >&2
    exit 2
}

# --- tools ------------------------------------------------------------------

need_pkgs=()
command -v wrk >/dev/null || need_pkgs+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_pkgs+=(nginx-light)
command -v sqlite3 >/dev/null || need_pkgs+=(sqlite3)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v python3 >/dev/null || need_pkgs+=(python3)
[[ -z ${PERF:-} ]] || command -v perf >/dev/null || die "PERF is set but perf is not installed (apt-get install linux-perf)"
if ((${#need_pkgs[@]})); then
    sudo=()
    ((EUID == 0)) || sudo=(sudo)
    echo "record-throughput: installing ${need_pkgs[*]}" >&2
    { "${sudo[@]}" apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"; } >&2 ||
        die "could not install ${need_pkgs[*]}"
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

# cmake and a C compiler, which building pingora needs.
"$root/scripts/deps.sh" --build-only || die "could not install the build dependencies"
echo "building reel (cargo build --release -p reel)" >&2
(cd "$root" && cargo build --release -p reel) >&2 || die "cargo build failed"
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
reel_bin=$target_dir/release/reel
[[ -x $reel_bin ]] || die "no reel binary at $reel_bin"

# --- scratch space and cleanup -----------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/reel-bench.XXXXXX")
# nginx workers run as an unprivileged user when the bench runs as root.
chmod 755 "$tmp"
nginx_pid=
reel_pid=

# Stops PID with SIGNAL and waits up to STOP_DEADLINE_S for it to go, then kills it.
stop_process() {
    local pid=$1 signal=$2
    local deadline=$((SECONDS + STOP_DEADLINE_S))
    kill -"$signal" "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "$bench_name: pid $pid ignored SIG$signal for ${STOP_DEADLINE_S}s: killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.05
    done
}

cleanup() {
    local pid
    for pid in $reel_pid $nginx_pid; do
        stop_process "$pid" TERM
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Loopback ports the kernel considers free right now, all distinct.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Polls `curl URL` until it answers 200, for at most READY_DEADLINE_S; on
# failure shows the end of LOG.
wait_http() {
    local url=$1 what=$2 pid=$3 log=$4
    local deadline=$((SECONDS + READY_DEADLINE_S))
    until curl -fsS -o /dev/null "$url" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || die "$what exited while starting: $(tail -5 "$log")"
        ((SECONDS < deadline)) ||
            die "$what did not answer $url within ${READY_DEADLINE_S}s: $(tail -5 "$log")"
        sleep 0.05
    done
}

# --- upstream and reference proxy: one nginx -----------------------------------

read -r upstream_port nginx_proxy_port < <(free_ports 2)
mkdir -p "$tmp/www" "$tmp/nginx"
# Exactly 1 KiB of JSON.
python3 - "$tmp/www/data.json" <<'PY'
import json, sys
doc = {"id": 1, "name": "reel bench", "items": [], "pad": ""}
doc["pad"] = "x" * (1024 - len(json.dumps(doc, separators=(",", ":"))))
body = json.dumps(doc, separators=(",", ":"))
assert len(body) == 1024, len(body)
open(sys.argv[1], "w").write(body)
PY

cat >"$tmp/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    # Keep client connections open for the whole run, as wrk expects.
    keepalive_requests 10000000;

    upstream origin {
        server 127.0.0.1:$upstream_port;
        keepalive 32;
        keepalive_requests 10000000;
    }

    # The upstream: a static 1 KiB JSON file.
    server {
        listen 127.0.0.1:$upstream_port;
        root $tmp/www;
        default_type application/json;
    }

    # The reference: a plain reverse proxy that records nothing.
    server {
        listen 127.0.0.1:$nginx_proxy_port;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF

"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
    >"$tmp/nginx/stdout.log" 2>&1 &
nginx_pid=$!
wait_http "http://127.0.0.1:$upstream_port/data.json" "nginx (upstream)" "$nginx_pid" \
    "$tmp/nginx/error.log"
wait_http "http://127.0.0.1:$nginx_proxy_port/data.json" "nginx (proxy)" "$nginx_pid" \
    "$tmp/nginx/error.log"


# Prints the address process PID reports in LOG (the first match of the sed
# script SCRIPT), polling for at most READY_DEADLINE_S; dies naming WHAT if
# the process exits or the deadline passes first.
wait_addr() {
    local what=$1 pid=$2 log=$3 script=$4 addr deadline=$((SECONDS + READY_DEADLINE_S))
    while :; do
        addr=$(sed -n "$script" "$log")
        [[ -n $addr ]] && break
        kill -0 "$pid" 2>/dev/null || die "$what exited while starting: $(cat "$log")"
        ((SECONDS < deadline)) || die "$what did not report its address within ${READY_DEADLINE_S}s"
        sleep 0.05
    done
    echo "$addr"
}

# Starts `$1 record` with the flags after it in front of the upstream with a
# new store; sets reel_pid, reel_addr and store, and sends one request through
# it (recorded too).
start_reel() {
    local bin=$1
    shift
    store=$tmp/reel.db
    rm -f "$store" "$store-wal" "$store-shm"
    # Created first so the poll below never reads a file reel has yet to open.
    : >"$tmp/reel.err"
    "$bin" record --upstream "http://127.0.0.1:$upstream_port" --listen 127.0.0.1:0 \
        --session bench --store "$store" "$@" >"$tmp/reel.out" 2>"$tmp/reel.err" &
    reel_pid=$!
    reel_addr=$(wait_addr reel "$reel_pid" "$tmp/reel.err" 's/^reel: listening inbound=\([^ ]*\).*/\1/p')
    wait_http "http://$reel_addr/data.json" "reel" "$reel_pid" "$tmp/reel.err"
}

# Stops the reel started by start_reel with SIGINT, as a user would, and dies
# unless it exited cleanly having dropped nothing (naming it "reel $1"); then
# lets the kernel write the store back before anything else is measured.
stop_reel() {
    local what="reel${1:+ $1}" dropped
    stop_process "$reel_pid" INT
    wait "$reel_pid" || die "$what exited with an error: $(tail -3 "$tmp/reel.err")"
    reel_pid=
    dropped=$(awk '$1 == "dropped" { print $2 }' "$tmp/reel.out")
    [[ $dropped == 0 ]] || die "$what dropped $dropped captures"
    sync
}

clk_tck=$(getconf CLK_TCK)

# CPU seconds (user + system) of a process, all threads together.
proc_cpu() {
    # Field 2 is "(comm)"; drop it so field numbers do not depend on the name.
    sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$clk_tck" '{ printf "%.2f", ($12 + $13) / hz }'
}

# Milliseconds from a wrk latency such as 812.00us, 1.23ms, 2.00s or 1.50m.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        else if (u != "ms") { print "bad unit in " v > "/dev/stderr"; exit 1 }
        printf "%.3f", n
    }'
}

# Runs wrk against URL, keeping its output in OUT (default $tmp/wrk.txt), and
# sets `measured` to "req/s p50 p99 completed" (latencies in ms). Not meant
# for a command substitution: there a failure would end only the subshell.
measure() {
    local out=${2:-$tmp/wrk.txt} rps done p50 p99
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$1" >"$out" ||
        die "wrk failed against $1: $(cat "$out")"
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    done=$(awk '/ requests in / { print $1 }' "$out")
    [[ -n $rps && -n $done ]] || die "could not parse wrk output: $(cat "$out")"
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    measured="$rps $p50 $p99 $done"
}

# Prints the medians over the rows of FILE whose first field is KEY: the
# ratio to nginx-proxy, the p99 multiple and the CPU per request, found in
# fields RATIO, P99X and US.
print_medians() {
    awk -v key="$2" -v fr="$3" -v fp="$4" -v fu="$5" '$1 == key { ratio[++n] = $fr; p99x[n] = $fp; us[n] = $fu }
        function median(a, n,  i, j, t) {
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
        END { printf "  %-12s ratio %.2f, p99 x %.2f, %.1f us of CPU per request\n", key, median(ratio, n), median(p99x, n), median(us, n) }' "$1"
}
