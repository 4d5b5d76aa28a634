#!/usr/bin/env bash
# perf/deflate-relay.sh — permessage-deflate in the relay, against the relay without it, in one
# run on one relay process (release build, default configuration: compression on, level 2,
# min_size 256):
#
#   1. pubsub: 1 publisher → 1 and 100 subscribers at 1,000 msg/s of ~1 KiB dashboard JSON
#      (`sluice-bench --format dashboard`), subscribers with `--deflate` (offering the extension
#      as Chromium does, inflating what arrives) and without, alternating. Per cell: latency
#      p50/p99/p99.9/max from the intended send time, the relay's CPU per published message
#      (utime+stime from /proc, 10 ms ticks), bytes it queued to subscribers and the time its
#      compressor took (both from /metrics).
#   2. idle: relay RSS per connection with N connections held, with and without the extension
#      negotiated, silent and after 20 messages of ~1 KiB to all of them.
#
#   perf/deflate-relay.sh            full run (10 s measured per pubsub cell, 5,000 idle)
#   perf/deflate-relay.sh --quick    a check that the harness works (its numbers are not results)
#
# Results: perf/results/deflate-relay-<date>/ (one JSON per cell, README.md with the tables and
# the machine's load; on a shared machine the tails measure the neighbours too).
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh

MODE=full
case "${1:-}" in
  --quick) MODE=quick ;;
  "") ;;
  -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
  *) echo "perf/deflate-relay.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac
if [ "$MODE" = quick ]; then DUR=1s; WARM=300ms; IDLE=500; else DUR=10s; WARM=1s; IDLE=5000; fi

cargo build --release --locked --bin sluice --bin sluice-bench
BIN=$PWD/target/release
OUT=perf/results/deflate-relay-$(date -u +%Y-%m-%dT%H%MZ)$([ "$MODE" = quick ] && echo -quick || true)
mkdir -p "$OUT"
# start_relay LOG: a fresh relay; sets PID and ADDR.
PID=""
start_relay() {
  "$BIN/sluice" --listen 127.0.0.1:0 --log-level info >"$1" 2>&1 &
  PID=$!
  ADDR=$(listen_addr "$1" "$PID")
}
stop_relay() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
trap 'stop_relay' EXIT
ulimit -n "$(ulimit -Hn)" || true
start_relay "$OUT/relay.log"

