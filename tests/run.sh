#!/usr/bin/env bash
# Install what the tests need, then run the whole suite. This is the README's test command and
# the only thing .ci/run calls. Under CI=true nothing is skipped: a missing component fails.
# What it installs, and where: tests/tools/install-deps.sh. One test file by hand:
#   cargo test --test static_files
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test dependencies"
tests/tools/install-deps.sh
# The tests' Python packages live in the virtual environment install-deps.sh made; its bin
# comes first so every script the tests or perf/ start gets them (the tests also find it
# without this: tests/util/python.rs).
venv=${SLUICE_VENV:-target/venv}
case $venv in /*) ;; *) venv=$PWD/$venv ;; esac
export PATH="$venv/bin:$PATH"

echo "== toolchain checks"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --features fuzzing --lib --test fuzz_seeds -- -D warnings
# Rustdoc: no broken or private intra-doc links, no stray HTML in doc comments.
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --all-features

echo "== tests"
cargo test --locked --all-targets --no-fail-fast
cargo test --locked --doc
# The fuzz targets' entry points, replaying their seeds and saved regressions (fuzz/).
cargo test --locked --features fuzzing --test fuzz_seeds
