#!/usr/bin/env bash
# perf/pipeline.sh — the latency a `map` pipeline adds over a plain relayed topic, per idle
# strategy, measured side by side in one run, plus the relay's CPU use busy and idle.
#
#   perf/pipeline.sh            10 s measured per cell, 2 s warm-up, 10k msg/s
#   perf/pipeline.sh --quick    a check that the harness works (1 s per cell)
#   perf/pipeline.sh --rate 50k --duration 3s
#   perf/pipeline.sh --step '{ text = "upper" }'   # another step: the hop without jq's cost
#   BENCH=path/to/sluice-bench perf/pipeline.sh    # use another build of the benchmark
#
# For each idle strategy (spin, spin-then-park, park) it starts one `sluice` with one pinned
# worker and one pipeline, `in` → { map = "{v: .sb}" } → `out`, then measures with
# sluice-bench, alternately, the direct path (/pub/direct → /sub/direct) and the pipeline
# (/pub/in → /sub/out) on the same relay process. The bench's JSON payload keeps its stamp
# through the map. It also reads the relay's CPU time (/proc/PID/stat) during each cell and
# during 3 s without traffic. Results: perf/results/pipeline-<date>/ (one JSON per cell and
# README.md with the table, p50/p99/p99.9/max and the added latency pipeline − direct).
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
ROOT=$PWD

DUR=10s; WARM=2s; RATE=10k; IDLE_S=3; STEP='{ map = "{v: .sb}" }'
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) DUR=1s; WARM=300ms; IDLE_S=1 ;;
    --rate) RATE=$2; shift ;;
    --duration) DUR=$2; shift ;;
    --step) STEP=$2; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "perf/pipeline.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

echo "== building (release)"
BIN=$ROOT/target/release
if [ -n "${BENCH:-}" ]; then
  # BENCH=/path/to/sluice-bench: use that build of the benchmark instead of this tree's.
  cargo build --release --locked --bin sluice
else
  cargo build --release --locked --bin sluice --bin sluice-bench
  BENCH=$BIN/sluice-bench
fi

STAMP=$(date -u +%Y-%m-%dT%H%MZ)
OUT=$ROOT/perf/results/pipeline-$STAMP
mkdir -p "$OUT"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, clock ticks
HZ=$(getconf CLK_TCK)

: > "$OUT/cells.tsv"
for idle in spin spin-then-park park; do
  cfg=$OUT/relay-$idle.toml
  cat > "$cfg" <<TOML
listen = "127.0.0.1:0"
[workers]
count = 1
idle = "$idle"
pin = true

[[pipeline]]
name = "map"
from = "in"
to = "out"
steps = [$STEP]
TOML
  "$BIN/sluice" --config "$cfg" --log-level info > "$OUT/relay-$idle.log" 2>&1 &
  PID=$!
  addr=$(listen_addr "$OUT/relay-$idle.log" "$PID") || exit 1
  # The pool starts at the first loop iteration; give it a moment, then measure idle CPU.
  sleep 0.5
  t0=$(ticks "$PID"); sleep "$IDLE_S"; t1=$(ticks "$PID")
  idle_cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v s="$IDLE_S" 'BEGIN { printf "%.0f", 100 * d / hz / s }')
  for path in direct pipeline; do
    if [ $path = direct ]; then pub=direct; sub=direct; else pub=in; sub=out; fi
    json=$OUT/$idle-$path.json
    t0=$(ticks "$PID"); w0=$(date +%s.%N)
    "$BENCH" pubsub --pub "ws://$addr/pub/$pub" --sub "ws://$addr/sub/$sub" \
      --rate "$RATE" --duration "$DUR" --warmup "$WARM" --format json --size 64 \
      --label "$idle $path" --json "$json" --quiet > "$OUT/$idle-$path.txt"
    t1=$(ticks "$PID"); w1=$(date +%s.%N)
    busy_cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v a="$w0" -v b="$w1" 'BEGIN { printf "%.0f", 100 * d / hz / (b - a) }')
    printf '%s\t%s\t%s\t%s\t%s\n' "$idle" "$path" "$(basename "$json")" "$busy_cpu" "$idle_cpu" >> "$OUT/cells.tsv"
    echo "   $idle $path: done (relay CPU ${busy_cpu}% busy, ${idle_cpu}% idle)"
  done
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$OUT" "$RATE" "$DUR" "$LOAD" "$STEP" <<'PY'
import json, sys, platform, os
out, rate, dur, load, step = sys.argv[1:6]
rows = [l.rstrip("\n").split("\t") for l in open(f"{out}/cells.tsv")]
cells = {}
for idle, path, js, busy, idle_cpu in rows:
    r = json.load(open(os.path.join(out, js)))
    cells[(idle, path)] = (r["latency"], r["counts"], busy, idle_cpu)
lines = [f"# Pipeline hop: extra latency of a pipeline (`steps = [{step}]`) over the direct path",
         "", f"`perf/pipeline.sh` — {rate} msg/s, 64-byte JSON payloads, {dur} measured per cell, "
         "one publisher and one subscriber, one pinned worker; latency from the intended send time "
         "(coordinated omission corrected), µs. Relay CPU is % of one core (100 = a full core).",
         "", f"Machine: {os.cpu_count()} cores, {platform.platform()}; load average at the end: {load} "
         "(other work on the machine shares its cores with the relay, the worker and the benchmark).", "",
         "| idle strategy | path | p50 | p99 | p99.9 | max | delivered/expected | relay CPU busy | relay CPU idle |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
for (idle, path), (lat, counts, busy, idle_cpu) in cells.items():
    lines.append(f"| {idle} | {path} | {lat['p50']:.1f} | {lat['p99']:.1f} | {lat['p999']:.1f} | "
                 f"{lat['max']:.1f} | {counts['delivered']}/{counts['expected']} | {busy}% | {idle_cpu}% |")
lines += ["", "Added by the worker hop (pipeline − direct, same relay, same run):", "",
          "| idle strategy | p50 | p99 | p99.9 |", "|---|---:|---:|---:|"]
for idle in ["spin", "spin-then-park", "park"]:
    if (idle, "direct") in cells and (idle, "pipeline") in cells:
        d, p = cells[(idle, "direct")][0], cells[(idle, "pipeline")][0]
        lines.append(f"| {idle} | {p['p50'] - d['p50']:+.1f} | {p['p99'] - d['p99']:+.1f} | "
                     f"{p['p999'] - d['p999']:+.1f} |")
open(f"{out}/README.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "results: $OUT"
