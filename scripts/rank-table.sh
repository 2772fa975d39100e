#!/usr/bin/env bash
# Prints the rank-deficient table of docs/solver.md ("Rank-deficient A"): default `hyperreg
# solve` on the short-text attention problems (n < d = 384) and on generated problems with
# n < d, a duplicated column and a zero column: status, iterations, the final relative
# gradient norm (||g||_2 / ||g(x0)||_2, recomputed from the returned x), the models used, the
# numerical rank reported, and ||x - V V^T x|| / ||x|| (x's part outside range(A^T), from a
# dense SVD in numpy: 0 for the minimum-norm minimiser up to round-off), and the round-off
# floor: the true ||g(x)|| (computed in 80-bit long double) over the error of a Double
# evaluation of g near x (the largest of 10 points x (1 + 2^-50 r), r uniform in [-1, 1]):
# at most 10 means x is within 10x of what the arithmetic of z = A x allows.
#
# Near the floor the last bits, and so `converged` against `converged_at_roundoff`, depend on
# OpenBLAS's thread count; OPENBLAS_NUM_THREADS=1 reproduces scripts/make-expectations.sh.
#
#   scripts/rank-table.sh [path/to/hyperreg]      # default .build/release/hyperreg
#
# Needs python3 with numpy. A hyperreg built before issue 15 can be passed to see the old row.
set -euo pipefail
cd "$(dirname "$0")/.."
H=${1:-.build/release/hyperreg}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Generated problems: planted exp problems with n < d, and n > d ones widened by a copy of
# column 1 or by an empty column (python below writes the widened A).
"$H" generate --rows 150 --cols 300 --density 0.3 --function exp --weight 0.1 --seed 1 --output-dir "$out/g150x300" >/dev/null
"$H" generate --rows 60 --cols 200 --density 0.5 --function exp --weight 0.1 --seed 2 --noise 0.3 --output-dir "$out/g60x200" >/dev/null
"$H" generate --rows 400 --cols 30 --density 0.3 --function exp --weight 0.1 --seed 3 --noise 0.3 --output-dir "$out/base" >/dev/null
python3 - "$out" <<'PY'
import sys, os, shutil
out = sys.argv[1]
def widen(name, extra):
    d = f"{out}/{name}"; os.makedirs(d, exist_ok=True)
    lines = open(f"{out}/base/A.mtx").read().splitlines()
    head = [l for l in lines if l.startswith('%')]; body = [l for l in lines if not l.startswith('%')]
    n, m, nnz = map(int, body[0].split()); entries = body[1:]
    add = [f"{i} {m + 1} {v}" for i, j, v in (e.split() for e in entries) if j == '1'] if extra == 'dup' else []
    open(f"{d}/A.mtx", "w").write("\n".join(head + [f"{n} {m + 1} {nnz + len(add)}"] + entries + add) + "\n")
    for f in ("b.mtx", "w.mtx"): shutil.copy(f"{out}/base/{f}", d)
widen("dup", "dup"); widen("zero", "zero")
PY

runs=(
  "hidden-harbour-l2h4 (185 x 384)|Data/attention/hidden-harbour-l2h4|--weight 0.1"
  "hidden-orchard-l4h9 (259 x 384)|Data/attention/hidden-orchard-l4h9|--weight 0.1"
  "generated 150 x 300|$out/g150x300|--weights $out/g150x300/w.mtx"
  "generated 60 x 200, noise 0.3|$out/g60x200|--weights $out/g60x200/w.mtx"
  "400 x 31, column 31 = column 1|$out/dup|--weights $out/dup/w.mtx"
  "400 x 31, column 31 empty|$out/zero|--weights $out/zero/w.mtx"
)
echo "| problem | status | iterations | last relative gradient | models | numerical rank | x outside range(A^T) | true g / Double error of g |"
echo "|---|---|---|---|---|---|---|---|"
for run in "${runs[@]}"; do
  IFS='|' read -r name dir args <<<"$run"
  # shellcheck disable=SC2086
  "$H" solve "$dir/A.mtx" "$dir/b.mtx" $args --function exp --quiet --output "$out/x.mtx" --report "$out/r.json" >/dev/null 2>&1 || true
  python3 - "$name" "$dir/A.mtx" "$out/x.mtx" "$out/r.json" "$dir/b.mtx" "$args" <<'PY'
import sys, json, collections
import numpy as np
name, a_path, x_path, r_path, b_path, args = sys.argv[1:]
r = json.load(open(r_path))
def read(path):
    lines = open(path).readlines()
    rows = [l for l in lines if not l.startswith('%')]
    dims = list(map(int, rows[0].split()))
    if " array " in lines[0]:
        values = np.array([float(l) for l in rows[1:]])
        return values if dims[1] == 1 else values.reshape(dims[1], dims[0]).T
    m = np.zeros(dims[:2])
    for l in rows[1:]:
        i, j, v = l.split(); m[int(i) - 1, int(j) - 1] += float(v)
    return m
a, x = read(a_path), read(x_path)
u, s, vt = np.linalg.svd(a, full_matrices=False)
v = vt[s > max(a.shape) * np.finfo(float).eps * s[0]].T
outside = np.linalg.norm(x - v @ (v.T @ x)) / np.linalg.norm(x)
models = collections.Counter(t.get("model") for t in r["trace"][1:])
words = ", ".join(f"{k} {c}" for k, c in models.items())
rank = r.get("numerical_rank", "(no key)")
b = read(b_path).ravel()
words_args = args.split()
w = (np.full(a.shape[0], float(words_args[words_args.index("--weight") + 1])) if "--weight" in words_args
     else read(words_args[words_args.index("--weights") + 1]).ravel())
def grad(a, b, w, x):  # exp: g = A^T (u o (c - <b, c>) + w^2 o z), c = u - sum(u) b
    z = a @ x; u = np.exp(z); c = u - u.sum() * b
    return a.T @ (u * (c - b @ c) + w * w * z)
L = np.longdouble
exact = lambda y: grad(a.astype(L), b.astype(L), w.astype(L), y.astype(L)).astype(float)
rng = np.random.default_rng(1)
points = [x] + [x * (1 + rng.uniform(-1, 1, len(x)) * 2.0**-50) for _ in range(9)]
error = max(np.linalg.norm(grad(a, b, w, y) - exact(y)) for y in points)
ratio = np.linalg.norm(exact(x)) / error
print(f"| {name} | {r['status']} | {r['iterations']} | {r['relative_gradient_norm']:.2g} | {words} | {rank} | {outside:.1e} | {ratio:.2g} |")
PY
done
