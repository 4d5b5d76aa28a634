#!/usr/bin/env bash
# perf/cluster.sh — what a NATS cluster adds to Sluice, against a single node in the same run.
# Latency: the same load (sluice-bench pubsub, 1 publisher → SUBS subscribers at RATE) against
# a single node, and against a three-node cluster on one nats-server with JetStream (file
# storage): published and subscribed on node a, and published on a, subscribed on b.
# Throughput: three sluice-bench runs at once (each 1 publisher → TSUBS subscribers at TRATE on
# its own topic), all on the single node, then with their subscribers on nodes a, b and c
# (publishers on a): delivered messages per second, summed. The cells are interleaved ROUNDS
# times; latency is from the intended send time, in µs.
#
#   perf/cluster.sh            RATE=5k SUBS=10 TRATE=2k TSUBS=50 DURATION=10s ROUNDS=2
#   RATE=20k SUBS=100 ROUNDS=3 perf/cluster.sh
#
# Needs target/release/{sluice,sluice-bench} (cargo build --release) and nats-server on PATH or
# in $SLUICE_VENV/bin (tests/tools/install-deps.sh puts it in target/venv/bin). Every server
# listens on 127.0.0.1. Results: perf/results/cluster-<date>/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
case "${1:-}" in
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  "") ;;
  *) echo "perf/cluster.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac
RATE=${RATE:-5k} SUBS=${SUBS:-10} DURATION=${DURATION:-10s} ROUNDS=${ROUNDS:-2}
TRATE=${TRATE:-2k} TSUBS=${TSUBS:-50}
SLUICE=target/release/sluice BENCH=target/release/sluice-bench
NATS=$(command -v nats-server || echo "${SLUICE_VENV:-target/venv}/bin/nats-server")
for b in "$SLUICE" "$BENCH" "$NATS"; do
  [ -x "$b" ] || { echo "perf/cluster.sh: $b not found (see --help)" >&2; exit 1; }
done
OUT=perf/results/cluster-$(date -u +%Y-%m-%dT%H%MZ)
WORK=$(mktemp -d)
mkdir -p "$OUT"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$NATS" --jetstream --addr 127.0.0.1 --port "$port" --store_dir "$WORK/js" > "$WORK/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do grep -q "Server is ready" "$WORK/nats.log" && break; sleep 0.05; done
grep -q "Server is ready" "$WORK/nats.log" || { cat "$WORK/nats.log" >&2; exit 1; }

# start NAME [CLUSTER-NODE]: a relay listening on port 0; prints its address.
start() {
  local cfg="$WORK/$1.toml"
  printf 'listen = "127.0.0.1:0"\n' > "$cfg"
  if [ -n "${2:-}" ]; then
    printf '[cluster]\nnats = ["nats://127.0.0.1:%s"]\nnode = "%s"\nnodes = ["a", "b", "c"]\n' \
      "$port" "$2" >> "$cfg"
  fi
  "$SLUICE" --config "$cfg" > "$WORK/$1.log" 2>&1 &
  pids+=($!)
  listen_addr "$WORK/$1.log" "$!"
}
single=$(start single)
a=$(start a a)
b=$(start b b)
c=$(start c c)

# cell NAME PUB SUB ROUND
cell() {
  "$BENCH" pubsub --pub "ws://$2/pub/$1-$4" --sub "ws://$3/sub/$1-$4" --subs "$SUBS" \
    --rate "$RATE" --duration "$DURATION" --warmup 2s --drain 5s --quiet \
    --json "$OUT/$1-$4.json" --label "$1" > "$OUT/$1-$4.txt"
}
# tput NAME ROUND SUB1 SUB2 SUB3: three runs at once, publishers on a (or the single node).
tput() {
  local i=0 pub=$a pids=()
  [ "$1" = single ] && pub=$single
  for sub in "$3" "$4" "$5"; do
    i=$((i + 1))
    "$BENCH" pubsub --pub "ws://$pub/pub/t$1-$2-$i" --sub "ws://$sub/sub/t$1-$2-$i" \
      --subs "$TSUBS" --rate "$TRATE" --duration "$DURATION" --warmup 2s --drain 5s --quiet \
      --json "$OUT/tput-$1-$2-$i.json" > "$OUT/tput-$1-$2-$i.txt" &
    pids+=($!)
  done
  wait "${pids[@]}"
}
for r in $(seq 1 "$ROUNDS"); do
  cell single "$single" "$single" "$r"
  cell same-node "$a" "$a" "$r"
  cell cross-node "$a" "$b" "$r"
  tput single "$r" "$single" "$single" "$single"
  tput cluster "$r" "$a" "$b" "$c"
done

python3 - "$OUT" "$RATE" "$SUBS" "$DURATION" "$ROUNDS" "$TRATE" "$TSUBS" > "$OUT/README.md" <<'EOF'
import json, os, sys
out, rate, subs, duration, rounds, trate, tsubs = sys.argv[1:]
load = open("/proc/loadavg").read().split()[:3]
print(f"# Cluster latency, {os.path.basename(out)[8:]}\n")
print(f"`RATE={rate} SUBS={subs} DURATION={duration} ROUNDS={rounds} perf/cluster.sh`: 1 publisher → "
      f"{subs} subscribers at {rate} msg/s, {duration} per cell after 2 s of warm-up, cells interleaved "
      f"{rounds} times. Machine: {os.cpu_count()} cores; load average at the end {' '.join(load)}. "
      "Latency in µs from the intended send time.\n")
print("| round | cell | p50 | p99 | p99.9 | max | delivered/s | lost | p50 ÷ single | p99 ÷ single |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in range(1, int(rounds) + 1):
    base = json.load(open(f"{out}/single-{r}.json"))["latency"]
    for cell in ["single", "same-node", "cross-node"]:
        d = json.load(open(f"{out}/{cell}-{r}.json"))
        l, c = d["latency"], d["counts"]
        print(f"| {r} | {cell} | {l['p50']:.0f} | {l['p99']:.0f} | {l['p999']:.0f} | {l['max']:.0f} | "
              f"{d['rates']['delivered']:.0f} | {c['lost']} | {l['p50'] / base['p50']:.2f} | "
              f"{l['p99'] / base['p99']:.2f} |")
print(f"\nThroughput: three runs at once, each 1 publisher → {tsubs} subscribers at {trate} msg/s; "
      "single: all on one node; cluster: publishers on a, subscribers on a, b and c.\n")
print("| round | cell | delivered/s (sum) | lost (sum) | worst p99 | cluster ÷ single |")
print("|---|---|---:|---:|---:|---:|")
for r in range(1, int(rounds) + 1):
    sums = {}
    for cell in ["single", "cluster"]:
        runs = [json.load(open(f"{out}/tput-{cell}-{r}-{i}.json")) for i in (1, 2, 3)]
        sums[cell] = sum(d["rates"]["delivered"] for d in runs)
        lost = sum(d["counts"]["lost"] for d in runs)
        p99 = max(d["latency"]["p99"] for d in runs)
        ratio = f"{sums[cell] / sums['single']:.2f}" if cell == "cluster" else ""
        print(f"| {r} | {cell} | {sums[cell]:.0f} | {lost} | {p99:.0f} | {ratio} |")
EOF
cat "$OUT/README.md"
echo "results in $OUT/README.md"
