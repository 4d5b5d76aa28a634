#!/usr/bin/env bash
# perf/run.sh — hold Sluice against its baselines, side by side, in one run.
#
#   perf/run.sh            full run (10 s measured per cell, 2 s warm-up, 10,000 idle connections)
#   perf/run.sh --quick    a check that the harness works (1 s per cell, 1,000 idle connections)
#   perf/run.sh --only 'pubsub|echo'   only the scenarios whose name matches the regex
#
# Builds the relay, sluice-bench and the perf/ workspace (floor relay, tokio relay, probe,
# report) in release mode, starts every server on 127.0.0.1 with an OS-assigned port, then runs
# the matrix below scenario by scenario, each scenario on every server in turn (the order rotates
# per scenario, so no server always goes first). Results: perf/results/<date>/ holds one JSON per
# cell, one SVG per scenario (all servers on one latency-by-percentile plot) and README.md (the
# table, the ratios Sluice/baseline and Sluice/floor, the targets, the machine). The table is
# also printed.
#
# Adding a scenario: one `cell` line per server in `matrix()` below. A scenario that needs the
# relay started with its own configuration (for instance a topic with a pipeline) uses
# `config_cell NAME FILE -- sluice-bench args…`: the harness starts a dedicated
# `sluice --config FILE` (its `listen` is overridden with a free port) for that scenario and
# runs the bench against it; @A@ in the arguments is replaced by that server's address.
# Baselines have no pipelines, so such a row has Sluice only. `envelope_scenario NAME FILE --
# sluice-bench args…` runs the bench on a dedicated `sluice --config FILE` with `--envelope`
# (subscribers in envelope mode, `sluice.v1`), and the same load on the floor relay, which has no
# envelopes and so relays the raw payloads: the row holds Sluice's envelopes against the floor.
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
ROOT=$PWD

MODE=full
ONLY=.
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    --only) ONLY="$2"; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "perf/run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$MODE" = quick ]; then
  DUR=1s; WARM=300ms; IDLE=1000; PROBE_S=1.5
else
  DUR=10s; WARM=2s; IDLE=10000; PROBE_S=10
fi

echo "== building (release)"
cargo build --release --locked --bin sluice --bin sluice-bench
(cd perf && cargo build --release --locked)
BIN=$ROOT/target/release
PBIN=$ROOT/perf/target/release
BENCH=$BIN/sluice-bench

# Every server needs a descriptor per idle connection; sluice-bench raises its own limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt $((IDLE + 100)) ]; then
  echo "perf/run.sh: the idle scenario needs $((IDLE + 100)) file descriptors; ulimit -n is $(ulimit -n) (raise the hard limit)" >&2
  exit 1
fi

STAMP=$(date -u +%Y-%m-%dT%H%MZ)
[ "$MODE" = quick ] && STAMP="$STAMP-quick"
OUT=$ROOT/perf/results/$STAMP
mkdir -p "$OUT"
: > "$OUT/manifest.tsv"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# start NAME CMD… : start a server, wait for its "listening on ADDR" line; sets ADDR_NAME, PID_NAME.
start() {
  local name=$1; shift
  "$@" >"$OUT/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  local addr
  addr=$(listen_addr "$OUT/$name.log" "$pid") || { echo "$name failed to start" >&2; exit 1; }
  printf -v "ADDR_$name" '%s' "$addr"
  printf -v "PID_$name" '%s' "$pid"
  echo "   $name on $addr (pid $pid)"
}

echo "== starting servers"
start sluice "$BIN/sluice" --listen 127.0.0.1:0 --log-level info
start floor "$PBIN/floor-relay" --listen 127.0.0.1:0 --tcp-echo 127.0.0.1:0
TCP_ECHO=$(grep -o 'tcp echo on [0-9.:]*' "$OUT/floor.log" | awk '{print $4}')
start tokio "$PBIN/tokio-relay" --listen 127.0.0.1:0
SERVERS=(sluice tokio floor)

