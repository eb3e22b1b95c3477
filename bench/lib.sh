# What the wire-protocol recording benches (pg-record.sh, redis-record.sh,
# mysql-record.sh) do the same way: find or build reel and the bare relay,
# start each on a free port and stop it, clean up on exit. Sourced after
# the script sets `root` and defines `die`.

work=$(mktemp -d)
reel_pid=""
relay_pid=""
bench_cleanup() {
    [[ -n $reel_pid ]] && kill -9 "$reel_pid" 2>/dev/null || true
    [[ -n $relay_pid ]] && kill -9 "$relay_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap bench_cleanup EXIT
# Under `set -e` a failing command ends the bench without a word: name it
# (-E: in functions too).
set -E
trap 'status=$?; echo "${0##*/}: line $LINENO: \`$BASH_COMMAND\` failed (status $status)" >&2' ERR

# Sets `reel`: $REEL when given, else a release build of this checkout.
reel_binary() {
    if [[ -n ${REEL:-} ]]; then
        reel=$REEL
    else
        cargo build --release -p reel --quiet || die "building reel failed"
        reel=$root/target/release/reel
    fi
}

# Whether FILE holds a whole line matching PATTERN. A program's stderr can
# be read between the writes of one line (Rust's is unbuffered, and
# `eprintln!` writes a line in pieces): a port read from half a line is
# cut short, or missing.
whole_line() { # file pattern
    grep -q "$2" "$1" 2>/dev/null && [[ -z $(tail -c 1 "$1") ]]
}

# Sets `relay`: proxy/examples/bare_relay.rs, built for release.
relay_binary() {
    cargo build --release -p reel-proxy --example bare_relay --quiet || die "building bare_relay failed"
    relay=$root/target/release/examples/bare_relay
}

# Starts the bare relay in front of TARGET; sets `relay_pid` and `relay_port`.
# It spreads connections over as many threads as reel's wire recorders do:
# one for every two cores, from 1 up to 4 (wire_threads in
# proxy/src/server.rs).
start_relay() { # target
    local threads
    threads=$(($(nproc) / 2))
    ((threads >= 1)) || threads=1
    ((threads <= 4)) || threads=4
    "$relay" 127.0.0.1:0 "$1" "$threads" 2>"$work/relay.err" &
    relay_pid=$!
    for _ in $(seq 150); do
        whole_line "$work/relay.err" '^listening' && break
        sleep 0.1
    done
    relay_port=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$work/relay.err")
    [[ -n $relay_port ]] || die "bare_relay did not start: $(cat "$work/relay.err")"
}

stop_relay() {
    kill "$relay_pid"
    wait "$relay_pid" 2>/dev/null || true
    relay_pid=""
}

# Starts `reel record` with no app and the dependency SPEC (named NAME)
# into $work/reel.db as SESSION; sets `reel_pid` and `port`.
start_reel() { # session name spec
    "$reel" record --upstream http://127.0.0.1:9 --listen 127.0.0.1:0 --session "$1" \
        --store "$work/reel.db" --dep "$3" >"$work/reel.out" 2>"$work/reel.err" &
    reel_pid=$!
    for _ in $(seq 150); do
        whole_line "$work/reel.err" '^reel: listening' && break
        sleep 0.1
    done
    port=$(grep -o "dep:$2=[0-9.:]*" "$work/reel.err" | sed 's/.*://' || true)
    [[ -n $port ]] || die "reel did not start: $(cat "$work/reel.err")"
}

# Stops reel as Ctrl-C does, so that it flushes the store.
stop_reel() {
    kill -INT "$reel_pid"
    wait "$reel_pid" || true
    reel_pid=""
}

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

# CPU time PID has used so far, user and system, all threads, in clock
# ticks (fields 14 and 15 of /proc/PID/stat; the name in field 2 has no
# spaces for reel and the relay).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The same for PID's threads named NAME (as /proc shows it, cut to 15
# characters: reel's store writer is `reel-store-writ`).
thread_ticks() { # pid name
    local t total=0
    for t in /proc/"$1"/task/*; do
        [[ $(cat "$t/comm" 2>/dev/null) == "$2" ]] || continue
        total=$((total + $(awk '{print $14 + $15}' "$t/stat")))
    done
    echo "$total"
}

# Microseconds of CPU per query: TICKS of CPU over QUERIES.
cpu_per_query() { # ticks queries
    python3 -c "print(f'{$1 * 1e6 / $(getconf CLK_TCK) / $2:.1f}')"
}

# The median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
