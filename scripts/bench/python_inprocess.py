#!/usr/bin/env python3
"""In-process solve time (hyperreg.solve, the C ABI through ctypes) against the command line's
report `seconds` on the same problem, side by side, interleaved (docs/python.md, "Speed").

    .build/release/hyperreg generate --rows 1000000 --cols 200 --density 0.1 --function exp \\
        --weight 0.1 --seed 1 --output-dir /tmp/p16
    pip install ./python
    python3 scripts/bench/python_inprocess.py --dir /tmp/p16 [--repeats 3] [--threads 2]

The files are read once (not timed): A with hyperreg.read_mtx (default; the problem then
shares the library's storage) or scipy.io.mmread (--reader scipy; the library copies A once per
`hyperreg.solve`), b and w with SciPy. Per repeat it prints:
  cli       the CLI report's `seconds` (start point + solve; reading excluded) and its
            `read_seconds` (reading the files);
  wall      the wall-clock time of the whole `hyperreg.solve` call: the checks in Python, the
            problem's construction in the library (`read_seconds` of its report: the value
            checks, and with --reader scipy the copy and the CSR checks), the start point and the
            solve, the report's JSON and its parsing;
  lib       the in-process report's `seconds` (start point + solve, as the CLI's);
  reused    the wall-clock time of `Problem.solve` on a `hyperreg.Problem` built once before
            the loop (no copy or check of the arrays);
  ratios    wall / cli and reused / cli;
and the pass-equivalents (time / one `A x` pass, the report's `pass_seconds`). The CLI writes
its report to stdout and x nowhere: no temporary files on either side.
"""
import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse

import hyperreg

ROOT = Path(__file__).resolve().parents[2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", default="/tmp/p16", help="folder with A.mtx, b.mtx, w.mtx (hyperreg generate)")
    p.add_argument("--function", default="exp")
    p.add_argument("--binary", default=str(ROOT / ".build/release/hyperreg"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--reader", choices=["hyperreg", "scipy"], default="hyperreg",
                   help="hyperreg.read_mtx (the problem shares the library's storage: no copy) or scipy.io.mmread "
                        "(the library copies the arrays once)")
    args = p.parse_args()
    folder = Path(args.dir)

    t = time.perf_counter()
    a = hyperreg.read_mtx(folder / "A.mtx") if args.reader == "hyperreg" else scipy.sparse.csr_matrix(scipy.io.mmread(folder / "A.mtx"))
    b = np.asarray(scipy.io.mmread(folder / "b.mtx")).ravel()
    w = np.asarray(scipy.io.mmread(folder / "w.mtx")).ravel()
    print(f"read A with {args.reader} (b, w with scipy) in {time.perf_counter() - t:.2f} s: {a.shape[0]} x {a.shape[1]}, {a.nnz} nonzeros, "
          f"indices {a.indices.dtype}, indptr {a.indptr.dtype}")

    threads = [] if args.threads is None else ["--threads", str(args.threads)]
    command = [args.binary, "solve", str(folder / "A.mtx"), str(folder / "b.mtx"), "--weights", str(folder / "w.mtx"),
               "--function", args.function, "--quiet", "--report", "-"] + threads
    print("repeat | cli seconds | cli read | wall in-process | lib seconds | lib build (copy+check) | reused | wall/cli | reused/cli | iterations cli/lib | passes cli/lib")
    ratios, reused_ratios, solve_ratios = [], [], []
    problem = hyperreg.Problem(a, b, w=w, function=args.function)
    for k in range(args.repeats):
        run = subprocess.run(command, capture_output=True, text=True, check=True)
        cli = json.loads(run.stdout)
        t = time.perf_counter()
        r = hyperreg.solve(a, b, w=w, function=args.function, threads=args.threads)
        wall = time.perf_counter() - t
        lib = r.report
        t = time.perf_counter()
        again = problem.solve(threads=args.threads)
        reused = time.perf_counter() - t
        assert np.array_equal(again.x, r.x)
        ratio = wall / cli["seconds"]
        ratios.append(ratio)
        reused_ratios.append(reused / cli["seconds"])
        solve_ratios.append(lib["seconds"] / cli["seconds"])
        passes = [rep["seconds"] / rep["pass_seconds"] if rep.get("pass_seconds") else float("nan") for rep in (cli, lib)]
        print(f"{k + 1} | {cli['seconds']:.3f} | {cli['read_seconds']:.2f} | {wall:.3f} | {lib['seconds']:.3f} | "
              f"{lib['read_seconds']:.3f} | {reused:.3f} | {ratio:.3f} | {reused / cli['seconds']:.3f} | {cli['iterations']}/{lib['iterations']} | {passes[0]:.1f}/{passes[1]:.1f}")
        assert cli["status"] == lib["status"] and cli["final_loss"] == lib["final_loss"], "the two runs differ"
    median = lambda v: sorted(v)[len(v) // 2]
    print(f"median ratios: wall/cli {median(ratios):.3f}, reused/cli {median(reused_ratios):.3f}, "
          f"lib/cli (the same span measured inside each) {median(solve_ratios):.3f} "
          f"(status {r.status}, threads {lib['threads']})")


if __name__ == "__main__":
    main()
