#!/usr/bin/env bash
# The whole test suite under AddressSanitizer (and LeakSanitizer), in its own scratch path
# so the ordinary .build is untouched. Leaks inside XCTest and two inside Foundation are
# suppressed narrowly (scripts/lsan-suppressions.txt); any other leak or memory error fails.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests --sanitize=address --scratch-path .build-asan 2>&1 | grep -v "Cannot export local symbol" | tail -3
# The CLI tests run the ASan build of hyperreg (found beside the test bundle).
status=0
LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0" \
ASAN_OPTIONS="detect_leaks=1" \
    swift test --skip-build --sanitize=address --scratch-path .build-asan >/tmp/hyperreg-asan-test.log 2>&1 || status=$?
grep -E "Test run with|✘|ERROR: (Address|Leak)Sanitizer|SUMMARY" /tmp/hyperreg-asan-test.log || true
if [ "$status" -ne 0 ]; then echo "asan-test: swift test exited $status; see /tmp/hyperreg-asan-test.log" >&2; fi
exit "$status"
