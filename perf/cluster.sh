#!/usr/bin/env bash
# perf/cluster.sh — what a NATS cluster adds to Sluice's latency: the same load (sluice-bench
# pubsub, 1 publisher → S subscribers) against a single node, and against a two-node cluster on
# one nats-server with JetStream (file storage): published and subscribed on the same node, and
# published on node a, subscribed on node b. The cells run one after the other, interleaved
# ROUNDS times, in the same run; latency is from the intended send time, in µs.
#
#   perf/cluster.sh                     5k msg/s, 10 subscribers, 10 s per cell, 2 rounds
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
    printf '[cluster]\nnats = ["nats://127.0.0.1:%s"]\nnode = "%s"\nnodes = ["a", "b"]\n' \
      "$port" "$2" >> "$cfg"
  fi
  "$SLUICE" --config "$cfg" > "$WORK/$1.log" 2>&1 &
  pids+=($!)
  listen_addr "$WORK/$1.log" "$!"
}
single=$(start single)
a=$(start a a)
b=$(start b b)

# cell NAME PUB SUB ROUND
cell() {
  "$BENCH" pubsub --pub "ws://$2/pub/$1-$4" --sub "ws://$3/sub/$1-$4" --subs "$SUBS" \
    --rate "$RATE" --duration "$DURATION" --warmup 2s --drain 5s --quiet \
    --json "$OUT/$1-$4.json" --label "$1" > "$OUT/$1-$4.txt"
}
for r in $(seq 1 "$ROUNDS"); do
  cell single "$single" "$single" "$r"
  cell same-node "$a" "$a" "$r"
  cell cross-node "$a" "$b" "$r"
done

python3 - "$OUT" "$RATE" "$SUBS" "$DURATION" "$ROUNDS" > "$OUT/README.md" <<'EOF'
import json, os, sys
out, rate, subs, duration, rounds = sys.argv[1:]
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
EOF
cat "$OUT/README.md"
echo "results in $OUT/README.md"
