#!/usr/bin/env bash
# Install what the tests need, then run the whole suite. This is the README's test command and
# the only thing .ci/run calls. Under CI=true nothing is skipped: a missing component fails.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test dependencies"
tests/tools/install-deps.sh
# Python's `websockets` is the second WebSocket implementation the connector tests talk to
# (tests/upstream/server.py); kosoku runs the Autobahn TestSuite case files on Python 3
# (tests/connector_autobahn.rs). Pinned; skipped when already present.
if ! python3 -c "import websockets, kosoku" 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check "websockets==15.0.1" "kosoku==0.1.0"
fi

echo "== toolchain checks"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

echo "== tests"
cargo test --locked --all-targets
cargo test --locked --doc
