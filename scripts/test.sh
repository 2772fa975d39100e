#!/usr/bin/env bash
# The test command of the README and of CI: installs what is missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build
swift test 2>&1 | tee /tmp/hyperreg-test.log
# The Python package and the C example (python/, docs/python.md). Its release build is the one
# scripts/solve-example.sh needs anyway (108 s cold here); beyond that it adds about 22 s.
bash scripts/python-test.sh
