#!/usr/bin/env python3
"""hyperreg in a Python/SciPy pipeline, in process (docs/python.md): build a sparse problem in
SciPy, solve it with `hyperreg.solve` (the library through its C ABI: no files, no
subprocess), and compare softmax(A x) with b.

    pip install ./python                 # from the clone: builds and bundles the library
    python3 Examples/python/pipeline.py  # 20000 x 50, 5% dense

The same problem through files and the `hyperreg` command: Examples/python/pipeline_files.py.
"""
import argparse
import sys

import numpy as np
import scipy.sparse

import hyperreg


def main():
    parser = argparse.ArgumentParser()
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

    def progress(state):
        # Called at the start point and after every Newton iteration; return True to stop.
        print(f"iteration {state.nit}: loss {state.fun:.6g}, relative gradient {state.rel_jac_norm:.2e}", file=sys.stderr)

    result = hyperreg.solve(a, b, w=0.001, function="exp", callback=progress)   # scipy OptimizeResult

    z = a @ result.x
    fit = np.exp(z - z.max())
    fit /= fit.sum()
    print(f"status {result.status} after {result.nit} iterations, final loss {result.fun:.6g}, "
          f"relative gradient {result.report['relative_gradient_norm']:.2e}, {result.report['seconds']:.3f} s")
    print(f"||softmax(A x) - b||_1 = {np.abs(fit - b).sum():.3e}")
    # `success`: x is a usable answer (converged, converged_at_roundoff, ...).
    if not result.success:
        sys.exit(f"no usable answer: {result.message}")


if __name__ == "__main__":
    main()
