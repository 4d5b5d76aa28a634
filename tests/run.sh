#!/usr/bin/env bash
# Install what the tests need, then run the whole suite. This is the README's test command and
# the only thing .ci/run calls. Under CI=true nothing is skipped: a missing component fails.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test dependencies"
# Java 17 and Apache Flink for the Flink conformance test (tests/flink_conformance.rs).
tests/flink/install.sh

echo "== toolchain checks"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

echo "== tests"
cargo test --locked --all-targets
cargo test --locked --doc
