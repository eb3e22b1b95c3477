#!/usr/bin/env bash
# How `reel generate` scales with the session: a real recording (Conduit
# under 5 concurrent users, its Postgres pool recorded too: chains, secrets,
# attribution of pooled queries, parameter matchers all at work) is copied
# end to end until the session holds EXCHANGES exchanges, each copy shifted
# in seq, time and connection numbers so it reads as later traffic. Then
# `reel generate --dedup` and plain `reel generate` run on it under
# /usr/bin/time, and the wall time, peak RSS and the summary's size are
# printed. Issue 14's target: 1,000,000 exchanges in under 60 s and 500 MB.
#
# Usage: bench/generate-large.sh
#   EXCHANGES=1000000   exchanges in the large session
#   SEED_STORE=PATH     a store to copy from (default: record one with
#   SEED_SESSION=NAME   bench/real-apps.sh conduit-concurrent)
#   REEL=path           the reel binary (default: target/release/reel)
#   KEEP=1              keep the work folder (store and suites)
#
# Exit status: 0 when it ran (figures are reported, not judged); 2 when the
# bench itself broke.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXCHANGES=${EXCHANGES:-1000000}
REEL=${REEL:-$root/target/release/reel}
die() {
    echo "generate-large: $*" >&2
    exit 2
}
[[ -x $REEL ]] || die "$REEL not found: cargo build --release -p reel (or set REEL)"
command -v sqlite3 >/dev/null || die "sqlite3 is missing: scripts/deps.sh"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"

work=$(mktemp -d "${TMPDIR:-/tmp}/reel-generate-large.XXXXXX")
[[ ${KEEP:-} == 1 ]] || trap 'rm -rf "$work"' EXIT
echo "generate-large: reel $REEL; work in $work"

if [[ -z ${SEED_STORE:-} ]]; then
    echo "generate-large: recording the seed (bench/real-apps.sh conduit-concurrent)"
    seed_log=$work/seed.log
    REEL=$REEL VERIFY=1 "$root/bench/real-apps.sh" conduit-concurrent 1 >"$seed_log" 2>&1 ||
        true
    seed_dir=$(sed -n 's/^real-apps: .*; artefacts in //p' "$seed_log")
    SEED_STORE=$seed_dir/conduit-concurrent/reel.db
    SEED_SESSION=conduit-concurrent
    [[ -s $SEED_STORE ]] || die "recording the seed failed: $seed_log"
fi
SEED_SESSION=${SEED_SESSION:?give SEED_SESSION with SEED_STORE}

store=$work/reel.db
cp "$SEED_STORE" "$store"
q() { sqlite3 -batch -bail "$store" "$@"; }
sid=$(q "SELECT id FROM sessions WHERE name = '$SEED_SESSION' ORDER BY id DESC LIMIT 1")
[[ -n $sid ]] || die "no session '$SEED_SESSION' in $SEED_STORE"
read -r rows span_seq span_time span_conn < <(q -separator ' ' "
    SELECT count(*), max(seq) + 1, max(coalesce(ended_at, started_at)) - min(started_at) + 1000000,
           max(connection) + 1
    FROM exchanges WHERE session_id = $sid")
((rows > 0)) || die "session '$SEED_SESSION' has no exchanges"
copies=$(((EXCHANGES + rows - 1) / rows))
echo "generate-large: seed has $rows exchanges; $copies copies"

q <<SQL
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
INSERT INTO sessions (name, started_at, ended_at, target, notes, dropped, setup)
    SELECT 'large', started_at, ended_at, target, notes, 0, setup FROM sessions WHERE id = $sid;
WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n + 1 < $copies)
INSERT INTO exchanges (session_id, seq, direction, protocol, dependency, connection,
        started_at, first_byte_at, ended_at, request_head, request_body, request_size,
        request_truncated, response_head, response_body, response_size, response_truncated, error)
    SELECT (SELECT max(id) FROM sessions), e.seq + k.n * $span_seq, e.direction, e.protocol,
        e.dependency, e.connection + k.n * $span_conn, e.started_at + k.n * $span_time,
        e.first_byte_at + k.n * $span_time, e.ended_at + k.n * $span_time, e.request_head,
        e.request_body, e.request_size, e.request_truncated, e.response_head, e.response_body,
        e.response_size, e.response_truncated, e.error
    FROM k, exchanges e WHERE e.session_id = $sid
    ORDER BY k.n, e.seq
    LIMIT $EXCHANGES;
SQL
total=$(q "SELECT count(*) FROM exchanges WHERE session_id = (SELECT max(id) FROM sessions)")
echo "generate-large: session 'large' holds $total exchanges ($(du -m "$store" | cut -f1) MB store)"

run() { # LABEL ARGS...
    local label=$1
    shift
    local out=$work/$label
    /usr/bin/time -f '%e %M' -o "$out.time" \
        "$REEL" generate large --store "$store" --out "$out" "$@" >"$out.stdout" 2>"$out.stderr" ||
        die "reel generate $* failed: $(tail -5 "$out.stderr")"
    read -r secs kib <"$out.time"
    printf '%-16s %8s s  %6d MB peak RSS  %5d cases  summary %d lines / %d bytes\n' \
        "$label" "$secs" $((kib / 1024)) "$(find "$out/cases" -name '*.json' | wc -l)" \
        "$(wc -l <"$out.stdout")" "$(wc -c <"$out.stdout")"
}
run generate
run generate-dedup --dedup
