#!/usr/bin/env bash
# Fuzzes the Matrix Market reader with libFuzzer (docs/reliability.md).
#   scripts/fuzz.sh [SECONDS]      default 60; FUZZ_WORK (default /tmp/hyperreg-fuzz) keeps the
#                                  growing corpus and any crash files between runs.
# Builds Fuzz/ (a nested package: the fuzzer links only with --sanitize=fuzzer) in release
# mode with AddressSanitizer, seeds the corpus with Fuzz/Seeds and Tests/Malformed, runs for
# SECONDS and exits non-zero when libFuzzer reports a crash, a leak, a timeout or an OOM.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
work="${FUZZ_WORK:-/tmp/hyperreg-fuzz}"
mkdir -p "$work/corpus" "$work/artifacts"
cp -n Fuzz/Seeds/* Tests/Malformed/*.mtx* "$work/corpus/" 2>/dev/null || true
# -Xswiftc -sanitize=fuzzer,address: SwiftPM 6.3 hands the compiler only one of two
# --sanitize values (which one varies from build to build), leaving the Swift code either
# without coverage or without ASan; the combined flag gives it both (docs/reliability.md).
( cd Fuzz && swift build -c release --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address \
      --product MatrixMarketFuzzer 2>&1 | grep -v "Cannot export local symbol" | tail -2 )
binary="Fuzz/.build/release/MatrixMarketFuzzer"
# SWIFT_BACKTRACE=enable=no: otherwise the Swift backtracer takes the crash and no crash file
# is written. One process; -max_len 4096 keeps inputs small enough to mutate quickly.
status=0
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="detect_leaks=1" "$binary" \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -dict=Fuzz/matrixmarket.dict -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
    "$work/corpus" >"$work/last-run.log" 2>&1 || status=$?
grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|stat::|ERROR|SUMMARY|Test unit written" "$work/last-run.log" || true
if [ "$status" -ne 0 ]; then
    echo "fuzz: libFuzzer exited $status; see $work/last-run.log and $work/artifacts/" >&2
    exit "$status"
fi
if ! grep -q "INITED cov:" "$work/last-run.log"; then
    echo "fuzz: libFuzzer saw no coverage (is the build instrumented?); see $work/last-run.log" >&2
    exit 1
fi
echo "fuzz: no finding in ${seconds} s ($(ls "$work/corpus" | wc -l) corpus files)"
