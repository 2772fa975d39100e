#!/usr/bin/env python3
"""Compare models for the Newton step in range(A^T) for cosh on rank-deficient A (issue 15).

The same Armijo line search (c = 1e-4, halving) as hyperreg, in an orthonormal basis V of
range(A^T), from hyperreg's own start point (`--max-iterations 0`), up to a relative gradient of
1e-10 or 100 iterations. When the exact reduced Hessian V^T H V is positive definite every
variant takes its Newton step; otherwise:

  newton+gn          reduced Gauss-Newton (hyperreg before the saddle-free model)
  abs                exact with |eigenvalues| (saddle-free; hyperreg's minimum_norm_saddle_free)
  lm                 exact + (||g|| - lambda_min) I (Levenberg-Marquardt)
  newton+gn+negcurv  Gauss-Newton plus the most negative eigenvector, scaled to its length

    python3 scripts/cosh_step_variants.py [path/to/hyperreg]      # needs numpy

Problems: the two short-text attention problems with w = 1, and generated 80 x 200 problems
(`hyperreg generate --rows 80 --cols 200 --density 0.3 --function cosh --weight 0.1 --seed s`,
s = 1, 2). Prints iterations, the final relative gradient, L, the models used and the smallest
eigenvalue of the exact reduced Hessian at the end (negative: a saddle, not a minimiser).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(path):
    lines = open(path).readlines()
    rows = [l for l in lines if not l.startswith("%")]
    dims = list(map(int, rows[0].split()))
    if " array " in lines[0]:
        values = np.array([float(l) for l in rows[1:]])
        return values if dims[1] == 1 else values.reshape(dims[1], dims[0]).T
    m = np.zeros(dims[:2])
    for l in rows[1:]:
        i, j, v = l.split()
        m[int(i) - 1, int(j) - 1] += float(v)
    return m


def run(binary, name, folder, weight_args, tmp, limit=100):
    a = read(f"{folder}/A.mtx")
    b = read(f"{folder}/b.mtx").ravel()
    n, d = a.shape
    w = np.full(n, float(weight_args[1])) if weight_args[0] == "--weight" else read(weight_args[1]).ravel()
    x0_path = os.path.join(tmp, "x0.mtx")
    subprocess.run([binary, "solve", f"{folder}/A.mtx", f"{folder}/b.mtx", *weight_args, "--function", "cosh",
                    "--max-iterations", "0", "--quiet", "--output", x0_path], check=True, capture_output=True)
    x0 = read(x0_path).ravel()
    lam, q = np.linalg.eigh(a.T @ a)
    v = q[:, lam > max(n, d) * np.finfo(float).eps * lam.max()]
    basis = a @ v
    bb, w2 = b @ b, w * w

    def loss(z):
        u = np.cosh(z)
        c = u - u.sum() * b
        return 0.5 * c @ c + 0.5 * w2 @ (z * z)

    def derivatives(z):
        u, du = np.cosh(z), np.sinh(z)
        c = u - u.sum() * b
        bc = b @ c
        gz = du * (c - bc) + w2 * z
        gauss_newton = (np.diag(du * du + w2) - np.outer(du, du * b) - np.outer(du * b, du) + bb * np.outer(du, du))
        exact = gauss_newton + np.diag(u * (c - bc))
        return basis.T @ gz, basis.T @ exact @ basis, basis.T @ gauss_newton @ basis

    for variant in ["newton+gn", "abs", "lm", "newton+gn+negcurv"]:
        z = basis @ (v.T @ x0)
        g, h, hgn = derivatives(z)
        g0, iterations, used = np.linalg.norm(g), 0, {}
        while np.linalg.norm(g) > 1e-10 * g0 and iterations < limit:
            iterations += 1
            e, vectors = np.linalg.eigh(h)
            if e[0] > 0:
                s, model = np.linalg.solve(h, -g), "newton"
            elif variant.startswith("newton+gn"):
                s, model = np.linalg.solve(hgn, -g), "gn"
                if variant.endswith("negcurv"):
                    direction = vectors[:, 0] if vectors[:, 0] @ g < 0 else -vectors[:, 0]
                    s = s + direction * np.linalg.norm(s)
            elif variant == "abs":
                s = -vectors @ ((vectors.T @ g) / np.maximum(np.abs(e), 1e-8 * np.abs(e).max()))
                model = "abs"
            else:
                s, model = np.linalg.solve(h + (np.linalg.norm(g) - e[0]) * np.eye(len(g)), -g), "lm"
            used[model] = used.get(model, 0) + 1
            t, current, step, slope = 1.0, loss(z), basis @ s, g @ s
            while loss(z + t * step) > current + 1e-4 * t * slope and t > 1e-12:
                t /= 2
            z = z + t * step
            g, h, hgn = derivatives(z)
        print(f"{name:28s} {variant:18s} iterations {iterations:3d}  relative gradient {np.linalg.norm(g) / g0:.1e}"
              f"  L {loss(z):.6g}  models {used}  smallest eigenvalue {np.linalg.eigvalsh(h)[0]:.2g}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build/release/hyperreg")
    with tempfile.TemporaryDirectory() as tmp:
        for p in ["hidden-harbour-l2h4", "hidden-orchard-l4h9"]:
            run(binary, f"{p} w=1", os.path.join(ROOT, "Data/attention", p), ["--weight", "1"], tmp)
        for seed in (1, 2):
            folder = os.path.join(tmp, f"g{seed}")
            subprocess.run([binary, "generate", "--rows", "80", "--cols", "200", "--density", "0.3", "--function", "cosh",
                            "--weight", "0.1", "--seed", str(seed), "--output-dir", folder], check=True, capture_output=True)
            run(binary, f"generated 80x200 seed {seed}", folder, ["--weights", f"{folder}/w.mtx"], tmp)


if __name__ == "__main__":
    main()
