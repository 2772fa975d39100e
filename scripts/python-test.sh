#!/usr/bin/env bash
# The Python package's tests (docs/python.md), run by scripts/test.sh after the Swift tests: a
# virtual environment in .build/python-venv (system packages visible), numpy, scipy and pytest
# installed there if missing, the package installed with `pip install ./python` (which builds
# libCHyperReg.so in release), the release CLI for the bit-for-bit comparison, then pytest, the
# Python example and the C example (Examples/c/solve.c: the header checked against the library).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/python-venv
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv --system-site-packages "$venv" 2>/dev/null; then
    rm -rf "$venv"
    # Debian ships venv and pip separately.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get install -y -qq python3-venv python3-pip >/dev/null
    fi
    python3 -m venv --system-site-packages "$venv"
  fi
fi
py="$venv/bin/python"
"$py" -c 'import numpy, scipy, pytest' 2>/dev/null || "$py" -m pip install -q numpy scipy pytest
"$py" -m pip install -q ./python
swift build -c release --product hyperreg
HYPERREG_CLI="$PWD/.build/release/hyperreg" "$py" -m pytest -q -p no:cacheprovider python/tests
# The in-process example of docs/guide.md section 6 and docs/python.md.
"$py" Examples/python/pipeline.py >/dev/null 2>&1
# The C example (Examples/c/solve.c) against include/hyperreg.h and the release library.
swift build -c release --product CHyperReg
cc -std=c11 -Wall -Werror -Iinclude Examples/c/solve.c -L.build/release -lCHyperReg -Wl,-rpath,"$PWD/.build/release" \
  -o .build/hyperreg-c-example
.build/hyperreg-c-example >/dev/null
