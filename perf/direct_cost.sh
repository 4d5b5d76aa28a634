#!/usr/bin/env bash
# perf/direct_cost.sh — exact CPU cost of the direct path (a topic without pipeline) of two
# relay builds: instructions the relay executes (valgrind/callgrind, user space, whole process)
# to relay the same fixed number of messages, one publisher → one subscriber.
#
#   perf/direct_cost.sh BASE_SLUICE NEW_SLUICE [RATE] [DURATION]
#   e.g. perf/direct_cost.sh /tmp/main/target/release/sluice target/release/sluice 5k 4s
#
# Instruction counts do not depend on the machine's load the way timings do, so this shows
# whether a change adds work per message even on a busy machine. Needs valgrind and
# sluice-bench (BENCH=path, default target/release/sluice-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
BASE=$1; NEW=$2; RATE=${3:-5k}; DUR=${4:-4s}
BENCH=${BENCH:-target/release/sluice-bench}
OUT=$(mktemp -d)
for v in base new; do
  bin=$BASE; [ $v = new ] && bin=$NEW
  valgrind --tool=callgrind --callgrind-out-file="$OUT/$v.cg" "$bin" --listen 127.0.0.1:0 > "$OUT/$v.log" 2>&1 &
  pid=$!
  addr=$(listen_addr "$OUT/$v.log" "$pid" 400) || exit 1
  "$BENCH" pubsub --pub "ws://$addr/pub/t" --sub "ws://$addr/sub/t" --rate "$RATE" \
    --duration "$DUR" --warmup 0s --json "$OUT/$v.json" --quiet > /dev/null
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  ir=$(grep -m1 '^summary:\|^totals:' "$OUT/$v.cg" | awk '{print $2}')
  n=$(python3 -c "import json; print(json.load(open('$OUT/$v.json'))['counts']['delivered'])")
  echo "$v: $n messages delivered, $ir instructions ($((ir / n)) per message, start-up included)"
done
