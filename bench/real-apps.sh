#!/usr/bin/env bash
# The yardstick of issues 11 and 18: real apps driven by real API test
# runners, recorded through reel, generated with --verify and replayed RUNS
# times with the database gone, printing one `N passed, N failed` line per run.
#
# Usage: bench/real-apps.sh [APP] [RUNS]
#   APP   conduit             Conduit (asyncpg pool of 10) under its Postman collection (newman)
#         conduit-psycopg     the same app on psycopg_pool, same collection
#         conduit-concurrent  the asyncpg app under 5 users at once (httpx)
#         httpbin             httpbin under gunicorn, driven by Schemathesis from /spec.json
#         kinto               Kinto (memory backend, Basic auth), driven by Schemathesis from /v1/__api__
#         all                 each of the above (the default)
#   RUNS  replays of each generated suite (default 5; issue 11's check is 20)
#
#   REEL=path          the reel binary (default: target/debug/reel of this tree)
#   PG=127.0.0.1:5432  the real Postgres server (user postgres, trust auth)
#   VERIFY=2           `generate --verify` runs
#   USERS=5            users of conduit-concurrent
#   EXAMPLES=5         Schemathesis --max-examples per operation (5: ~490 requests)
#   KINTO_EXAMPLES=1   the same for Kinto (1: ~1430 requests)
#   KINTO_PHASES=      Schemathesis --phases for Kinto (default: all; its CI test: fuzzing)
#   SEED=42            Schemathesis --seed
#   RECORD_FLAGS=      more `reel record` flags, e.g. --redact
#
# For the Conduit apps each run gets its own database, migrated before the
# app starts and dropped before the replays: the suite's app reaches only
# reel's mock (REEL_DEP_DB). `generate --verify` replays against the real
# database, reset before each app start through `--app` (reel has no reset
# hook). Then the live check: the suite once more against a fresh database
# whose id sequences start at 100 (users), 200 (articles), 300 (comments)
# and 400 (tags), the app pointed at it by `reel test --app`, so an id that
# the suite took for a reference by coincidence shows. Between the two, the
# suite replays against the app with a renamed field and with a changed
# ORDER BY (CONDUIT_REGRESSION): each must exit 1, naming the cases it fails.
#
# Artefacts (store, suite, every log and JSON report) stay in the folder
# printed first. Exit status: 0 every replay of every app passed; 1 any did
# not; 2 the harness itself broke (a runner failed while recording, ...).
set -uo pipefail
export LC_ALL=C

APP=${1:-all}
RUNS=${2:-5}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fixtures=$root/fixtures/real-apps
py=$fixtures/.venv/bin/python
REEL=${REEL:-$root/target/debug/reel}
PG=${PG:-127.0.0.1:5432}
VERIFY=${VERIFY:-2}
USERS=${USERS:-5}
EXAMPLES=${EXAMPLES:-5}
KINTO_EXAMPLES=${KINTO_EXAMPLES:-1}
SEED=${SEED:-42}

die() {
    echo "real-apps: $*" >&2
    exit 2
}
[[ -x $REEL ]] || die "$REEL not found: cargo build --workspace --bins (or set REEL)"
[[ -x $py && -x $fixtures/node_modules/.bin/newman ]] ||
    die "the fixtures' Python and npm packages are missing: scripts/deps.sh"
case $APP in
conduit | conduit-psycopg | conduit-concurrent | httpbin | kinto) apps=("$APP") ;;
all) apps=(conduit conduit-psycopg conduit-concurrent httpbin kinto) ;;
*) die "unknown app '$APP' (conduit, conduit-psycopg, conduit-concurrent, httpbin, kinto, all)" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/reel-real-apps.XXXXXX")
echo "real-apps: reel $REEL; artefacts in $work"

# Whatever is still running or still exists when the script ends.
pids=()
apps_started=() # started by the script itself: SIGTERM (a background job ignores SIGINT)
dbs=()
cleanup() {
    for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
    for p in "${apps_started[@]}"; do kill "$p" 2>/dev/null; done
    for d in "${dbs[@]}"; do drop_db "$d"; done
}
trap cleanup EXIT

