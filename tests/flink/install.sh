#!/usr/bin/env bash
# What tests/flink_conformance.rs needs: Java 17 (java, javac) and Apache Flink's jars, from the
# apache-flink Python package (2.3.0 has a wheel for Python 3.11). Idempotent, and quick when
# both are present. Installing runs apt-get and pip, so it needs root (as in CI).
set -euo pipefail

if ! command -v javac >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
    echo "installing Java 17 (openjdk-17-jdk-headless)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
fi

if ! python3 -c "import pyflink" >/dev/null 2>&1; then
    echo "installing apache-flink 2.3.0 (pip)"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
    fi
    pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@" "apache-flink==2.3.0"; }
    # A Debian system Python refuses pip installs (PEP 668) unless told otherwise.
    pip_install || pip_install --break-system-packages
fi
