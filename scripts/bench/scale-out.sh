#!/usr/bin/env bash
# Strong scaling of the row-partitioned solve (issue 17; docs/scale-out.md):
#   scripts/bench/scale-out.sh [PROBLEM_DIR] [RUNS] [HESSIAN...]
# Solves one problem with the plain build and under `mpirun -np K` (K = 1, 2, 4) with the MPI
# build, RUNS times each (default 5), alternated, for each Hessian strategy (default: exact
# auto). Each rank uses max(1, cores / K) threads (the default, Distributed.applyRankThreads)
# and ranks are not bound to cores (--bind-to none), so on this 2-core machine 4 ranks share
# 2 cores. Prints per variant the median of the report's `seconds` (start point + iterations,
# reading excluded), `read_seconds`, iterations, rank 0's seconds and bytes in collectives per
# iteration, and the distance of x to the plain build's x (relative 2-norm).
# PROBLEM_DIR (default: a generated 1e6 x 200 exp problem, 1e7 nonzeros) holds A.mtx, b.mtx, w.mtx.
set -euo pipefail
cd "$(dirname "$0")/../.."
problem="${1:-}"
runs="${2:-5}"
shift $(( $# >= 2 ? 2 : $# ))
strategies=("$@")
[ ${#strategies[@]} -gt 0 ] || strategies=(exact auto)
[ -x .build/release/hyperreg ] || swift build -c release --product hyperreg >&2
[ -x .build-mpi/release/hyperreg ] || HYPERREG_MPI=1 swift build -c release --product hyperreg --build-path .build-mpi >&2
plain=.build/release/hyperreg
mpi=.build-mpi/release/hyperreg
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(mpirun --oversubscribe --bind-to none --mca pml ob1 --mca btl self,vader --mca mpi_yield_when_idle 1)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -z "$problem" ]; then
    problem="$work/problem"
    "$plain" generate --rows 1000000 --cols 200 --density 0.05 --function exp --weight 0.1 --noise 0.1 --seed 1 --output-dir "$problem" >&2
fi
cat "$problem/A.mtx" > /dev/null   # warm page cache
echo "problem: $problem ($(du -h "$problem/A.mtx" | cut -f1)); load $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
for hessian in "${strategies[@]}"; do
    args=("$problem/A.mtx" "$problem/b.mtx" --weights "$problem/w.mtx" --function exp --hessian "$hessian" --quiet)
    for ((r = 0; r < runs; r++)); do
        "$plain" solve "${args[@]}" --output "$work/x-plain.mtx" --report "$work/plain-$hessian-$r.json"
        for np in 1 2 4; do
            "${mpirun[@]}" -np "$np" "$mpi" solve "${args[@]}" --output "$work/x-$np.mtx" --report "$work/np$np-$hessian-$r.json"
        done
    done
    python3 - "$work" "$hessian" "$runs" <<'PY'
import json, math, statistics, sys
work, hessian, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def x(path):
    return [float(l) for l in [l for l in open(path) if not l.startswith("%")][1:]]
ref = x(f"{work}/x-plain.mtx")
print(f"\n--hessian {hessian}: medians of {runs} runs")
print(f"{'variant':>10} {'ranks':>5} {'threads':>7} {'iters':>5} {'solve s':>8} {'read s':>7} {'speed-up':>8} {'comm s/iter':>11} {'comm kB/iter':>12} {'x rel. diff':>11}")
base = None
for variant in ["plain", "np1", "np2", "np4"]:
    reports = [json.load(open(f"{work}/{variant}-{hessian}-{r}.json")) for r in range(runs)]
    solve = statistics.median(r["seconds"] for r in reports)
    read = statistics.median(r["read_seconds"] for r in reports)
    base = base or solve
    its = [t for t in reports[-1]["trace"][1:]]
    cs = statistics.median(sum(t.get("communication_seconds") or 0 for t in r["trace"][1:]) / max(1, len(r["trace"]) - 1) for r in reports)
    cb = statistics.median(sum(t.get("communication_bytes") or 0 for t in r["trace"][1:]) / max(1, len(r["trace"]) - 1) for r in reports)
    xs = ref if variant == "plain" else x(f"{work}/x-{variant[2:]}.mtx")
    diff = math.sqrt(sum((a - b) ** 2 for a, b in zip(xs, ref))) / math.sqrt(sum(a * a for a in ref))
    r0 = reports[-1]
    print(f"{variant:>10} {r0['ranks']:>5} {r0['threads']:>7} {r0['iterations']:>5} {solve:>8.3f} {read:>7.3f} {base / solve:>8.2f} {cs:>11.5f} {cb / 1e3:>12.1f} {diff:>11.1e}")
PY
done
