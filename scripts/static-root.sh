#!/usr/bin/env bash
# Runs a static (musl) reel in an empty, container-like root with an empty
# environment, as docs/install.md describes: the root holds the binary, /tmp,
# /proc (mounted) and /dev/null (bound), nothing else; then a static busybox
# (Debian's busybox-static) is added as /bin/sh, which `reel test` starts the
# app with. Needs unshare (util-linux) and user namespaces; no root.
#   scripts/static-root.sh target/x86_64-unknown-linux-musl/release/reel
set -uo pipefail
bin=$(realpath "$1")
root=$(mktemp -d)
mkdir -p "$root/tmp" "$root/proc" "$root/dev"
touch "$root/dev/null"
cp "$bin" "$root/reel"
inroot() {
    env -i PATH=/bin HOME=/tmp TMPDIR=/tmp NO_COLOR=1 /usr/bin/unshare -r -m -p -f /bin/bash -c '
        mount --bind /dev/null "$0/dev/null" && mount -t proc proc "$0/proc" && exec /usr/sbin/chroot "$0" "$@"' "$root" "$@"
}
echo "== root: $(cd "$root" && find . | sort | tr '\n' ' ')"
inroot /reel --version; echo "rc=$?"
inroot /reel completions bash | wc -l; echo "rc=$?"
inroot /reel demo >"$root.demo1" 2>&1; echo "demo without sh: rc=$?"; tail -1 "$root.demo1"
mkdir -p "$root/bin"; cp /bin/busybox "$root/bin/sh"
echo "== root: $(cd "$root" && find . -maxdepth 2 -not -path './tmp/*' | sort | tr '\n' ' ')"
inroot /reel demo >"$root.demo2" 2>&1; echo "demo with busybox as /bin/sh: rc=$?"; grep -E "passed|failed|Suite:" "$root.demo2"
rm -rf "$root" "$root.demo1" "$root.demo2"
