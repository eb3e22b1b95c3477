#!/usr/bin/env bash
# Installs reel from this clone: cmake and a C compiler when missing (through
# scripts/deps.sh --build-only: apt-get, with sudo unless root), then
# `cargo install --locked --path cli`, which puts `reel` in ~/.cargo/bin.
# Arguments go to cargo install (e.g. --root DIR, --force).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v cargo >/dev/null 2>&1; then
    echo "reel: cargo not found: install Rust first (https://rustup.rs), then run this again" >&2
    exit 1
fi
"$here/deps.sh" --build-only
cargo install --locked --path "$here/../cli" "$@"

# Where cargo install put it (--root, CARGO_INSTALL_ROOT, CARGO_HOME, ~/.cargo).
root="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
    --root) root="${args[i + 1]:-$root}" ;;
    --root=*) root="${args[i]#--root=}" ;;
    esac
done
bin="$(cd "$root/bin" && pwd)"
# A login shell with an empty environment shows the PATH a new terminal gets
# (rustup adds ~/.cargo/bin through ~/.profile), not the one this script
# happens to run with.
if [[ "$(env -i HOME="$HOME" bash -lc 'command -v reel' 2>/dev/null)" == "$bin/reel" ]]; then
    echo "reel: installed $("$bin/reel" --version) as $bin/reel"
else
    echo "reel: installed $("$bin/reel" --version) as $bin/reel, which a new shell does not find first;"
    echo "      add it to PATH, e.g.: echo 'export PATH=\"$bin:\$PATH\"' >> ~/.profile"
fi