# cell SCENARIO SERVER -- bench args (with @A@ = the server's address, @PID@ = its pid)
cell() {
  local scenario=$1 server=$2; shift 3
  local addr_var="ADDR_$server" pid_var="PID_$server"
  local args=("${@//@A@/${!addr_var}}")
  args=("${args[@]//@PID@/${!pid_var}}")
  local file="$scenario.$server.json"
  echo "-- $scenario on $server"
  if "$BENCH" "${args[@]}" --quiet --label "$server" --json "$OUT/$file" >"$OUT/$scenario.$server.txt" 2>&1; then
    sed -n '2,2p;5,6p' "$OUT/$scenario.$server.txt" | sed 's/^/   /'
  else
    echo "   FAILED: $(tail -1 "$OUT/$scenario.$server.txt")"
  fi
  printf '%s\t%s\t%s\n' "$scenario" "$server" "$file" >> "$OUT/manifest.tsv"
}

ROTATE=0
# scenario NAME -- bench args: run on every server, in an order that rotates per scenario.
scenario() {
  local name=$1; shift
  [[ "$name" =~ $ONLY ]] || return 0
  local n=${#SERVERS[@]}
  for i in $(seq 0 $((n - 1))); do
    cell "$name" "${SERVERS[$(((i + ROTATE) % n))]}" "$@"
  done
  ROTATE=$((ROTATE + 1))
  plot "$name"
}

# config_cell NAME FILE -- bench args: Sluice only, on a dedicated `sluice --config FILE`.
config_cell() {
  local name=$1 file=$2; shift 2
  [[ "$name" =~ $ONLY ]] || return 0
  start "sluice_cfg" "$BIN/sluice" --config "$file" --listen 127.0.0.1:0 --log-level info
  # `cell` reads ADDR_sluice and PID_sluice: point them at the dedicated instance for this call.
  ADDR_sluice=$ADDR_sluice_cfg PID_sluice=$PID_sluice_cfg cell "$name" sluice "$@"
  kill "$PID_sluice_cfg" 2>/dev/null || true
  plot "$name"
}

# envelope_scenario NAME FILE -- bench args: the floor relay (raw), then Sluice with FILE and
# its subscribers in envelope mode.
envelope_scenario() {
  local name=$1 file=$2; shift 2
  [[ "$name" =~ $ONLY ]] || return 0
  cell "$name" floor "$@"
  start "sluice_cfg" "$BIN/sluice" --config "$file" --listen 127.0.0.1:0 --log-level info
  ADDR_sluice=$ADDR_sluice_cfg PID_sluice=$PID_sluice_cfg cell "$name" sluice "$@" --envelope
  kill "$PID_sluice_cfg" 2>/dev/null || true
  plot "$name"
}

plot() {
  local files=()
  for f in "$OUT/$1".*.json; do grep -q '"spectrum": \[$' "$f" 2>/dev/null && files+=("$f"); done
  [ ${#files[@]} -gt 0 ] && "$BENCH" plot --title "$1 (latency from intended send time)" --out "$OUT/$1.svg" "${files[@]}" || true
}

T="--duration $DUR --warmup $WARM"
echo "== matrix ($MODE: $DUR measured per cell, $WARM warm-up)"
matrix() {
  # First, while every server is fresh: memory per idle connection.
  scenario idle-$IDLE        -- idle   --url ws://@A@/sub/idle --conns $IDLE --pid @PID@ --hold 2s
  scenario pubsub-1-1-10k    -- pubsub --pub ws://@A@/pub/a --sub ws://@A@/sub/a --subs 1    --rate 10k $T
  scenario pubsub-1-100-1k   -- pubsub --pub ws://@A@/pub/b --sub ws://@A@/sub/b --subs 100  --rate 1k  $T
  scenario pubsub-1-1-50k    -- pubsub --pub ws://@A@/pub/c --sub ws://@A@/sub/c --subs 1    --rate 50k $T
  # The bench's own ceiling on this machine: 200k msg/s offered (issue #3), its send lag shows
  # whether it kept up.
  scenario pubsub-1-1-200k   -- pubsub --pub ws://@A@/pub/g --sub ws://@A@/sub/g --subs 1    --rate 200k $T
  scenario pubsub-1-1000-100 -- pubsub --pub ws://@A@/pub/d --sub ws://@A@/sub/d --subs 1000 --rate 100 $T
  scenario flood-1-1         -- flood  --pub ws://@A@/pub/e --sub ws://@A@/sub/e --subs 1  --window 10k $T
  scenario flood-1-10        -- flood  --pub ws://@A@/pub/f --sub ws://@A@/sub/f --subs 10 --window 10k $T
  scenario echo-1-10k        -- echo   --url ws://@A@/echo --conns 1 --rate 10k $T
  scenario connect-1k        -- connect --url ws://@A@/echo --rate 1k $T
  # A topic with a `map` pipeline (per idle strategy, side by side with the direct path:
  # perf/pipeline.sh).
  # Envelope mode with a history of 1,000 per topic, against the floor.
  envelope_scenario pubsub-env-1-1-10k  perf/configs/envelope.toml -- pubsub --pub ws://@A@/pub/h --sub ws://@A@/sub/h --subs 1   --rate 10k $T
  envelope_scenario pubsub-env-1-100-1k perf/configs/envelope.toml -- pubsub --pub ws://@A@/pub/i --sub ws://@A@/sub/i --subs 100 --rate 1k  $T
  config_cell pubsub-map-1-1-10k perf/configs/map.toml -- pubsub --pub ws://@A@/pub/in --sub ws://@A@/sub/out --rate 10k $T
}
matrix

if [[ "tcp-rtt" =~ $ONLY ]]; then
  echo "-- tcp-rtt (plain loopback TCP ping-pong, 64 B, 10k/s)"
  "$BENCH" tcp --addr "$TCP_ECHO" --rate 10k $T --quiet --label "tcp" --json "$OUT/tcp-rtt.floor.json" > "$OUT/tcp-rtt.txt" 2>&1 || echo "   FAILED"
  printf 'tcp-rtt\tfloor\ttcp-rtt.floor.json\n' >> "$OUT/manifest.tsv"
fi
if [[ "pubsub-1-1-10k" =~ $ONLY ]]; then
  echo "-- independent probe on the floor relay, 1→1 at 10k/s"
  "$PBIN/probe" "ws://$ADDR_floor/pub/probe" "ws://$ADDR_floor/sub/probe" 10000 "$PROBE_S" > "$OUT/probe.json" 2>"$OUT/probe.err" || echo "   FAILED"
  printf 'pubsub-1-1-10k\tprobe\tprobe.json\n' >> "$OUT/manifest.tsv"
fi
echo "-- sluice-bench self-test"
"$BENCH" self-test --duration "$DUR" --json "$OUT/self-test.json" > "$OUT/self-test.txt" 2>&1 || echo "   FAILED"

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# Sluice performance run $STAMP ($MODE)"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r), $(rustc --version)."
  echo "Load average at the end of the run: $LOAD (other work on the machine shows here)."
  echo "Each cell: $DUR measured after $WARM of warm-up. Latency is from the intended send time (coordinated omission corrected), in µs unless marked ms."
  echo "Command: \`perf/run.sh$([ "$MODE" = quick ] && echo ' --quick')\`"
  echo
  "$PBIN/perf-report" "$OUT"
  echo
  echo "sluice-bench self-test:"
  echo
  echo '```text'
  cat "$OUT/self-test.txt"
  echo '```'
} > "$OUT/README.md"
echo
cat "$OUT/README.md"
echo
echo "results: ${OUT#"$ROOT"/}/README.md"
