#!/usr/bin/env python3
"""Draws the convergence of a `hyperreg solve` run from its JSON report's `trace`.

    hyperreg solve A.mtx b.mtx ... --report report.json
    python3 scripts/plot-trace.py report.json                 # writes report.png
    python3 scripts/plot-trace.py report.json -o conv.svg --x seconds

Two panels, one point per iteration (0 is the start point), coloured by the step model
(exact, gauss_newton, damped, sketch, ...): the Euclidean gradient norm relative to the start,
||g(x_t)||_2 / ||g(x_0)||_2, with the tolerance as a dashed line, and the loss L(x_t). The
x axis is the iteration, or with `--x seconds` the trace's `seconds` (since the solve started,
start point included, reading excluded: the clock of the report's `seconds`). The title gives
the status, the iterations, the function, the Hessian strategy and `fit_l1`.

Needs matplotlib, an optional dependency of hyperreg (`pip install matplotlib`); nothing else
of hyperreg needs it. The file type follows the output's extension (png, svg, pdf).
"""
import argparse
import json
import math
import sys
from pathlib import Path


def fail(message):
    print(f"plot-trace.py: {message}", file=sys.stderr)
    sys.exit(1)


def load(path):
    """The report as a dict; a clear error naming the file otherwise."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as e:
        fail(f"{path}: cannot read: {e.strerror}")
    try:
        report = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{path}: not JSON (line {e.lineno}, column {e.colno}: {e.msg})")
    if not isinstance(report, dict) or not isinstance(report.get("trace"), list) or not report["trace"]:
        fail(f"{path}: no `trace` list: is it a report of `hyperreg solve --report`?")
    return report


def series(report, x_key):
    """(x, relative gradient, loss, model) per trace row; values the report omitted (not
    finite) are skipped, as are non-positive ones on the logarithmic axes."""
    rows = []
    for t in report["trace"]:
        x = t.get(x_key)
        if x is None:
            continue
        rows.append((x, t.get("relative_gradient_norm"), t.get("loss"), t.get("model") or "start"))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("report", help="the JSON report of `hyperreg solve --report` (- for stdin)")
    p.add_argument("-o", "--output", help="image to write (default: the report's name with .png; - needs a file name)")
    p.add_argument("--x", choices=["iteration", "seconds"], default="iteration", help="the x axis (default: iteration)")
    p.add_argument("--title", help="a title instead of the one made from the report")
    args = p.parse_args()

    report = load(args.report)
    output = args.output or (str(Path(args.report).with_suffix(".png")) if args.report != "-" else None)
    if output is None:
        fail("reading stdin: give --output")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail("needs matplotlib, an optional dependency: pip install matplotlib")

    rows = series(report, args.x)
    models = list(dict.fromkeys(r[3] for r in rows))
    colours = {m: f"C{i}" for i, m in enumerate(models)}
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 6), constrained_layout=True)

    for axis, index, label in ((top, 1, "||g(x_t)||_2 / ||g(x_0)||_2"), (bottom, 2, "loss L(x_t)")):
        points = [(r[0], r[index], r[3]) for r in rows if r[index] is not None]
        logarithmic = all(v > 0 for _, v, _ in points)
        if points:
            axis.plot([x for x, _, _ in points], [v for _, v, _ in points], color="0.6", linewidth=1, zorder=1)
        for m in models:
            mine = [(x, v) for x, v, model in points if model == m]
            if mine:
                axis.scatter([x for x, _ in mine], [v for _, v in mine], color=colours[m], label=m, zorder=2, s=22)
        if logarithmic:
            axis.set_yscale("log")
        axis.set_ylabel(label)
        axis.grid(True, which="major", alpha=0.3)
    tolerance = report.get("tolerance")
    if isinstance(tolerance, (int, float)) and tolerance > 0 and math.isfinite(tolerance):
        top.axhline(tolerance, color="k", linestyle="--", linewidth=1, label=f"tolerance {tolerance:g}")
    top.legend(fontsize="small", loc="upper right")
    bottom.set_xlabel("iteration" if args.x == "iteration" else "seconds since the solve started (start point included, reading excluded)")

    problem = report.get("problem", {})
    fit = report.get("fit_l1")
    title = args.title or (
        f"{report.get('status', '?')} after {report.get('iterations', '?')} iterations"
        f" ({problem.get('function', '?')}, {problem.get('rows', '?')} x {problem.get('columns', '?')},"
        f" hessian {report.get('hessian', '?')})" + (f"\n||u/alpha - b||_1 = {fit:.3g}" if isinstance(fit, (int, float)) else ""))
    fig.suptitle(title, fontsize="medium")
    try:
        fig.savefig(output, dpi=110)
    except (OSError, ValueError) as e:
        fail(f"{output}: cannot write: {e}")
    print(f"wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
