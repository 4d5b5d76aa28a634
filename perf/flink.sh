#!/usr/bin/env bash
# perf/flink.sh — records per second through SluiceSink (connectors/flink) in a real Flink job,
# against the same job writing to Flink's DiscardingSink, in the same run; and, as the ceiling
# of the JDK's WebSocket client that the sink is built on, one plain Java loop sending the same
# records over one java.net.http WebSocket (sendText, wait for it, next) with no Flink at all.
#
#   perf/flink.sh                  1,000,000 records per job, 3 runs of each, parallelism 1
#   perf/flink.sh --quick          a check that the harness works (small runs)
#   perf/flink.sh --records N --runs R --parallelism P --pad BYTES
#
# The job (tests/flink/SluiceSinkJob.java) numbers N records in a parallelism-1 source, spreads
# them round-robin over P subtasks that label each one ({"subtask":S,"seq":N,"pad":"…"}, about
# 37 bytes plus the padding), and writes them to the sink; checkpoints every second (the sink
# waits for the relay's acknowledgement of everything before each one). Each job runs in its
# own JVM on a local mini cluster; its time is measured from its first record to the end of
# the job (the end of input waits for the last acknowledgement), so JVM and cluster start-up
# are not counted. The relay (release build, default configuration) has no subscriber on the
# topic: it reads, parses and routes every message, then counts it as dropped; fan-out to
# subscribers is what sluice-bench measures.
#
# Needs a JDK and Flink's jars (see connectors/flink/build.sh). Results:
# perf/results/flink-<date>/README.md and runs.tsv (the jobs' logs and classes are in
# perf/results/tmp/flink/). The machine's load is recorded.
set -euo pipefail
# The Python with apache-flink: $SLUICE_PYTHON, the test venv (target/venv), or python3.
sluice_python() {
  local venv
  venv=$(cd "$(dirname "${BASH_SOURCE[0]}")" && git rev-parse --show-toplevel 2>/dev/null)/target/venv/bin/python3
  if [ -n "${SLUICE_PYTHON:-}" ]; then echo "$SLUICE_PYTHON"; elif [ -x "$venv" ]; then echo "$venv"; else echo python3; fi
}
cd "$(dirname "$0")/.."
. perf/lib.sh
ROOT=$PWD

RECORDS=1000000; RUNS=3; PAR=1; PAD=0
COMMAND="perf/flink.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) RECORDS=100000; RUNS=1 ;;
    --records) RECORDS=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --parallelism) PAR=$2; shift ;;
    --pad) PAD=$2; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "perf/flink.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

echo "== building (release relay, connector jar, job)"
cargo build --release --locked --bin sluice
JAR=$(connectors/flink/build.sh | tail -1)
LIB=${FLINK_LIB:-$("$(sluice_python)" -c 'import os, pyflink; print(os.path.join(os.path.dirname(pyflink.__file__), "lib"))')}
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT=$ROOT/perf/results/flink-$STAMP
TMP=$ROOT/perf/results/tmp/flink
rm -rf "$TMP"
mkdir -p "$OUT" "$TMP/classes/META-INF/services"
javac -encoding UTF-8 -d "$TMP/classes" -cp "$LIB/*:$JAR" tests/flink/CaptureReporter.java tests/flink/SluiceSinkJob.java
echo 'CaptureReporter$Factory' > "$TMP/classes/META-INF/services/org.apache.flink.metrics.reporter.MetricReporterFactory"
cat > "$TMP/JdkFlood.java" <<'JAVA'
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/** Sends `records` records like SluiceSinkJob's over one JDK WebSocket, then one ping, and
 *  prints RUN_MS from the first send to the pong. */
public class JdkFlood {
    public static void main(String[] a) throws Exception {
        long records = Long.parseLong(a[1]);
        String pad = "x".repeat(Integer.parseInt(a[2]));
        CompletableFuture<Void> pong = new CompletableFuture<>();
        WebSocket ws = HttpClient.newHttpClient().newWebSocketBuilder()
                .buildAsync(URI.create(a[0]), new WebSocket.Listener() {
                    public CompletionStage<?> onPong(WebSocket w, ByteBuffer m) { pong.complete(null); return null; }
                }).get();
        long start = System.nanoTime();
        for (long i = 0; i < records; i++) {
            ws.sendText("{\"subtask\":0,\"seq\":" + i + ",\"pad\":\"" + pad + "\"}", true).get();
        }
        ws.sendPing(ByteBuffer.allocate(8)).get();
        pong.get();
        System.out.println("RUN_MS " + (System.nanoTime() - start) / 1_000_000);
        ws.abort();
    }
}
JAVA
javac -d "$TMP/classes" "$TMP/JdkFlood.java"

PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
: > "$TMP/relay.log"
target/release/sluice --listen 127.0.0.1:0 > "$TMP/relay.log" 2>&1 &
PID=$!
ADDR=$(listen_addr "$TMP/relay.log" "$PID") || exit 1

# run SINK N: one job; prints its RUN_MS
run() {
  local log="$TMP/$1-$2.log"
  java -Xmx1g -XX:+UseSerialGC \
    --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
    -cp "$LIB/*:$JAR:$TMP/classes" SluiceSinkJob \
    "url=ws://$ADDR" topic=perf "records=$RECORDS" "parallelism=$PAR" "pad=$PAD" \
    checkpoint_ms=1000 "sink=$1" > "$log" 2>&1 || { echo "the $1 job failed:" >&2; tail -30 "$log" >&2; exit 1; }
  if [ "$1" = sluice ]; then
    grep -q "^METRIC sluice.recordsAcknowledged $RECORDS\$" "$log" \
      || { echo "the sluice job did not get every record acknowledged:" >&2; grep METRIC "$log" >&2; exit 1; }
  fi
  sed -n 's/^RUN_MS //p' "$log"
}

# jdk N: the JDK WebSocket loop; prints its RUN_MS
jdk() {
  java -Xmx1g -XX:+UseSerialGC -cp "$TMP/classes" JdkFlood "ws://$ADDR/pub/perf" "$RECORDS" "$PAD" \
    > "$TMP/jdk-$1.log" 2>&1 || { echo "the JDK loop failed:" >&2; cat "$TMP/jdk-$1.log" >&2; exit 1; }
  sed -n 's/^RUN_MS //p' "$TMP/jdk-$1.log"
}

rate() { awk -v n="$RECORDS" -v ms="$1" 'BEGIN { printf "%.0f", n * 1000 / ms }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "== $RUNS runs of $RECORDS records, parallelism $PAR, pad $PAD (load: $(cut -d' ' -f1-3 /proc/loadavg))"
: > "$OUT/runs.tsv"
for r in $(seq 1 "$RUNS"); do
  d=$(run discard "$r"); s=$(run sluice "$r"); j=$(jdk "$r")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$d" "$(rate "$d")" "$s" "$(rate "$s")" "$j" "$(rate "$j")" >> "$OUT/runs.tsv"
  printf 'run %s: discard %s ms (%s rec/s), sluice %s ms (%s rec/s), JDK WebSocket loop %s ms (%s rec/s)\n' \
    "$r" "$d" "$(rate "$d")" "$s" "$(rate "$s")" "$j" "$(rate "$j")"
done
D=$(cut -f3 "$OUT/runs.tsv" | median); S=$(cut -f5 "$OUT/runs.tsv" | median); J=$(cut -f7 "$OUT/runs.tsv" | median)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# perf/flink.sh, $STAMP"
  echo
  echo "Command: \`$COMMAND\` (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))."
  echo
  echo "$RECORDS records per job, parallelism $PAR, records of about $((37 + PAD)) bytes, checkpoints every second,"
  echo "$RUNS runs, $(nproc) cores, load average after the runs: $LOAD. Java: $(java -version 2>&1 | head -1)."
  echo
  echo "| run | DiscardingSink (ms) | records/s | SluiceSink (ms) | records/s | JDK WebSocket loop (ms) | records/s |"
  echo "|---|---|---|---|---|---|---|"
  while IFS=$'\t' read -r r d dr s sr j jr; do echo "| $r | $d | $dr | $s | $sr | $j | $jr |"; done < "$OUT/runs.tsv"
  echo
  echo "Median: DiscardingSink $D records/s, SluiceSink $S records/s, JDK WebSocket loop $J records/s."
} > "$OUT/README.md"
echo "== median: DiscardingSink $D records/s, SluiceSink $S records/s, JDK WebSocket loop $J records/s"
echo "   (perf/results/flink-$STAMP/README.md)"
