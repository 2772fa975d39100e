#!/usr/bin/env python3
"""Feeding hyperreg from Python/SciPy through files (docs/guide.md, section 6): build a sparse
problem in SciPy, write it with scipy.io.mmwrite, solve it with the `hyperreg` command, read x
back with scipy.io.mmread and the report with json, and compare softmax(A x) with b. The
in-process route (no files, no subprocess) is Examples/python/pipeline.py.

    swift build -c release
    python3 Examples/python/pipeline_files.py [--binary .build/release/hyperreg]

Needs numpy and scipy (pip install numpy scipy). Not run by CI (CI runs pipeline.py).
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(Path(__file__).resolve().parents[2] / ".build/release/hyperreg"))
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--cols", type=int, default=50)
    args = parser.parse_args()

    # A sparse A and a probability vector b = softmax(A x_true): an exactly attainable target.
    rng = np.random.default_rng(7)
    a = scipy.sparse.random(args.rows, args.cols, density=0.05, format="csr", random_state=rng,
                            data_rvs=rng.standard_normal)
    x_true = rng.normal(scale=0.5, size=args.cols)
    z = a @ x_true
    b = np.exp(z - z.max())
    b /= b.sum()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scipy.io.mmwrite(tmp / "A.mtx", a)                    # coordinate real general
        scipy.io.mmwrite(tmp / "b.mtx", b.reshape(-1, 1))     # array real general, n x 1
        run = subprocess.run(
            [args.binary, "solve", str(tmp / "A.mtx"), str(tmp / "b.mtx"), "--function", "exp",
             "--weight", "0.001", "--output", str(tmp / "x.mtx"), "--report", str(tmp / "report.json")],
            capture_output=True, text=True)
        print(run.stderr, file=sys.stderr, end="")            # the per-iteration table
        if run.returncode != 0:
            sys.exit(f"hyperreg failed with exit code {run.returncode}")
        report = json.loads((tmp / "report.json").read_text())
        x = np.asarray(scipy.io.mmread(tmp / "x.mtx")).ravel()

    z = a @ x
    fit = np.exp(z - z.max())
    fit /= fit.sum()
    print(f"status {report['status']} after {report['iterations']} iterations, "
          f"final loss {report['final_loss']:.6g}, relative gradient {report['relative_gradient_norm']:.2e}")
    print(f"||softmax(A x) - b||_1 = {np.abs(fit - b).sum():.3e}")
    # `success`: x is a usable answer (converged, or stalled at the round-off floor, ...).
    if not report["success"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
