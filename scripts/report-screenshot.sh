#!/usr/bin/env bash
# Renders a reel HTML report in headless Chromium and saves a screenshot, to
# check what QA will see. Installs Debian's chromium with apt-get if missing.
#
#   scripts/report-screenshot.sh REPORT.html OUT.png
#
# WINDOW_SIZE=W,H overrides the viewport (default 1400,1800).
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 REPORT.html OUT.png" >&2
    exit 2
fi
report=$1
out=$2
if [ ! -f "$report" ]; then
    echo "$0: no such report: $report" >&2
    exit 2
fi

if ! command -v chromium >/dev/null 2>&1; then
    echo "chromium not found; installing it with apt-get" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
fi

report_abs=$(realpath "$report")
mkdir -p "$(dirname "$out")"
out_abs=$(realpath -m "$out")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

rm -f "$out_abs"
timeout 120 chromium \
    --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars \
    --user-data-dir="$profile" \
    --window-size="${WINDOW_SIZE:-1400,1800}" \
    --screenshot="$out_abs" \
    "file://$report_abs" 2>"$profile/chromium.log" || {
    echo "$0: chromium failed; its log:" >&2
    cat "$profile/chromium.log" >&2
    exit 1
}
if [ ! -s "$out_abs" ]; then
    echo "$0: chromium wrote no screenshot; its log:" >&2
    cat "$profile/chromium.log" >&2
    exit 1
fi
echo "$out_abs"
