#!/usr/bin/env bash
# Installs what building and testing reel needs on a fresh Debian machine:
# cmake and a C compiler (pingora builds zlib-ng), Chromium for the test that
# opens the HTML report in a real browser, and faketime (libfaketime) for the
# `--freeze-time` tests, the Python drivers (psycopg, psycopg_pool, asyncpg)
# with bcrypt and PyJWT for the Postgres tests, brotli and zstandard for the
# Python app that sends compressed answers, and the real-app fixtures'
# Python and npm packages (fixtures/real-apps). Does nothing when all are
# there. With --build-only, just cmake and a C compiler: what building the
# `reel` binary needs (scripts/install.sh, scripts/demo.sh).
set -euo pipefail

# apt-get install PACKAGES..., through sudo unless root; elsewhere than
# Debian/Ubuntu, names what is missing and stops.
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "reel: missing $*; install them with your package manager and run this again" >&2
        exit 1
    fi
    echo "reel: installing $*" >&2
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
if [[ "${1:-}" != "--build-only" ]]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    # `reel test --freeze-time` preloads libfaketime; its tests need it.
    command -v faketime >/dev/null 2>&1 || missing+=(faketime)
fi
if ((${#missing[@]})); then
    apt_install "${missing[@]}"
fi
if [[ "${1:-}" != "--build-only" ]]; then
    # The Postgres end-to-end tests drive psycopg 3 (a Python driver) and psql.
    command -v psql >/dev/null 2>&1 || apt_install postgresql-client
    if ! python3 -c 'import psycopg, psycopg_pool, asyncpg, bcrypt, jwt' >/dev/null 2>&1; then
        echo "reel: installing psycopg, psycopg_pool, asyncpg, bcrypt, pyjwt (fixtures/pg/requirements.txt)" >&2
        python3 -m pip install -q -r "$(dirname "$0")/../fixtures/pg/requirements.txt"
    fi
    # The Redis end-to-end tests drive redis-py, a real client.
    if ! python3 -c 'import redis' >/dev/null 2>&1; then
        echo "reel: installing redis-py (fixtures/redis/requirements.txt)" >&2
        python3 -m pip install -q -r "$(dirname "$0")/../fixtures/redis/requirements.txt"
    fi
    # The MySQL tests drive real clients: PyMySQL, and aiomysql with a pool.
    if ! python3 -c 'import pymysql, aiomysql' >/dev/null 2>&1; then
        echo "reel: installing PyMySQL and aiomysql (fixtures/mysql/requirements.txt)" >&2
        python3 -m pip install -q -r "$(dirname "$0")/../fixtures/mysql/requirements.txt"
    fi
    # The compressed-answers tests run a Python app that sends br and zstd.
    if ! python3 -c 'import brotli, zstandard' >/dev/null 2>&1; then
        echo "reel: installing brotli and zstandard (fixtures/http/requirements.txt)" >&2
        python3 -m pip install -q -r "$(dirname "$0")/../fixtures/http/requirements.txt"
    fi
fi

if [[ "${1:-}" != "--build-only" ]]; then
    # The real-app fixtures (bench/real-apps.sh, tests/integration/real_apps.rs):
    # pinned Python packages in their own venv and newman from the lockfile,
    # each installed again only when its pin file changed.
    real="$(cd "$(dirname "$0")/../fixtures/real-apps" && pwd)"
    apt_missing=()
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || apt_missing+=(python3-venv)
    command -v npm >/dev/null 2>&1 || apt_missing+=(nodejs npm)
    if ((${#apt_missing[@]})); then
        apt_install "${apt_missing[@]}"
    fi
    stamp() { sha256sum "$1" | cut -d' ' -f1; }
    if [[ "$(cat "$real/.venv/.installed" 2>/dev/null)" != "$(stamp "$real/requirements.txt")" ]]; then
        echo "reel: installing fixtures/real-apps/requirements.txt into fixtures/real-apps/.venv" >&2
        [[ -x "$real/.venv/bin/python" ]] || python3 -m venv "$real/.venv"
        "$real/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$real/requirements.txt"
        stamp "$real/requirements.txt" >"$real/.venv/.installed"
    fi
    if [[ "$(cat "$real/node_modules/.installed" 2>/dev/null)" != "$(stamp "$real/package-lock.json")" ]]; then
        echo "reel: installing newman, ioredis and mysql2 (fixtures/real-apps/package-lock.json)" >&2
        (cd "$real" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        stamp "$real/package-lock.json" >"$real/node_modules/.installed"
    fi
fi