psql_admin() { psql -X -q -h "${PG%:*}" -p "${PG##*:}" -U postgres -d postgres "$@"; }
create_db() { psql_admin -c "CREATE DATABASE $1" >/dev/null && dbs+=("$1"); }
drop_db() { psql_admin -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1; }
db_url() { echo "postgres://postgres@${2:-$PG}/$1?sslmode=disable"; }

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for WHAT SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
    local what=$1 secs=$2
    shift 2
    local end=$((SECONDS + secs))
    until "$@"; do
        ((SECONDS < end)) || {
            echo "real-apps: timed out after ${secs}s waiting for $what" >&2
            return 1
        }
        sleep 0.1
    done
}

counts() { grep -Eo '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1; }

# The app's command, as `reel record` runs it (by sh) and the suite keeps it.
# conduit_cmd DRIVER PORT [DB_URL]: without DB_URL the database is reached
# through reel ($REEL_DEP_DB: the recorder, or the mock at replay).
conduit_cmd() {
    local driver=$1 port=$2 url=${3:-"postgres://postgres@\$REEL_DEP_DB/$db?sslmode=disable"}
    echo "DATABASE_URL=\"$url\" exec $py $fixtures/conduit/app.py serve --driver $driver --port $port"
}
migrate() { # DB [OFFSETS]
    DATABASE_URL=$(db_url "$1") "$py" "$fixtures/conduit/app.py" migrate --id-offsets "${2:-}"
}

# Records APP_CMD on $port through reel while runner() drives it at $api.
record() { # NAME APP_CMD [DEP ARGS...]
    local name=$1 cmd=$2
    shift 2
    REEL_STORE=$dir/reel.db "$REEL" record --upstream "http://127.0.0.1:$port" \
        --listen 127.0.0.1:0 --session "$name" ${RECORD_FLAGS:-} "$@" -- sh -c "$cmd" \
        >"$dir/record.out" 2>"$dir/record.log" &
    local rec=$!
    pids+=("$rec")
    wait_for "reel's listening line" 30 grep -qs '^reel: listening' "$dir/record.log" || return 2
    local inbound
    inbound=$(sed -n 's/^reel: listening inbound=\([^ ]*\).*/\1/p' "$dir/record.log")
    wait_for "the app on port $port" 60 port_open "$port" || return 2
    runner "http://$inbound" >"$dir/runner.log" 2>&1
    local runner_rc=$?
    kill -INT "$rec"
    wait "$rec"
    local rc=$?
    pids=("${pids[@]/$rec/}")
    ((rc == 0)) || {
        echo "  reel record exited $rc: $dir/record.log"
        return 2
    }
    echo "  recorded: $(tr '\n' ' ' <"$dir/record.out" | sed 's/  */ /g')"
    ((runner_rc == 0)) || echo "  the runner exited $runner_rc through reel: $dir/runner.log"
    return 0
}

# Replays the suite RUNS times; prints one line per run and sets $green.
replay() { # [reel test ARGS...]
    green=0
    local i line
    for ((i = 1; i <= RUNS; i++)); do
        CI=true REEL_STORE=$dir/reel.db "$REEL" test "$dir/suite" \
            --report "json=$dir/run-$i.json" "$@" >"$dir/run-$i.log" 2>&1
        line=$(counts "$dir/run-$i.log")
        [[ -n $line ]] || line="no result: $(tail -1 "$dir/run-$i.log")"
        echo "  run $i: $line"
        [[ $line == *" 0 failed" ]] && ((green++))
    done
    echo "  $green of $RUNS runs green"
}

summary=()
status=0

run_conduit() { # NAME DRIVER
    local name=$1 driver=$2
    db=reel_conduit_$(date +%s)_$RANDOM
    create_db "$db" && migrate "$db" || return 2
    runner() {
        if [[ $name == conduit-concurrent ]]; then
            "$py" "$fixtures/conduit/concurrent_client.py" "$1/api" --users "$USERS"
        else
            APIURL=$1/api "$fixtures/conduit/run-newman.sh"
        fi
    }
    record "$name" "$(conduit_cmd "$driver" "$port")" --dep "db=postgres:127.0.0.1:0=$PG" ||
        return 2
    # --verify runs the app against the real database: a fresh one each start.
    local reset="psql -X -q -h ${PG%:*} -p ${PG##*:} -U postgres -d postgres"
    reset+=" -c 'DROP DATABASE IF EXISTS $db WITH (FORCE)' -c 'CREATE DATABASE $db'"
    reset+=" && DATABASE_URL='$(db_url "$db")' $py $fixtures/conduit/app.py migrate"
    generate --app "$reset && $(conduit_cmd "$driver" "$port")"
    drop_db "$db"
    replay
    local runs=$green
    # A suite must still catch a real change: each regression fails its cases.
    local change rc
    for change in rename-field order-by; do
        CONDUIT_REGRESSION=$change CI=true REEL_STORE=$dir/reel.db "$REEL" test "$dir/suite" \
            >"$dir/regression-$change.log" 2>&1
        rc=$?
        echo "  regression $change: exit $rc, $(counts "$dir/regression-$change.log"); failing:" \
            "$(sed -n 's/^FAIL \([0-9]*\)-.*/\1/p' "$dir/regression-$change.log" | tr '\n' ' ')"
    done
    # The live check: the same suite against a database with offset ids.
    local live=${db}_live
    create_db "$live" && migrate "$live" users=100,articles=200,comments=300,tags=400 || return 2
    CI=true REEL_STORE=$dir/reel.db "$REEL" test "$dir/suite" \
        --app "$(conduit_cmd "$driver" "$port" "$(db_url "$live")")" \
        --report "json=$dir/live.json" >"$dir/live.log" 2>&1
    local line
    line=$(counts "$dir/live.log")
    echo "  live (ids from 100/200/300/400): ${line:-no result: $(tail -1 "$dir/live.log")}"
    drop_db "$live"
    summary+=("$name: $runs of $RUNS replays green; live: ${line:-no result}")
    ((runs == RUNS)) && [[ $line == *" 0 failed" ]] || status=1
}

run_httpbin() {
    runner() {
        (cd "$dir" && "$fixtures/.venv/bin/schemathesis" run "$1/spec.json" --url "$1" \
            --seed "$SEED" --max-examples "$EXAMPLES" --workers 1 --report har --report-dir st)
        # Schemathesis exits 1 on httpbin's own deviations from its spec; only
        # a run that could not start counts as the runner failing.
        (($? <= 1))
    }
    record httpbin "exec $fixtures/.venv/bin/gunicorn -b 127.0.0.1:$port httpbin:app" || return 2
    generate
    replay
    summary+=("httpbin: $green of $RUNS replays green")
    ((green == RUNS)) || status=1
}

# Kinto keeps everything in memory: each start is a fresh, empty Kinto.
# It lists a user's principals from a Python set, in an order that each
# process's string hash seed decides: one chance in two that two starts
# agree, so `--verify` can miss it and a replay then fails at random. The
# seed is pinned, as the HMAC keys are (fixtures/real-apps/kinto/kinto.ini).
kinto_cmd() { # PORT [INI]
    echo "PYTHONHASHSEED=0 exec $fixtures/.venv/bin/kinto start --ini ${2:-$fixtures/kinto/kinto.ini} --port $1"
}

# The status of each request a Schemathesis HAR report lists, in order.
har_statuses() { # DIR
    "$py" -c 'import glob, json, sys
for e in json.load(open(glob.glob(sys.argv[1] + "/har-*.json")[0]))["log"]["entries"]:
    print(e["request"]["method"], e["response"]["status"])' "$1"
}

run_kinto() {
    # Any Basic credentials sign in (fixtures/real-apps/kinto/kinto.ini);
    # the password must reach the suite only as a ${secret:...} placeholder.
    local password=reel-kinto-Pa55word
    runner() {
        local out=$dir/${report:-st}
        mkdir -p "$out"
        (cd "$out" && "$fixtures/.venv/bin/schemathesis" \
            --config-file "$fixtures/kinto/schemathesis.toml" run "$1/v1/__api__" \
            --seed "$SEED" --max-examples "$KINTO_EXAMPLES" --workers 1 \
            ${KINTO_PHASES:+--phases "$KINTO_PHASES"} \
            -H "Authorization: Basic $(printf 'reel:%s' "$password" | base64)" \
            --report har --report-dir .)
        (($? <= 1))
    }
    # Recording must not change what Kinto answers: the same run straight
    # against a fresh Kinto first, then through reel, each status compared.
    local direct_port
    direct_port=$(free_port)
    sh -c "$(kinto_cmd "$direct_port")" >"$dir/direct-app.log" 2>&1 &
    local app=$!
    apps_started+=("$app")
    wait_for "Kinto on port $direct_port" 60 port_open "$direct_port" || return 2
    report=direct runner "http://127.0.0.1:$direct_port" >"$dir/direct.log" 2>&1 ||
        echo "  the runner failed straight against Kinto: $dir/direct.log"
    kill "$app"
    wait "$app"
    apps_started=("${apps_started[@]/$app/}")
    record kinto "$(kinto_cmd "$port")" || return 2
    if cmp -s <(har_statuses "$dir/direct") <(har_statuses "$dir/st"); then
        echo "  through reel: the same $(har_statuses "$dir/st" | wc -l) statuses as straight"
    else
        echo "  through reel: statuses differ from the run straight against Kinto"
        diff <(har_statuses "$dir/direct") <(har_statuses "$dir/st") | head -5 | sed 's/^/    /'
        status=1
    fi
    generate
    # Not one clear password in the suite.
    if grep -rqF -e "$password" -e "$(printf 'reel:%s' "$password" | base64)" "$dir/suite"; then
        echo "  the password is in the suite in clear"
        status=1
    fi
    replay
    local runs=$green
    # A regression: Kinto answering `last_modified` as `modified`.
    CI=true REEL_STORE=$dir/reel.db "$REEL" test "$dir/suite" \
        --app "PYTHONHASHSEED=0 exec $py $fixtures/kinto/kinto_regressed.py $port" \
        >"$dir/regression.log" 2>&1
    local rc=$?
    echo "  regression (last_modified renamed): exit $rc, $(counts "$dir/regression.log")"
    summary+=("kinto: $runs of $RUNS replays green; regression exit $rc")
    ((runs == RUNS && rc == 1)) || status=1
}

generate() { # [generate ARGS...]
    REEL_STORE=$dir/reel.db "$REEL" generate "$name" --out "$dir/suite" --verify "$VERIFY" "$@" \
        >"$dir/generate.log" 2>&1
    local rc=$?
    local cases
    cases=$(find "$dir/suite/cases" -name '*.json' 2>/dev/null | wc -l)
    echo "  generate --verify $VERIFY: exit $rc, $cases cases: $dir/generate.log"
}

for name in "${apps[@]}"; do
    dir=$work/$name
    mkdir -p "$dir"
    port=$(free_port)
    echo "$name:"
    case $name in
    conduit) run_conduit conduit asyncpg ;;
    conduit-psycopg) run_conduit conduit-psycopg psycopg ;;
    conduit-concurrent) run_conduit conduit-concurrent asyncpg ;;
    httpbin) run_httpbin ;;
    kinto) run_kinto ;;
    esac
    rc=$?
    if ((rc != 0)); then
        summary+=("$name: the harness broke (see $dir)")
        status=2
    fi
done

echo
echo "summary (artefacts in $work):"
printf '  %s\n' "${summary[@]}"
exit $status
