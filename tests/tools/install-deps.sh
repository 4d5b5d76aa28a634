#!/usr/bin/env bash
# Install what the test suite needs beyond the Rust toolchain. Idempotent and quick when
# everything is present; called by tests/run.sh. Every step fails loudly: under CI=true a
# missing component must fail the run, never skip a test.
#
#   chromium              Debian's headless browser, for tests/dashboard_browser.rs
#   node, npm             to run tests/browser/dashboard.mjs
#   playwright-core       from npm (version pinned in tests/browser/package-lock.json)
#   prometheus_client     Python's reference exposition parser, for tests/metrics.rs
#   kosoku                runs the Autobahn TestSuite case files on Python 3, for tests/autobahn.rs
#                         and tests/connector_autobahn.rs (client mode)
#   websockets            Python's WebSocket library: the upstream servers of tests/connector_*.rs
#   openjdk-17-jdk-headless, apache-flink 2.3.0 (pip: its jars and PyFlink)
#                         Java and Apache Flink for tests/flink_conformance.rs and the
#                         connector's tests (tests/flink_*.rs build connectors/flink with them)
set -euo pipefail
cd "$(dirname "$0")/../.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium fonts-dejavu-core)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3 python3-pip)
{ command -v javac >/dev/null && command -v java >/dev/null; } || missing+=(openjdk-17-jdk-headless)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing with apt: ${missing[*]}"
    apt_install "${missing[@]}"
fi

if ! python3 -c 'import prometheus_client' 2>/dev/null; then
    echo "installing prometheus_client"
    python3 -m pip install --quiet prometheus_client 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages prometheus_client 2>/dev/null \
        || apt_install python3-prometheus-client
    python3 -c 'import prometheus_client'
fi

if ! python3 -c 'import kosoku' 2>/dev/null; then
    echo "installing kosoku"
    python3 -m pip install --quiet --disable-pip-version-check "kosoku==0.1.0" 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages "kosoku==0.1.0"
    python3 -c 'import kosoku'
fi

if ! python3 -c 'import websockets' 2>/dev/null; then
    echo "installing websockets"
    python3 -m pip install --quiet --disable-pip-version-check "websockets==15.0.1" 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages "websockets==15.0.1"
    python3 -c 'import websockets'
fi

if ! python3 -c 'import pyflink' 2>/dev/null; then
    echo "installing apache-flink 2.3.0 (about 1.5 minutes the first time)"
    python3 -m pip install --quiet --disable-pip-version-check "apache-flink==2.3.0" 2>/dev/null \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "apache-flink==2.3.0"
    python3 -c 'import pyflink'
fi

want=$(sed -n 's/.*"playwright-core": *"\([^"]*\)".*/\1/p' tests/browser/package.json | head -1)
have=$(node -p "require('./tests/browser/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
    echo "installing playwright-core $want with npm"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
