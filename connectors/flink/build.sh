#!/usr/bin/env bash
# Build the Sluice Flink connector (connectors/flink/target/sluice-flink-VERSION.jar) with javac,
# without Maven. The last line of output is the jar's absolute path, so
#
#     jar=$(connectors/flink/build.sh | tail -1)
#
# Flink's jars come from $FLINK_LIB (a directory of Flink 2.x jars, such as a Flink
# distribution's lib/), else from the lib/ directory of the apache-flink Python package
# (pip install apache-flink==2.3.0). Needs a JDK (javac and jar, version 11 or later); the jar
# runs on Java 11 and later. Nothing is rebuilt when the jar is newer than every source.
# $SLUICE_FLINK_OUT changes the output directory.
set -euo pipefail
# The Python with apache-flink: $SLUICE_PYTHON, the test venv (target/venv), or python3.
sluice_python() {
  local venv
  venv=$(cd "$(dirname "${BASH_SOURCE[0]}")" && git rev-parse --show-toplevel 2>/dev/null)/target/venv/bin/python3
  if [ -n "${SLUICE_PYTHON:-}" ]; then echo "$SLUICE_PYTHON"; elif [ -x "$venv" ]; then echo "$venv"; else echo python3; fi
}
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's:^    <version>\(.*\)</version>:\1:p' "$here/pom.xml" | head -1)
[ -n "$version" ] || { echo "error: no <version> in $here/pom.xml" >&2; exit 1; }
out=${SLUICE_FLINK_OUT:-$here/target}
jar=$out/sluice-flink-$version.jar

for tool in javac jar; do
    command -v "$tool" >/dev/null || { echo "error: \`$tool\` not found: install a JDK (11 or later)" >&2; exit 1; }
done
lib=${FLINK_LIB:-}
if [ -z "$lib" ]; then
    lib=$("$(sluice_python)" -c 'import os, pyflink; print(os.path.join(os.path.dirname(pyflink.__file__), "lib"))' 2>/dev/null) || {
        echo "error: Flink's jars not found: set FLINK_LIB to a directory of Flink 2.x jars, or run" >&2
        echo "       pip install apache-flink==2.3.0" >&2
        exit 1
    }
fi
compgen -G "$lib/flink-dist*.jar" >/dev/null || { echo "error: no flink-dist jar in $lib" >&2; exit 1; }

mkdir -p "$out"
exec 9>"$out/.build.lock"
flock 9
if [ -f "$jar" ] && [ -z "$(find "$here/src" "$here/pom.xml" "$here/build.sh" -newer "$jar" -print -quit)" ]; then
    echo "$jar"
    exit 0
fi
classes=$out/classes
rm -rf "$classes"
mapfile -t sources < <(find "$here/src/main/java" -name '*.java' | sort)
echo "compiling ${#sources[@]} files against $lib" >&2
javac --release 11 -Xlint:all,-processing,-classfile,-try -Werror -encoding UTF-8 -d "$classes" -cp "$lib/*" "${sources[@]}"
printf 'Implementation-Title: sluice-flink\nImplementation-Version: %s\n' "$version" >"$out/MANIFEST.MF"
jar --create --file "$jar.tmp" --manifest "$out/MANIFEST.MF" -C "$classes" .
mv "$jar.tmp" "$jar"
echo "$jar"
