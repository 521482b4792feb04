#!/usr/bin/env bash
# Builds the MQTT codec fuzzer with libFuzzer and runs it on a generated seed corpus.
#   fuzz/run.sh [RUNS] [extra libFuzzer flags…]      RUNS defaults to 1000000
# Environment: SANITIZERS (default "fuzzer"; e.g. "fuzzer,address" for ASan), JOBS (libFuzzer -jobs, default 1).
# Crashes are written to fuzz/crash-<sha1> (gitignored); replay one with:
#   fuzz/.build/release/MQTTCodecFuzzer fuzz/crash-<sha1>
set -euo pipefail
cd "$(dirname "$0")"

RUNS="${1:-1000000}"
shift || true
SANITIZERS="${SANITIZERS:-fuzzer}"

# -sanitize=fuzzer instruments every Swift module and links libFuzzer; -parse-as-library because libFuzzer (through
# MQTTCodecFuzzer_main, see FuzzTarget.swift) owns the entry point.
BUILD_FLAGS=(-c release -Xswiftc "-sanitize=${SANITIZERS}" -Xswiftc -parse-as-library)
swift build "${BUILD_FLAGS[@]}" --product MQTTCodecFuzzer
BIN="$(swift build "${BUILD_FLAGS[@]}" --show-bin-path)/MQTTCodecFuzzer"

# Seed corpus: valid packets of every type and version, written by the harness itself.
mkdir -p corpus
FLOTILLA_FUZZ_WRITE_SEEDS=corpus "$BIN"

# -max_len: packets above the harness' 2 KiB limit are only interesting up to their fixed header.
# SWIFT_BACKTRACE=enable=no leaves crash reporting to libFuzzer.
exec env SWIFT_BACKTRACE=enable=no "$BIN" -runs="$RUNS" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix=./ "$@" corpus
