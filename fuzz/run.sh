#!/usr/bin/env bash
# Run one cargo-fuzz target for a while: fuzz/run.sh <handshake|frames|config|inflate> [seconds, default 600]
#
# The toolchain here is stable; cargo-fuzz needs nightly flags (-Zsanitizer=address and the
# sanitizer-coverage passes), which RUSTC_BOOTSTRAP=1 unlocks on stable rustc. New corpus
# entries go to fuzz/corpus/<target> (not committed); the committed seeds are fuzz/seeds/<target>.
# A crash is saved under fuzz/artifacts/<target>/ and the run exits non-zero.
set -euo pipefail
cd "$(dirname "$0")"
target="${1:?usage: fuzz/run.sh <handshake|frames|config|inflate> [seconds]}"
secs="${2:-600}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p "corpus/$target"
RUSTC_BOOTSTRAP=1 exec cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$secs" -print_final_stats=1
