#!/usr/bin/env bash
# perf/window.sh — a keyed tumbling-window sum on one worker: throughput and the latency from
# the event that completes a window to its result on a subscriber, each with a baseline from
# the same run.
#
#   perf/window.sh                 5M events per throughput run, 10 s per latency cell
#   perf/window.sh --quick         a check that the harness works (small runs)
#   perf/window.sh --rate 20k      the latency cells' event rate (default 10k/s)
#
# Cells (each on a fresh `sluice --config perf/configs/window.toml`: 1 pinned worker, `park`
# idle strategy so its CPU time is its work; 100 symbols; 100 ms windows; out_of_orderness 0):
#
#   replay       `sluice replay` of the same events, one thread doing the reactor's part (key,
#                event time, watermark) and the worker's (parse, window, sum): events/s
#   throughput   one publisher floods events over a WebSocket; a subscriber sums the window
#                counts until every event is accounted for: end-to-end events/s, and events
#                per second of the worker thread's CPU time (/proc/PID/task/TID/stat)
#   hop          baseline for latency: events paced at RATE through a `map` pipeline on the
#                same relay; latency per event from its intended send time
#   window       events paced at RATE, event time = intended send time; per window, latency =
#                result received − intended send time of the event that completes the window
#
# Results: perf/results/window-<date>/ (one JSON per cell, README.md with the tables). The
# machine's load is recorded: on a shared machine, tails measure the neighbours.
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
ROOT=$PWD

EVENTS=5000000; RUNS=3; SECS=10; RATE=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) EVENTS=200000; RUNS=1; SECS=2 ;;
    --rate) RATE=${2%k}; [ "$RATE" != "$2" ] && RATE=$((RATE * 1000)); shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "perf/window.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

echo "== building (release)"
cargo build --release --locked --bin sluice
(cd perf && cargo build --release --locked -p window-bench)
SLUICE=$ROOT/target/release/sluice
BENCH=$ROOT/perf/target/release/window-bench
CONFIG=$ROOT/perf/configs/window.toml

STAMP=$(date -u +%Y-%m-%dT%H%MZ)
OUT=$ROOT/perf/results/window-$STAMP
mkdir -p "$OUT"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

start_relay() {
  "$SLUICE" --config "$CONFIG" --log-level info > "$OUT/relay.log" 2>&1 &
  PID=$!
  ADDR=$(listen_addr "$OUT/relay.log" "$PID") || exit 1
}
stop_relay() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

uptime > "$OUT/load.txt"
echo "== replay ($EVENTS events)"
"$BENCH" generate --events "$EVENTS" --keys 100 > "$OUT/events.jsonl"
for run in $(seq 1 "$RUNS"); do
  t0=$(date +%s.%N)
  "$SLUICE" replay --config "$CONFIG" --pipeline window-sum --workers 1 \
    --input "$OUT/events.jsonl" --output /dev/null 2> "$OUT/replay-$run.log"
  t1=$(date +%s.%N)
  elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
  echo "{\"mode\":\"replay\",\"events\":$EVENTS,\"elapsed_s\":$elapsed}" > "$OUT/replay-$run.json"
  cat "$OUT/replay-$run.json"
done
rm -f "$OUT/events.jsonl"

echo "== throughput ($EVENTS events, one publisher)"
for run in $(seq 1 "$RUNS"); do
  start_relay
  "$BENCH" throughput --addr "$ADDR" --events "$EVENTS" --keys 100 --pid "$PID" | tee "$OUT/throughput-$run.json"
  stop_relay
done

echo "== latency at $RATE events/s, ${SECS} s per cell (hop baseline, then window; twice)"
for run in 1 2; do
  start_relay
  "$BENCH" hop --addr "$ADDR" --rate "$RATE" --seconds "$SECS" | tee "$OUT/hop-$run.json"
  "$BENCH" latency --addr "$ADDR" --rate "$RATE" --seconds "$SECS" --keys 10 --window-ms 100 | tee "$OUT/window-$run.json"
  stop_relay
done
uptime >> "$OUT/load.txt"

python3 - "$OUT" "$RATE" <<'PY'
import glob, json, os, sys
out, rate = sys.argv[1], sys.argv[2]
def load(p): return [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, p)))]
rep, thr, hop, win = load("replay-*.json"), load("throughput-*.json"), load("hop-*.json"), load("window-*.json")
med = lambda xs: sorted(xs)[len(xs) // 2]
lines = ["# Window benchmark (perf/window.sh)", "",
         "Machine load before and after: `" + open(os.path.join(out, "load.txt")).read().strip().replace("\n", "` / `") + "`", "",
         "## Throughput: keyed tumbling-window sum (100 symbols, 100 ms windows), one worker", "",
         "| run | replay, one thread (events/s) | live, end to end (events/s) | live, per second of worker CPU (events) | worker CPU (s) |",
         "|---|---:|---:|---:|---:|"]
for i in range(max(len(rep), len(thr))):
    r = rep[i] if i < len(rep) else None
    t = thr[i] if i < len(thr) else None
    lines.append("| %d | %s | %s | %s | %s |" % (i + 1,
        "%.2f M" % (r["events"] / r["elapsed_s"] / 1e6) if r else "",
        "%.2f M" % (t["events_per_s"] / 1e6) if t else "",
        "%.2f M" % (t["events_per_worker_cpu_s"] / 1e6) if t and t.get("events_per_worker_cpu_s") else "",
        "%.2f" % t["worker_cpu_s"] if t and t.get("worker_cpu_s") is not None else ""))
if thr and all(t.get("events_per_worker_cpu_s") for t in thr):
    m = med([t["events_per_worker_cpu_s"] for t in thr])
    lines += ["", "Median events per second of worker CPU: **%.2f M** (target ≥ 1 M per worker core: **%s**)." % (m / 1e6, "met" if m >= 1e6 else "missed")]
lines += ["", "## Latency at %s events/s (10 symbols, 100 ms windows)" % rate, "",
          "| cell | what | count | p50 | p90 | p99 | p99.9 | max |", "|---|---|---:|---:|---:|---:|---:|---:|"]
fmt = lambda us: "%.0f µs" % us if us < 10000 else "%.1f ms" % (us / 1000)
for i, (h, w) in enumerate(zip(hop, win)):
    for name, what, p in [("hop (map pipeline, baseline)", "per event", h["per_event"]),
                          ("window", "first result of a window", w["first_result_of_window"]),
                          ("window", "every result (10 per window)", w["every_result"])]:
        if p.get("count"):
            lines.append("| %s #%d | %s | %d | %s | %s | %s | %s | %s |" % (name, i + 1, what, p["count"], fmt(p["p50_us"]), fmt(p["p90_us"]), fmt(p["p99_us"]), fmt(p["p999_us"]), fmt(p["max_us"])))
    if h["per_event"].get("count") and w["first_result_of_window"].get("count"):
        lines.append("| ratio #%d | window first result ÷ hop | | %.2f | | %.2f | | |" % (i + 1,
            w["first_result_of_window"]["p50_us"] / h["per_event"]["p50_us"],
            w["first_result_of_window"]["p99_us"] / h["per_event"]["p99_us"]))
open(os.path.join(out, "README.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "== results in $OUT"
