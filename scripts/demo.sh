#!/usr/bin/env bash
# The whole reel loop on the bundled demo app: record, generate, replay, diff.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --build-only
cargo run --quiet -p reel -- demo "$@"
