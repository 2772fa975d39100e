#!/usr/bin/env python3
"""SciPy baseline for hyperreg's objective (docs/math.md), for scripts/bench/run.sh.

    L(x) = 0.5 ||c||^2 + 0.5 ||w o z||^2,  z = A x, u = f(z), v = f'(z), c = u - <u,1> b
    g    = A^T (v o (c - <b,c>) + w^2 o z)
    H s  = A^T (delta o (A s)) + ||b||^2 p (p.s) - p (q.s) - q (p.s),
           delta = v^2 + c o u - <c,b> u + w^2,  p = A^T v,  q = A^T (v o b)

Methods (each to the same rule: ||g(x)||_2 <= tol * ||g(x0)||_2, checked in a callback after
every iteration, SciPy's own tolerances switched off as far as it allows; a wall-time cap per run):

  lbfgsb      scipy.optimize.minimize(method='L-BFGS-B'), fun and jac in one call
  trust-ncg   scipy.optimize.minimize(method='trust-ncg', hessp=exact Hessian-vector product)
  newton-cg   scipy.optimize.minimize(method='Newton-CG', hessp=exact Hessian-vector product)
  ls-trf      scipy.optimize.least_squares(method='trf') on F(x) = [c; w o z]. The Jacobian
              J = [(diag(v) - b v^T) A; diag(w) A] has a dense rank-one part (b v^T A), so it is
              not given as a sparse matrix (that would be n x d dense) nor via jac_sparsity
              (finite differences over d columns): it is a scipy.sparse.linalg.LinearOperator
              (two sparse products per use) with tr_solver='lsmr'. 0.5||F||^2 = L and J^T F = g.

One JSON line per method on stdout: wall seconds (reading excluded; with --repeats R, the
median of R runs when the first takes under 2 s, all of them in all_seconds), iterations, A-passes
(products with A or A^T), final loss, relative gradient norm actually reached, distance to the
reference, peak RSS of the process that ran it, status. Each method runs in a forked child
(after reading), so peak RSS is per method; it includes the inputs held in memory.

`--check` verifies the gradient and the Hessian-vector product against central finite
differences at x0 and exits non-zero when they disagree.

Requires numpy and scipy (`pip install scipy`); uses fast_matrix_market for reading when it is
installed (`pip install fast_matrix_market`), else scipy.io.mmread.
"""
import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time

try:
    import numpy as np
    import scipy
    import scipy.io
    import scipy.optimize as opt
    import scipy.sparse as sp
    from scipy.sparse.linalg import LinearOperator
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("scipy_baseline.py needs numpy and scipy: pip install scipy")

try:
    import fast_matrix_market as fmm
except ImportError:
    fmm = None

METHODS = ["lbfgsb", "trust-ncg", "newton-cg", "ls-trf"]
# Relative gradient levels whose first crossing time is recorded (seconds_to), besides --tolerance.
THRESHOLDS = (1e-4, 1e-6)
# A method whose first run is shorter than this (wall seconds) is run --repeats times.
REPEAT_BELOW = 2.0


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def read_mtx(path):
    """Reads a Matrix Market file; a sparse file becomes CSR, an array a flat vector or matrix."""
    m = fmm.mmread(path) if fmm is not None else scipy.io.mmread(path)
    if sp.issparse(m):
        return sp.csr_array(m)
    return np.asarray(m, dtype=np.float64)


def vector(m, name):
    if sp.issparse(m):
        m = m.toarray()
    m = np.asarray(m, dtype=np.float64)
    if m.ndim == 2 and 1 not in m.shape:
        sys.exit(f"{name}: expected a vector, got a {m.shape[0]} x {m.shape[1]} matrix")
    return m.reshape(-1)


FUNCS = {
    "exp": (np.exp, np.exp),
    "cosh": (np.cosh, np.sinh),
    "sinh": (np.sinh, np.cosh),
}


class TimeUp(Exception):
    """Raised from inside an evaluation when the wall-time cap is exceeded."""


