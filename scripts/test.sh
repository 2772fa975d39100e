#!/usr/bin/env bash
# The test command of the README and of CI: installs what is missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build
swift test 2>&1 | tee /tmp/hyperreg-test.log
# The Python package (python/, docs/python.md): about 40 s more with a warm build.
bash scripts/python-test.sh