metrics() { curl -s "http://$ADDR/metrics"; }
# sample NAME: one series' value from the last /metrics fetch (in $M).
sample() { awk -v s="$1" '$1 == s { print $2 }' <<<"$M"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
TICK_NS=$((1000000000 / $(getconf CLK_TCK)))

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
ROWS=()
cell() { # cell ROUND SUBS DEFLATE(0|1)
  local round=$1 subs=$2 z=$3 name flag=""
  name="pubsub-$subs-$([ "$z" = 1 ] && echo deflate || echo plain)-r$round"
  if [ "$z" = 1 ]; then flag=--deflate; fi
  M=$(metrics)
  local in0 out0 zs0 zin0 zout0 cpu0
  in0=$(sample sluice_messages_in_total); out0=$(sample sluice_bytes_out_total)
  zs0=$(sample sluice_deflate_compress_seconds_total)
  zin0=$(sample 'sluice_deflate_bytes_total{direction="compress",stage="in"}')
  zout0=$(sample 'sluice_deflate_bytes_total{direction="compress",stage="out"}')
  cpu0=$(cpu_ticks)
  "$BIN/sluice-bench" pubsub --pub "ws://$ADDR/pub/$name" --sub "ws://$ADDR/sub/$name" \
    --subs "$subs" --rate 1k --size 1024 --format dashboard $flag \
    --duration "$DUR" --warmup "$WARM" --drain 5s --quiet --json "$OUT/$name.json" \
    >"$OUT/$name.txt"
  local cpu1; cpu1=$(cpu_ticks)
  M=$(metrics)
  ROWS+=("$(python3 - "$OUT/$name.json" "$name" "$subs" \
    "$(( $(sample sluice_messages_in_total) - in0 ))" \
    "$(( (cpu1 - cpu0) * TICK_NS ))" \
    "$(( $(sample sluice_bytes_out_total) - out0 ))" \
    "$(python3 -c "print($(sample sluice_deflate_compress_seconds_total) - $zs0)")" \
    "$(( $(sample 'sluice_deflate_bytes_total{direction="compress",stage="in"}') - zin0 ))" \
    "$(( $(sample 'sluice_deflate_bytes_total{direction="compress",stage="out"}') - zout0 ))" <<'PY'
import json, sys
f, name, subs, msgs, cpu_ns, out, zs, zin, zout = sys.argv[1:]
d = json.load(open(f)); l = d["latency"]; c = d["counts"]
msgs = int(msgs); subs = int(subs)
ratio = f"{int(zout) / int(zin):.3f}" if int(zin) else "–"
print(f"| {name} | {subs} | {c['sent']} | {c['delivered']} | {c['lost']} | "
      f"{l['p50']:.0f} | {l['p99']:.0f} | {l['p999']:.0f} | {l['max']:.0f} | "
      f"{int(cpu_ns) / max(msgs, 1) / 1000:.1f} | {float(zs) * 1e6 / max(msgs, 1):.1f} | "
      f"{int(out) / max(msgs * subs, 1):.0f} | {ratio} |")
PY
)")
}

for round in 1 2; do
  for subs in 1 100; do
    if [ "$round" = 1 ]; then
      cell "$round" "$subs" 0; cell "$round" "$subs" 1
    else
      cell "$round" "$subs" 1; cell "$round" "$subs" 0
    fi
  done
done

M=$(metrics)
NEGOTIATED=$(sample 'sluice_deflate_negotiations_total{result="accepted"}')
stop_relay

IDLE_ROWS=()
idle() { # idle ROUND DEFLATE(0|1) TRAFFIC(0|1), on a fresh relay
  local round=$1 z=$2 t=$3 name flag="" hold=3s suffix=""
  if [ "$t" = 1 ]; then hold=15s; suffix=-traffic; fi
  name="idle-$IDLE-$([ "$z" = 1 ] && echo deflate || echo plain)$suffix-r$round"
  if [ "$z" = 1 ]; then flag=--deflate; fi
  start_relay "$OUT/$name.relay.log"
  "$BIN/sluice-bench" idle --url "ws://$ADDR/sub/$name" --conns "$IDLE" --hold "$hold" \
    --pid "$PID" $flag --quiet --json "$OUT/$name.json" >"$OUT/$name.txt" &
  local bench=$!
  if [ "$t" = 1 ]; then
    # Once all are subscribed, 20 messages of ~1 KiB to all of them (the bench reads the RSS at
    # the end of its hold).
    for _ in $(seq 1 600); do
      M=$(metrics)
      [ "$(awk -v t="$name" '$1 == "sluice_topic_subscribers{topic=\""t"\"}" { print $2 }' <<<"$M")" = "$IDLE" ] && break
      sleep 0.05
    done
    "$BIN/sluice-bench" pubsub --pub "ws://$ADDR/pub/$name" --sub "ws://$ADDR/sub/$name" \
      --rate 20 --size 1024 --format dashboard --duration 1s --warmup 0s --drain 1s --quiet \
      >/dev/null
  fi
  wait "$bench"
  M=$(metrics)
  local agreed; agreed=$(sample 'sluice_deflate_negotiations_total{result="accepted"}')
  stop_relay
  IDLE_ROWS+=("$(python3 - "$OUT/$name.json" "$name" "$agreed" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["idle"]
print(f"| {sys.argv[2]} | {d['connections']} | {sys.argv[3]} | {d['rss_before'] / 2**20:.1f} | "
      f"{d['rss_after'] / 2**20:.1f} | {d['bytes_per_connection']:.0f} |")
PY
)")
}
for round in 1 2; do
  if [ "$round" = 1 ]; then
    idle "$round" 0 0; idle "$round" 1 0; idle "$round" 0 1; idle "$round" 1 1
  else
    idle "$round" 1 0; idle "$round" 0 0; idle "$round" 1 1; idle "$round" 0 1
  fi
done

{
  echo "# permessage-deflate in the relay, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Command: \`perf/deflate-relay.sh$([ "$MODE" = quick ] && echo " --quick" || true)\`. Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r), $(rustc --version). Load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "One relay (\`target/release/sluice --listen 127.0.0.1:0\`, default configuration) for every pubsub cell, each cell its own topic (handshakes that negotiated permessage-deflate there: $NEGOTIATED); a fresh one for every idle run."
  echo
  echo "## 1 publisher → N subscribers, 1,000 msg/s, 1,024-byte dashboard JSON, $DUR measured"
  echo
  echo "Latency in µs from the intended send time (sluice-bench, coordinated omission corrected). CPU: the relay process's user+system time per published message (10 ms ticks). compress: the relay's compressor time per published message (\`sluice_deflate_compress_seconds_total\`). bytes/msg/sub: \`sluice_bytes_out_total\` per message per subscriber (frames as queued). ratio: compressed / raw payload bytes."
  echo
  echo "| cell | subs | sent | delivered | lost | p50 | p99 | p99.9 | max | relay CPU µs/msg | compress µs/msg | bytes/msg/sub | ratio |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "## Relay memory per connection, $IDLE connections"
  echo
  echo "\`sluice-bench idle --pid\` against a fresh relay each: its RSS before the connections and at the end of the hold; negotiated: handshakes that agreed on permessage-deflate. \`-traffic\`: 20 messages of 1,024 bytes (dashboard JSON) were published to the held connections during the hold (and to one more subscriber, the publishing bench's own)."
  echo
  echo "| run | connections | negotiated | RSS before MiB | RSS held MiB | bytes per connection |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${IDLE_ROWS[@]}"
} >"$OUT/README.md"
cat "$OUT/README.md"
echo "results in $OUT/README.md"
