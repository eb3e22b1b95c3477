#!/usr/bin/env bash
# Runs reel's whole test suite (unit, integration and end-to-end tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# The end-to-end tests run the real `reel` binary; cargo builds a package's
# binaries only for that package's own tests, so build them first. The `pg`
# feature of reel-fixtures adds `reel-pg-clients` and the demo app's Postgres
# store, which the Postgres tests run (the shipped `reel` has neither).
cargo build --workspace --bins --features reel-fixtures/pg
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --features reel-fixtures/pg "$@"
else
    cargo test --workspace --features reel-fixtures/pg "$@"
fi
