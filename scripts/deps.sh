#!/usr/bin/env bash
# Installs what building and testing reel needs on a fresh Debian machine:
# cmake and a C compiler (pingora builds zlib-ng), and Chromium for the test
# that opens the HTML report in a real browser. Does nothing when all are there.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
if [[ "${1:-}" != "--build-only" ]]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi
if ((${#missing[@]})); then
    echo "reel: installing ${missing[*]}" >&2
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
