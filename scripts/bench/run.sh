#!/usr/bin/env bash
# The benchmark in one command: bash scripts/bench/run.sh [--ladder quick|large|full] [--only SUBSTR,...]
# Builds hyperreg in release mode, installs the Python side (scipy, fast_matrix_market,
# matplotlib) with pip if missing, runs the ladder of scripts/bench/bench.py into
# $BENCH_DIR (default /tmp/hyperreg-bench, outside the repository) and writes
# docs/performance.md and docs/performance.png with scripts/bench/report.py.
# Not run by CI. About 15-20 minutes on 2 cores for the quick ladder; full adds about 20 (at most 30)
# minutes (estimate in scripts/bench/notes.md). Also builds the Ceres peer when libceres-dev is present.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${BENCH_DIR:-/tmp/hyperreg-bench}"
PY="${PYTHON:-python3}"
for mod in scipy fast_matrix_market matplotlib; do
  "$PY" -c "import $mod" 2>/dev/null || "$PY" -m pip install --quiet "$mod"
done
if [[ -z "${HYPERREG:-}" ]]; then
  swift build -c release --product hyperreg >&2
  HYPERREG="$(swift build -c release --show-bin-path)/hyperreg"
fi
mkdir -p "$OUT"
# The optional Ceres peer (scripts/bench/ceres/ceres_lbfgs.cc): built only when Debian's
# libceres-dev is installed (installed here when running as root); without it the benchmark
# runs without Ceres.
CERES=()
if ! dpkg -s libceres-dev >/dev/null 2>&1 && [[ $EUID -eq 0 ]]; then
  apt-get install -y libceres-dev >&2 || echo "run.sh: libceres-dev not installed; no Ceres runs" >&2
fi
if dpkg -s libceres-dev >/dev/null 2>&1; then
  if g++ -std=c++17 -O3 -march=native -fopenmp -I/usr/include/eigen3 scripts/bench/ceres/ceres_lbfgs.cc \
       -o "$OUT/ceres_lbfgs" -lceres -lglog >&2; then
    CERES=(--ceres "$OUT/ceres_lbfgs")
  else
    echo "run.sh: ceres_lbfgs did not build; no Ceres runs" >&2
  fi
fi
"$PY" scripts/bench/bench.py --hyperreg "$HYPERREG" --out "$OUT" "${CERES[@]}" "$@"
"$PY" scripts/bench/report.py --results "$OUT/results.jsonl" --out docs/performance.md --plot docs/performance.png
