#!/usr/bin/env bash
# The README's first command: installs what is missing, builds hyperreg (release) and solves a
# bundled problem, printing the per-iteration table (stderr) and the report (stdout).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product hyperreg >&2   # progress to stderr: stdout is the report
problem=${1:-Data/planted-exp-2000x50}
out=$(mktemp -d)
.build/release/hyperreg solve "$problem/A.mtx" "$problem/b.mtx" --weights "$problem/w.mtx" \
  --function "$(cat "$problem/function")" --output "$out/x.mtx" --report "$out/report.json"
# The report's summary keys (status, success, iterations, losses, gradients, timings); the
# per-iteration trace stays in the file.
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r.pop("trace", None); print(json.dumps(r, indent=2, sort_keys=True))' "$out/report.json"
echo "solution written to $out/x.mtx" >&2
