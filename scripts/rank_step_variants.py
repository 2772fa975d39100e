#!/usr/bin/env python3
"""Compare Newton-type steps in range(A^T) on the short-text attention problems (issue 15).

The step hyperreg takes for a rank-deficient A (docs/solver.md, "Rank-deficient A") was chosen
with this script: the same Armijo line search (c = 1e-4, halving) in an orthonormal basis V of
range(A^T), with these models for the reduced Hessian V^T H V (H from docs/math.md):

  newton+gn   the exact reduced Hessian when positive definite, else reduced Gauss-Newton (hyperreg)
  lm          exact + mu I, mu = max(0, -lambda_min) + ||g|| when indefinite (Levenberg-Marquardt
              with mu proportional to ||g||, Yamashita-Fukushima, shifted to positive definite)
  abs         exact with |eigenvalues| when indefinite (saddle-free Newton)
  gn+lm       exact when positive definite, else Gauss-Newton + ||g|| I

from hyperreg's default (log-fit) start and from x = 0, up to a relative gradient of 1e-10
(no round-off rule here, so a run at the floor can use up the 60 iterations).

    python3 scripts/rank_step_variants.py [path/to/hyperreg]     # needs numpy

Prints, per problem, start and model: iterations and the final relative gradient.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBLEMS = ["hidden-harbour-l2h4", "hidden-orchard-l4h9"]


def read(path):
    lines = open(path).readlines()
    rows = [l for l in lines if not l.startswith("%")]
    dims = list(map(int, rows[0].split()))
    values = np.array([float(l) for l in rows[1:]])
    return values if dims[1] == 1 else values.reshape(dims[1], dims[0]).T


def solve(a, b, w, x0, variant, tolerance=1e-10, limit=60):
    n, d = a.shape
    lam, q = np.linalg.eigh(a.T @ a)
    v = q[:, lam > max(n, d) * np.finfo(float).eps * lam.max()]
    basis = a @ v
    bb = b @ b

    def loss(z):
        u = np.exp(z)
        c = u - u.sum() * b
        return 0.5 * c @ c + 0.5 * w * w * z @ z

    def derivatives(z):
        u = np.exp(z)
        c = u - u.sum() * b
        r = u * (c - b @ c) + w * w * z
        rank2 = bb * np.outer(u, u) - np.outer(u, u * b) - np.outer(u * b, u)
        exact = np.diag(u * u + c * u - (c @ b) * u + w * w) + rank2
        gauss_newton = np.diag(u * u + w * w) + rank2
        return loss(z), basis.T @ r, basis.T @ exact @ basis, basis.T @ gauss_newton @ basis

    z = basis @ (v.T @ x0)
    current, g, h, hgn = derivatives(z)
    g0 = np.linalg.norm(g)
    iterations = 0
    while np.linalg.norm(g) > tolerance * g0 and iterations < limit:
        iterations += 1
        e, vectors = np.linalg.eigh(h)
        if e[0] > 0:
            s = np.linalg.solve(h, -g)
        elif variant == "newton+gn":
            s = np.linalg.solve(hgn, -g)
        elif variant == "lm":
            s = np.linalg.solve(h + (np.linalg.norm(g) - e[0]) * np.eye(len(g)), -g)
        elif variant == "abs":
            s = -vectors @ ((vectors.T @ g) / np.maximum(np.abs(e), 1e-8 * np.abs(e).max()))
        else:
            s = np.linalg.solve(hgn + np.linalg.norm(g) * np.eye(len(g)), -g)
        t, slope, step = 1.0, g @ s, basis @ s
        while loss(z + t * step) > current + 1e-4 * t * slope and t > 1e-12:
            t /= 2
        z = z + t * step
        current, g, h, hgn = derivatives(z)
    return iterations, np.linalg.norm(g) / g0


def main():
    hyperreg = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "release", "hyperreg")
    with tempfile.TemporaryDirectory() as tmp:
        for name in PROBLEMS:
            folder = os.path.join(ROOT, "Data", "attention", name)
            a, b, w = read(f"{folder}/A.mtx"), read(f"{folder}/b.mtx"), read(f"{folder}/w.mtx")[0]
            x0_path = os.path.join(tmp, "x0.mtx")
            subprocess.run([hyperreg, "solve", f"{folder}/A.mtx", f"{folder}/b.mtx", "--weights", f"{folder}/w.mtx",
                            "--function", "exp", "--max-iterations", "0", "--quiet", "--output", x0_path],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            starts = {"log-fit": read(x0_path), "zero": np.zeros(a.shape[1])}
            for start, x0 in starts.items():
                for variant in ["newton+gn", "lm", "abs", "gn+lm"]:
                    iterations, relative = solve(a, b, w, x0, variant)
                    print(f"{name} start {start:8s} {variant:10s} iterations {iterations:3d}  relative gradient {relative:.1e}")


if __name__ == "__main__":
    main()
