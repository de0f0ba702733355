#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a bounded time.
# FUZZ_SECONDS per target (default 20). Exits non-zero on the first crash.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -d tests/fuzz ]]; then echo "run-fuzzers: no fuzz targets yet"; exit 0; fi
secs=${FUZZ_SECONDS:-20}
cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j "$(nproc)"
shopt -s nullglob
for bin in build/fuzz/tests/fuzz/fuzz_*; do
    name=$(basename "$bin")
    seeds="tests/fuzz/corpus/${name#fuzz_}"
    work="build/fuzz/corpus-run/${name#fuzz_}"
    mkdir -p "$work"
    echo "run-fuzzers: $name for ${secs}s"
    "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 "$work" ${seeds:+$( [[ -d $seeds ]] && echo "$seeds")} 2>&1 | tail -n 5
    if [[ ${PIPESTATUS[0]} -ne 0 ]]; then echo "run-fuzzers: $name FAILED"; exit 1; fi
done
echo "run-fuzzers: all targets clean"
