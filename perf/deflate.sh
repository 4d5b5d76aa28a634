#!/usr/bin/env bash
# perf/deflate.sh — choose the DEFLATE backend of permessage-deflate by measurement: builds
# perf/deflate-bench once per backend and runs them one after the other on the same messages
# (dashboard-like JSON: ~1 KiB order-book snapshots and host metrics, 110-byte ticks, 16 KiB
# and 64 KiB arrays), each with a copy of the payload as the baseline of the same run.
#
#   perf/deflate.sh            full runs (a few minutes on 2 cores)
#   perf/deflate.sh --quick    a check that the harness works (its numbers are not results)
#
# Backends: flate2 over miniz_oxide (its default), over zlib-rs, over the C zlib (the system's
# libz, package zlib1g-dev), over zlib-ng (only where cmake is installed), and libdeflate
# (whole-buffer only: a reference for speed). Per backend and level: compress-once and inflate
# cost per message (p50/p99/p99.9/max of each message timed on its own), ratio, whether window
# bits 9..15 are honoured when compressing (the longest back-reference read from the stream),
# and the memory one compressor and one decompressor hold.
#
# Results: perf/results/deflate-<date>/ (one Markdown file per backend, README.md with all of
# them and the machine's load; on a shared machine, tails measure the neighbours).
set -euo pipefail
cd "$(dirname "$0")"
QUICK=""
case "${1:-}" in
  --quick) QUICK=--quick ;;
  "") ;;
  -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
  *) echo "perf/deflate.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac
backends="miniz zlib-rs zlib libdeflate"
command -v cmake >/dev/null && backends="$backends zlib-ng"
OUT=results/deflate-$(date -u +%Y-%m-%dT%H%MZ)${QUICK:+-quick}
BIN=$(mktemp -d)
mkdir -p "$OUT"
for b in $backends; do
  cargo build --release --quiet -p deflate-bench --no-default-features --features "$b"
  cp target/release/deflate-bench "$BIN/$b"
done
{
  echo "# permessage-deflate backends, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Command: \`perf/deflate.sh $QUICK\`. Machine: $(nproc) cores, $(uname -m); load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Nanoseconds per message; MB/s of raw (uncompressed) bytes. Ratio: compressed / raw."
  echo
} > "$OUT/README.md"
if ! command -v cmake >/dev/null; then
  echo "(zlib-ng not measured: cmake is not installed.)" >> "$OUT/README.md"
  echo >> "$OUT/README.md"
fi
for b in $backends; do
  "$BIN/$b" $QUICK | tee "$OUT/$b.md" >> "$OUT/README.md"
  echo >> "$OUT/README.md"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/README.md"
rm -rf "$BIN"
echo "results in perf/$OUT/README.md"
