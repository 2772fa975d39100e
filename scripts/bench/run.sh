#!/usr/bin/env bash
# The benchmark in one command: bash scripts/bench/run.sh [--ladder quick|large] [--only SUBSTR,...]
# Builds hyperreg in release mode, installs the Python side (scipy, fast_matrix_market,
# matplotlib) with pip if missing, runs the ladder of scripts/bench/bench.py into
# $BENCH_DIR (default /tmp/hyperreg-bench, outside the repository) and writes
# docs/performance.md and docs/performance.png with scripts/bench/report.py.
# Not run by CI. About 15-20 minutes on 2 cores for the quick ladder.
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
"$PY" scripts/bench/bench.py --hyperreg "$HYPERREG" --out "$OUT" "$@"
"$PY" scripts/bench/report.py --results "$OUT/results.jsonl" --out docs/performance.md --plot docs/performance.png
