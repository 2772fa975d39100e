#!/usr/bin/env python3
"""Measures the facts of docs/datasets.md on Data/attention/: solves each problem with
`hyperreg solve` for exp and cosh and several uniform weights w, and prints a Markdown table of
the final loss, iterations, status and how close u(Ax)/alpha comes to b.

    swift build && python3 scripts/measure_attention.py [--binary .build/debug/hyperreg] [--quick]

Needs numpy. Fit measures: "fit L1" = ||u/alpha - b||_1 (twice the total-variation distance
between the two distributions), "fit max" = its max-norm, and the logit error modulo constants,
max_i |(z - z*)_i - mean(z - z*)| with z = A x, z* = A x*.
"""
import argparse, json, os, subprocess, sys, tempfile
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# The same bits on every run (as scripts/make-expectations.sh): one OpenBLAS thread, since
# OpenBLAS's results depend on its thread count (hyperreg's own kernels do not).
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", HYPERREG_THREADS="1")


def read(path):
    rows = [l for l in open(path) if not l.startswith("%")]
    m, n = map(int, rows[0].split()[:2])
    return np.array([float(v) for v in rows[1:]]).reshape(n, m).T


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=str(ROOT / ".build/debug/hyperreg"))
    p.add_argument("--quick", action="store_true", help="keys problems only")
    args = p.parse_args()
    print("| problem | u | w | status | iterations | final L | rel. gradient | fit L1 | fit max | logit error mod const | alpha |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for folder in sorted((ROOT / "Data/attention").iterdir()):
        if not (folder / "A.mtx").exists() or (args.quick and folder.name.startswith("hidden")):
            continue
        A, b, xt = read(folder / "A.mtx"), read(folder / "b.mtx")[:, 0], read(folder / "x_true.mtx")[:, 0]
        zt = A @ xt
        hidden = folder.name.startswith("hidden")
        grid = {"exp": [0, 1e-3, 1e-2, 1e-1, 1], "cosh": [0, 1e-2, 1]} if hidden else {"exp": [0, 1e-2, 1e-1], "cosh": [0, 1e-2, 1e-1]}
        for f, weights in grid.items():
            for w in weights:
                with tempfile.TemporaryDirectory() as t:
                    cmd = [args.binary, "solve", str(folder / "A.mtx"), str(folder / "b.mtx"), "--function", f,
                           "--weight", str(w), "--quiet", "--output", f"{t}/x.mtx", "--report", f"{t}/r.json"]
                    run = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
                    r = json.load(open(f"{t}/r.json")) if Path(f"{t}/r.json").exists() else {}
                    if run.returncode != 0 or not Path(f"{t}/x.mtx").exists():
                        print(f"| {folder.name} | {f} | {w} | {r.get('status', 'error')} (exit {run.returncode}) | | | | | | | |")
                        continue
                    x = read(f"{t}/x.mtx")[:, 0]
                z = A @ x
                u = np.exp(z) if f == "exp" else np.cosh(z)
                q = u / u.sum()
                dz = z - zt
                print(f"| {folder.name} | {f} | {w} | {r['status']} | {r['iterations']} | {r['final_loss']:.4g} | "
                      f"{r.get('relative_gradient_norm', float('nan')):.1e} | {np.abs(q - b).sum():.2e} | {np.abs(q - b).max():.2e} | "
                      f"{np.abs(dz - dz.mean()).max():.2e} | {u.sum():.3g} |", flush=True)


if __name__ == "__main__":
    main()
