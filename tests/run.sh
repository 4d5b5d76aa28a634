#!/usr/bin/env bash
# Install what the tests need, then run the whole suite. This is the README's test command and
# the only thing .ci/run calls. Under CI=true nothing is skipped: a missing component fails.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test dependencies"
# kosoku runs the Autobahn TestSuite case files on Python 3 (tests/autobahn.rs).
if ! python3 -c "import kosoku" 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check "kosoku==0.1.0"
fi

echo "== toolchain checks"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --features fuzzing --lib --test fuzz_seeds -- -D warnings

echo "== tests"
cargo test --locked --all-targets
cargo test --locked --doc
# The fuzz targets' entry points, replaying their seeds and saved regressions (fuzz/).
cargo test --locked --features fuzzing --test fuzz_seeds
