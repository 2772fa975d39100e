#!/usr/bin/env python3
"""Checks ceres_lbfgs's objective against scipy_baseline.py's at x0 (loss and gradient).

    python3 scripts/bench/ceres/check_against_scipy.py CERES_BINARY A.mtx b.mtx w.mtx x0.mtx FUNCTION

Prints one JSON line with both losses, the relative loss difference and
||g_ceres - g_scipy|| / ||g_scipy||; exits 1 when either exceeds 1e-9. Both sides evaluate the
same formulas in double precision but sum in different orders (OpenMP reductions against numpy's
pairwise sums), and the gradient has a cancellation (c - <b,c>, where c is small near a good
start), so agreement to round-off times a modest condition factor is expected, not bit-equality.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np  # noqa: E402
import scipy_baseline as sb  # noqa: E402

TOL = 1e-9


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    ceres, a_path, b_path, w_path, x0_path, f = sys.argv[1:]
    out = subprocess.run([ceres, a_path, b_path, "--weights", w_path, "--x0", x0_path, "--function", f, "--check"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    c = json.loads(out.strip().splitlines()[-1])
    a = sb.sp.csr_array(sb.read_mtx(a_path), dtype=np.float64)
    b, w, x0 = (sb.vector(sb.read_mtx(p), p) for p in (b_path, w_path, x0_path))
    loss, g = sb.Objective(a, b, w, f).fun_grad(x0)
    gc = np.asarray(c["gradient"])
    rec = {"loss_scipy": loss, "loss_ceres": c["loss"], "loss_relative_difference": abs(c["loss"] - loss) / abs(loss),
           "gradient_norm_scipy": float(np.linalg.norm(g)), "gradient_norm_ceres": c["gradient_norm"],
           "gradient_relative_difference": float(np.linalg.norm(gc - g) / np.linalg.norm(g)), "tolerance": TOL}
    rec["ok"] = bool(rec["loss_relative_difference"] <= TOL and rec["gradient_relative_difference"] <= TOL)
    print(json.dumps(rec))
    sys.exit(0 if rec["ok"] else 1)


if __name__ == "__main__":
    main()