class Objective:
    """L, g and H s of docs/math.md, with the state at the last x cached and products counted."""

    def __init__(self, a, b, w, function, deadline=None):
        self.a, self.b, self.w2 = a, b, w * w
        self.at = a.T  # CSC view: the transpose product without a copy
        self.f, self.fp = FUNCS[function]
        self.bb = float(b @ b)
        self.passes = 0
        self.deadline = deadline
        self.key = None
        self.hess_key = None

    def _tick(self):
        self.passes += 1
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise TimeUp()

    def matvec(self, x):
        self._tick()
        return self.a @ x

    def rmatvec(self, y):
        self._tick()
        return self.at @ y

    def state(self, x):
        """z, u, v, c, <b,c>, L and g at x (cached for the last x)."""
        if self.key is not None and np.array_equal(x, self.key):
            return self.st
        z = self.matvec(x)
        u, v = self.f(z), self.fp(z)
        c = u - u.sum() * self.b
        bc = float(self.b @ c)
        loss = 0.5 * float(c @ c) + 0.5 * float(self.w2 @ (z * z))
        r = v * (c - bc) + self.w2 * z
        g = self.rmatvec(r)
        self.key = np.array(x, copy=True)
        self.st = dict(z=z, u=u, v=v, c=c, bc=bc, loss=loss, g=g)
        return self.st

    def fun_grad(self, x):
        s = self.state(x)
        return s["loss"], s["g"]

    def loss(self, x):
        return self.state(x)["loss"]

    def grad(self, x):
        return self.state(x)["g"]

    def hessp(self, x, s):
        st = self.state(x)
        if self.hess_key is None or not np.array_equal(x, self.hess_key):
            u, v, c = st["u"], st["v"], st["c"]
            self.delta = v * v + c * u - st["bc"] * u + self.w2
            # p and q: one transpose pass with two right-hand sides, counted once.
            self._tick()
            pq = self.at @ np.column_stack([v, v * self.b])
            self.p, self.q = pq[:, 0].copy(), pq[:, 1].copy()
            self.hess_key = np.array(x, copy=True)
        p, q = self.p, self.q
        ps, qs = float(p @ s), float(q @ s)
        return self.rmatvec(self.delta * self.matvec(s)) + self.bb * ps * p - qs * p - ps * q

    # least_squares: F(x) = [c; w o z], J = [(diag(v) - b v^T) A; diag(w) A]
    def residual(self, x):
        st = self.state(x)
        return np.concatenate([st["c"], np.sqrt(self.w2) * st["z"]])

    def jacobian(self, x):
        st = self.state(x)
        v, b, w = st["v"], self.b, np.sqrt(self.w2)
        n, d = self.a.shape

        def mv(s):
            s = np.ravel(s)
            t = self.matvec(s)
            vt = v * t
            return np.concatenate([vt - b * vt.sum(), w * t])

        def rmv(y):
            y = np.ravel(y)
            y1, y2 = y[:n], y[n:]
            return self.rmatvec(v * (y1 - float(b @ y1)) + w * y2)

        return LinearOperator((2 * n, d), matvec=mv, rmatvec=rmv, dtype=np.float64)


def check(obj, x0, seed=7):
    """Central differences of L along random directions against g.h, and of g against H h."""
    rng = np.random.default_rng(seed)
    worst_g = worst_h = 0.0
    for _ in range(4):
        h = rng.standard_normal(x0.shape)
        h /= np.linalg.norm(h)
        eps = 1e-5 * max(1.0, np.linalg.norm(x0))
        fd = (obj.loss(x0 + eps * h) - obj.loss(x0 - eps * h)) / (2 * eps)
        an = float(obj.grad(x0) @ h)
        err_g = abs(fd - an) / max(np.linalg.norm(obj.grad(x0)), 1e-300)  # |h| = 1
        fdh = (obj.grad(x0 + eps * h) - obj.grad(x0 - eps * h)) / (2 * eps)
        anh = obj.hessp(x0, h)
        err_h = np.linalg.norm(fdh - anh) / max(np.linalg.norm(anh), 1e-300)
        worst_g, worst_h = max(worst_g, err_g), max(worst_h, err_h)
    # Central differences are O(eps^2) accurate; 1e-5 leaves room for rounding at these scales.
    ok = bool(worst_g < 1e-5 and worst_h < 1e-5)
    print(json.dumps({"check": "finite_differences", "gradient_relative_error": float(worst_g),
                      "hessp_relative_error": float(worst_h), "tolerance": 1e-5, "ok": ok}))
    return ok


