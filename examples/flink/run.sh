#!/usr/bin/env bash
# Build the Sluice Flink connector and run examples/flink/PageViewWindows.java on a local Flink
# mini cluster. Arguments go to the job (see the top of PageViewWindows.java):
#
#   examples/flink/run.sh                      generated page views, 100/s, until Ctrl-C
#   examples/flink/run.sh --input relay        page views read from the relay topic `pageviews`
#
# Needs a relay (cargo run --release --bin sluice), a JDK and Flink's jars: $FLINK_LIB, or
# pip install apache-flink==2.3.0 (see connectors/flink/build.sh).
set -euo pipefail
# The Python with apache-flink: $SLUICE_PYTHON, the test venv (target/venv), or python3.
sluice_python() {
  local venv
  venv=$(cd "$(dirname "${BASH_SOURCE[0]}")" && git rev-parse --show-toplevel 2>/dev/null)/target/venv/bin/python3
  if [ -n "${SLUICE_PYTHON:-}" ]; then echo "$SLUICE_PYTHON"; elif [ -x "$venv" ]; then echo "$venv"; else echo python3; fi
}
root=$(cd "$(dirname "$0")/../.." && pwd)
jar=$("$root/connectors/flink/build.sh" | tail -1)
lib=${FLINK_LIB:-$("$(sluice_python)" -c 'import os, pyflink; print(os.path.join(os.path.dirname(pyflink.__file__), "lib"))')}
classes=$root/connectors/flink/target/example-classes
if [ ! -f "$classes/PageViewWindows.class" ] || [ "$root/examples/flink/PageViewWindows.java" -nt "$classes/PageViewWindows.class" ] || [ "$jar" -nt "$classes/PageViewWindows.class" ]; then
    rm -rf "$classes"
    javac -encoding UTF-8 -d "$classes" -cp "$lib/*:$jar" "$root/examples/flink/PageViewWindows.java"
fi
exec java -Xmx1g \
    --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
    -cp "$lib/*:$jar:$classes" PageViewWindows "$@"
