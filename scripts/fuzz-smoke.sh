#!/usr/bin/env bash
# Runs every fuzz target for a short while (FUZZ_SECONDS, default 20) on its
# committed corpus, on the nightly toolchain with cargo-fuzz. Skips, with a
# note, when either is missing: CI's stable run replays the corpora instead
# (cli/tests/fuzz_corpora.rs). New inputs the fuzzer finds stay out of the
# committed corpus: it works on a copy. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-20}"
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-smoke: no nightly toolchain; skipped (rustup toolchain install nightly)" >&2
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz is missing; skipped (cargo install cargo-fuzz)" >&2
    exit 0
fi
# The same flags as the documented runs, so the build is shared with them.
flags=(-s none -a)
cargo +nightly fuzz build "${flags[@]}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in $(cargo +nightly fuzz list); do
    mkdir -p "$work/$target"
    cp -r "corpus/$target/." "$work/$target/"
    echo "fuzz-smoke: $target for ${seconds}s" >&2
    if ! cargo +nightly fuzz run "${flags[@]}" "$target" "$work/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$work/$target.log" 2>&1; then
        tail -n 60 "$work/$target.log" >&2
        echo "fuzz-smoke: $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^stat::number_of_executed_units' "$work/$target.log" >&2 || true
done
echo "fuzz-smoke: every target ran ${seconds}s without a crash" >&2
