#!/usr/bin/env bash
# Theorem F.1's contraction on the bundled planted problems (docs/theory.md): for each problem,
# with its own weights and with w_i = 10 (w_i^2 = 100, the theorem's regime), solve exactly to
# get x*, then run each strategy from the default start with --reference x* and tabulate the
# iterations, the predicted T = ln(r0/r_T), the largest and the last contraction r_{t+1}/r_t.
#
#   scripts/contraction-table.sh [DIR]     (HYPERREG=path/to/binary; needs python3)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HYPERREG:-.build/debug/hyperreg}
[ -x "$bin" ] || swift build >&2
out=${1:-$(mktemp -d)}
mkdir -p "$out"
: > "$out/cases"
for d in Data/planted-*/; do
    d=${d%/}; name=$(basename "$d"); f=$(cat "$d/function")
    for wcase in own w10; do
        if [ "$wcase" = own ]; then wargs=(--weights "$d/w.mtx"); else wargs=(--weight 10); fi
        common=("$d/A.mtx" "$d/b.mtx" "${wargs[@]}" --function "$f" --quiet)
        "$bin" solve "${common[@]}" --hessian exact --tolerance 1e-12 --output "$out/$name-$wcase-xstar.mtx" >/dev/null 2>&1 || true
        for h in exact sketch paper; do
            "$bin" solve "${common[@]}" --hessian "$h" --tolerance 1e-8 --reference "$out/$name-$wcase-xstar.mtx" \
                --report "$out/$name-$wcase-$h.json" >/dev/null 2>&1 || true
            echo "$name $wcase $h" >> "$out/cases"
        done
    done
done
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
print("| problem | w | strategy | status | iterations | predicted T = ln(r0/r_T) | largest r_{t+1}/r_t | last r_{t+1}/r_t |")
print("|---|---|---|---|---|---|---|---|")
for line in open(os.path.join(out, "cases")):
    name, w, h = line.split()
    path = os.path.join(out, f"{name}-{w}-{h}.json")
    if not os.path.exists(path):
        print(f"| {name} | {w} | {h} | (no report) | | | | |"); continue
    r = json.load(open(path))
    c = [t["contraction"] for t in r["trace"] if "contraction" in t]
    fmt = lambda v: "" if v is None else f"{v:.3g}"
    print(f"| {name} | {'file' if w == 'own' else '10'} | {h} | {r['status']} | {r['iterations']} | {fmt(r.get('predicted_iterations'))} | {fmt(max(c) if c else None)} | {fmt(c[-1] if c else None)} |")
PY
