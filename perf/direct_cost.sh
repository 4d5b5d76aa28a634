#!/usr/bin/env bash
# perf/direct_cost.sh — exact CPU cost of the direct path (a topic without pipeline) of two
# relay builds: instructions the relay executes (valgrind/callgrind, user space, whole process)
# to relay messages, one publisher → one subscriber, at a fixed rate.
#
#   perf/direct_cost.sh BASE_SLUICE NEW_SLUICE [RATES] [REPS] [ARGS…]
#   e.g. perf/direct_cost.sh /tmp/main/target/release/sluice target/release/sluice "5k 20k" 3
#
# ARGS… are passed to both relays. NEW_ARGS (environment, split on spaces) are passed to the new
# relay only, for settings the base build does not have, e.g. raw mode without history against
# a build that has none:
#   NEW_ARGS="--config perf/configs/history-off.toml" perf/direct_cost.sh /tmp/mainbase/target/release/sluice target/release/sluice
# BENCH_ARGS (environment, split on spaces) go to sluice-bench in every run, e.g. envelope mode
# on both sides: BENCH_ARGS=--envelope perf/direct_cost.sh <base> <new>.
# NEW_BENCH_ARGS (environment, split on spaces) go to sluice-bench in the new relay's runs only,
# e.g. what envelope mode costs over raw mode, one binary against itself:
#   NEW_BENCH_ARGS=--envelope perf/direct_cost.sh target/release/sluice target/release/sluice
#
# Instruction counts do not depend on the machine's load the way timings do, but the number of
# loop iterations does: at a low rate, two messages sometimes share an iteration, sometimes
# not, and one iteration costs about as much as one message. So each build runs REPS times for
# 6 s at each rate (the higher rate packs more messages into an iteration), and the totals are
# fitted by least squares as
#   instructions = start-up + a × loop iterations + b × messages
# (iterations counted by callgrind as calls of `Reactor::poll_once`). `b` is the cost of
# relaying one message, `a` of one loop iteration; the script prints both, and what a message
# costs with each at the iterations per message seen at each rate, with the ratio new/base.
# Needs valgrind and sluice-bench (BENCH=path, default target/release/sluice-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
BASE=$1; NEW=$2; RATES=${3:-5k 20k}; REPS=${4:-3}
shift $(( $# < 4 ? $# : 4 ))
BENCH=${BENCH:-target/release/sluice-bench}
OUT=$(mktemp -d)
for v in base new; do
  bin=$BASE; extra=(); bench_extra=()
  read -r -a bench_extra <<< "${BENCH_ARGS:-}"
  if [ $v = new ]; then
    bin=$NEW
    read -r -a extra <<< "${NEW_ARGS:-}"
    read -r -a new_bench <<< "${NEW_BENCH_ARGS:-}"
    bench_extra+=("${new_bench[@]}")
  fi
  for rep in $(seq 1 "$REPS"); do
    for rate in $RATES; do
      run="$OUT/$v-$rate-$rep"
      valgrind --tool=callgrind --callgrind-out-file="$run.cg" "$bin" --listen 127.0.0.1:0 "$@" "${extra[@]}" \
        > "$run.log" 2>&1 &
      pid=$!
      addr=$(listen_addr "$run.log" "$pid" 400) || exit 1
      "$BENCH" pubsub --pub "ws://$addr/pub/t" --sub "ws://$addr/sub/t" --rate "$rate" \
        --duration 6s --warmup 0s --json "$run.json" --quiet "${bench_extra[@]}" > /dev/null
      kill -INT "$pid"; wait "$pid" 2>/dev/null || true
      ir=$(grep -m1 '^summary:\|^totals:' "$run.cg" | awk '{print $2}')
      callgrind_annotate --inclusive=yes --tree=caller "$run.cg" > "$run.tree" 2>/dev/null
      iters=$(grep -o 'Reactor::run ([0-9,]*x)' "$run.tree" | head -1 | grep -o '[0-9,]*x' | tr -d ',x')
      read -r n sent < <(python3 -c "import json; c = json.load(open('$run.json'))['counts']; print(c['delivered'], c['sent'])")
      if [ "$n" -lt "$sent" ]; then
        echo "warning: $v $rate #$rep delivered $n of $sent messages: the relay fell behind (see $run.log); this run does not measure the cost of a message, use lower rates" >&2
      fi
      echo "$v $ir $iters $n $rate" >> "$OUT/points"
      echo "$v $rate #$rep: $n messages, $iters loop iterations, $ir instructions"
    done
  done
done
python3 - "$OUT/points" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
def fit(v):
    pts = [(1.0, float(i), float(n), float(ir)) for (w, ir, i, n, _) in rows if w == v]
    # Normal equations of ir = c + a*i + b*n.
    m = [[sum(p[r] * p[c] for p in pts) for c in range(3)] for r in range(3)]
    y = [sum(p[r] * p[3] for p in pts) for r in range(3)]
    for k in range(3):
        piv = m[k][k]
        for r in range(3):
            if r != k:
                f = m[r][k] / piv
                m[r] = [m[r][c] - f * m[k][c] for c in range(3)]
                y[r] -= f * y[k]
    c, a, b = (y[k] / m[k][k] for k in range(3))
    return c, a, b
res = {v: fit(v) for v in ("base", "new")}
for v in ("base", "new"):
    c, a, b = res[v]
    print(f"{v}: {b:,.0f} instructions per message, {a:,.0f} per loop iteration (start-up {c:,.0f})")
# The two coefficients trade off against each other from one set of runs to the next; their
# sum at the iterations per message actually seen at each rate is what a message costs.
for rate in dict.fromkeys(r[4] for r in rows):
    ratio = [float(i) / float(n) for (_, _, i, n, r) in rows if r == rate]
    ratio = sum(ratio) / len(ratio)
    cost = {v: res[v][2] + res[v][1] * ratio for v in res}
    print(f"at {rate}/s ({ratio:.2f} loop iterations per message): base {cost['base']:,.0f}, "
          f"new {cost['new']:,.0f} instructions per message, new/base {cost['new'] / cost['base']:.3f}")
PY