def run_method(name, data, args, out):
    """Runs one method (in a forked child) and puts its JSON record on the queue."""
    a, b, w, x0, ref = data
    start = time.perf_counter()
    deadline = start + args.time_cap
    obj = Objective(a, b, w, args.function, deadline)
    g0 = np.linalg.norm(obj.grad(x0))
    target = args.tolerance * g0
    iters = [0]
    last = [x0.copy()]
    reached = [False]

    crossed = {}

    def note(x):
        iters[0] += 1
        last[0] = np.array(x, copy=True)
        gn = np.linalg.norm(obj.grad(x))
        for thr in THRESHOLDS:
            if thr not in crossed and gn <= thr * g0:
                crossed[thr] = time.perf_counter() - start
        if gn <= target:
            reached[0] = True
            raise StopIteration
        if time.perf_counter() > deadline:
            raise StopIteration

    def cb(intermediate_result):  # the minimize / least_squares callback signature
        note(intermediate_result.x)

    status, message = "unknown", ""
    try:
        if name == "lbfgsb":
            res = opt.minimize(obj.fun_grad, x0, jac=True, method="L-BFGS-B", callback=cb,
                               options=dict(maxiter=10**7, maxfun=10**7, ftol=0.0, gtol=0.0, maxcor=10))
        elif name == "trust-ncg":
            res = opt.minimize(obj.loss, x0, jac=obj.grad, hessp=obj.hessp, method="trust-ncg",
                               callback=cb, options=dict(maxiter=10**6, gtol=0.0))
        elif name == "newton-cg":
            res = opt.minimize(obj.loss, x0, jac=obj.grad, hessp=obj.hessp, method="Newton-CG",
                               callback=cb, options=dict(maxiter=10**6, xtol=1e-300))
        elif name == "ls-trf":
            res = opt.least_squares(obj.residual, x0, jac=obj.jacobian, method="trf", tr_solver="lsmr",
                                    ftol=None, xtol=None, gtol=1e-15, max_nfev=10**6, callback=cb)
        else:
            raise ValueError(name)
        x = np.asarray(res.x, dtype=np.float64)
        message = str(res.message)
    except TimeUp:
        x = last[0]
        message = "wall-time cap reached inside an evaluation; last accepted iterate"
    except Exception as e:  # SciPy failing inside its own code: report it, with the last iterate
        x = last[0]
        message = f"{type(e).__name__} inside SciPy: {e}"
        status = "error"
    wall = time.perf_counter() - start
    obj.deadline = None
    passes = obj.passes
    st = obj.state(x)
    gn = float(np.linalg.norm(st["g"]))
    rel = gn / g0 if g0 > 0 else 0.0
    if status == "error":
        pass
    elif rel <= args.tolerance:
        status = "converged"
    elif wall >= args.time_cap:
        status = "time_cap"
    else:
        status = "stopped"  # SciPy's own termination before the rule was met
    rec = {
        "solver": "scipy", "method": name, "status": status, "message": message,
        "seconds": wall, "iterations": iters[0], "a_passes": passes,
        "final_loss": st["loss"], "initial_gradient_norm": float(g0), "final_gradient_norm": gn,
        "relative_gradient_norm": rel, "tolerance": args.tolerance, "time_cap": args.time_cap,
        "reference_distance": float(np.linalg.norm(x - ref)) if ref is not None else None,
        "seconds_to": {f"{t:g}": v for t, v in sorted(crossed.items())},
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "scipy": scipy.__version__, "numpy": np.__version__,
    }
    out.put(rec)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("matrix"); ap.add_argument("target")
    ap.add_argument("--weights"); ap.add_argument("--weight", type=float, default=1.0)
    ap.add_argument("--function", choices=sorted(FUNCS), default="exp")
    ap.add_argument("--x0", required=True, help="start point (d x 1), e.g. from hyperreg solve --max-iterations 0 --output")
    ap.add_argument("--reference", help="x* (d x 1) for the distance")
    ap.add_argument("--tolerance", type=float, default=1e-8)
    ap.add_argument("--time-cap", type=float, default=300.0, help="wall seconds per method")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--check", action="store_true", help="finite-difference check of g and H s at x0, then exit")
    ap.add_argument("--tag", default="", help="copied into every record")
    ap.add_argument("--repeats", type=int, default=1,
                    help=f"runs per method when its first run takes under {REPEAT_BELOW:g} s; the median is reported "
                         "(seconds, and the other fields of that run), every time in all_seconds")
    args = ap.parse_args()

    t0 = time.perf_counter()
    a = read_mtx(args.matrix)
    if not sp.issparse(a):
        a = sp.csr_array(a)
    a = sp.csr_array(a, dtype=np.float64)
    b = vector(read_mtx(args.target), args.target)
    n, d = a.shape
    w = vector(read_mtx(args.weights), args.weights) if args.weights else np.full(n, args.weight)
    x0 = vector(read_mtx(args.x0), args.x0)
    ref = vector(read_mtx(args.reference), args.reference) if args.reference else None
    read_seconds = time.perf_counter() - t0
    for name, vec, size in (("b", b, n), ("w", w, n), ("x0", x0, d)) + ((("reference", ref, d),) if ref is not None else ()):
        if vec.shape[0] != size:
            sys.exit(f"{name}: length {vec.shape[0]}, expected {size}")
    log(f"read {n} x {d}, {a.nnz} nonzeros in {read_seconds:.2f} s ({'fast_matrix_market' if fmm else 'scipy.io.mmread'})")

    if args.check:
        sys.exit(0 if check(Objective(a, b, w, args.function), x0) else 1)

    data = (a, b, w, x0, ref)
    ctx = mp.get_context("fork")

    def one_run(name):
        q = ctx.Queue()
        p = ctx.Process(target=run_method, args=(name, data, args, q))
        p.start()
        rec = None
        give_up = time.perf_counter() + args.time_cap * 3 + 60
        while rec is None and time.perf_counter() < give_up:
            try:
                rec = q.get(timeout=1.0)
            except Exception:
                if not p.is_alive() and q.empty():
                    break
        if rec is None:
            rec = {"solver": "scipy", "method": name, "status": "crashed", "seconds": None,
                   "message": f"the child exited with code {p.exitcode} without a result"}
        p.join()
        return rec

    for name in args.methods.split(","):
        if name not in METHODS:
            sys.exit(f"unknown method {name!r}; known: {', '.join(METHODS)}")
        runs = [one_run(name)]
        # Short runs are repeated (each in a fresh child) and the median reported, like
        # hyperreg's runs in bench.py; a failed first run is not repeated.
        first = runs[0]
        if (args.repeats > 1 and first.get("seconds") is not None and first["seconds"] < REPEAT_BELOW
                and first.get("status") not in ("crashed", "error")):
            runs += [one_run(name) for _ in range(args.repeats - 1)]
        ok = [r for r in runs if r.get("seconds") is not None]
        ok.sort(key=lambda r: r["seconds"])
        rec = ok[len(ok) // 2] if ok else runs[0]
        rec["all_seconds"] = [r.get("seconds") for r in runs]
        rec["repeats"] = len(runs)
        rec.update({"rows": n, "columns": d, "nonzeros": int(a.nnz), "function": args.function,
                    "read_seconds": read_seconds, "tag": args.tag})
        print(json.dumps(rec), flush=True)
        log(f"{name}: {rec['status']} in {rec.get('seconds') or 0:.2f} s, {rec.get('iterations')} iterations, "
            f"rel ||g|| {rec.get('relative_gradient_norm')}")


if __name__ == "__main__":
    main()
