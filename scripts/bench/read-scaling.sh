#!/usr/bin/env bash
# The Matrix Market reader's speed-up from 1 to 2 threads (issue 14; docs/matrix-market.md,
# "Scaling with cores").
#   scripts/bench/read-scaling.sh FILE [RUNS] [HYPERREG ...]
# For each hyperreg binary given (default .build/release/hyperreg), runs `hyperreg info FILE`
# with --threads 1 and 2, RUNS times each (default 5), the binaries and thread counts
# alternated, and prints the median and smallest wall seconds and the 1 -> 2 speed-up of the
# medians. On a shared machine wall times cannot show a speed-up (the other load takes the
# second core), so when `perf` is installed it also prints a CPU-time model from one
# `perf record -g -e task-clock` run per thread count: the reader's serial CPU time plus its
# parallel CPU time (measured in the 2-thread run) divided by 2, and the same for the whole
# process (OpenBLAS's start-up spin counted as parallel). The file's pages are read once first
# (warm page cache).
set -euo pipefail
file="$1"
runs="${2:-5}"
shift $(( $# >= 2 ? 2 : 1 ))
binaries=("$@")
[ ${#binaries[@]} -eq 0 ] && binaries=(.build/release/hyperreg)
cat "$file" > /dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for ((r = 0; r < runs; r++)); do
    for b in "${binaries[@]}"; do
        for t in 1 2; do
            start=$(date +%s.%N)
            "$b" info "$file" --threads "$t" > /dev/null
            end=$(date +%s.%N)
            echo "$b $t $(echo "$end - $start" | bc) $(cut -d' ' -f1 /proc/loadavg)" >> "$work/walls"
        done
    done
done
python3 - "$work/walls" <<'PY'
import sys, statistics, collections
walls = collections.OrderedDict()
for line in open(sys.argv[1]):
    b, t, s, load = line.split()
    walls.setdefault(b, {}).setdefault(int(t), []).append((float(s), float(load)))
for b, by in walls.items():
    med = {t: statistics.median(s for s, _ in v) for t, v in by.items()}
    loads = [l for v in by.values() for _, l in v]
    print(f"{b}: wall median / smallest, 1 thread {med[1]:.2f} / {min(s for s, _ in by[1]):.2f} s, "
          f"2 threads {med[2]:.2f} / {min(s for s, _ in by[2]):.2f} s, speed-up of the medians "
          f"{med[1] / med[2]:.2f}x (load average {min(loads):.1f}-{max(loads):.1f})")
PY
command -v perf > /dev/null || { echo "perf not installed: no CPU-time model"; exit 0; }
for b in "${binaries[@]}"; do
    for t in 1 2; do
        perf record -q -g -e task-clock -F 2000 -o "$work/perf$t.data" "$b" info "$file" --threads "$t" > /dev/null 2>&1
        perf script -i "$work/perf$t.data" -F tid,period,ip,sym > "$work/stacks$t.txt" 2>/dev/null
    done
    python3 - "$b" "$work/stacks1.txt" "$work/stacks2.txt" <<'PY'
import sys, collections
def parts(path):
    c = collections.Counter(); main = None
    for sample in open(path).read().split("\n\n"):
        lines = [l.strip() for l in sample.strip().splitlines()]
        if not lines: continue
        try: tid, period = int(lines[0].split()[0]), int(lines[0].split()[1])
        except (ValueError, IndexError): continue
        main = tid if main is None else main
        stack = " ".join(lines[1:])
        in_pass = "forEachChunk" in stack or "concurrentPerform" in stack
        reader = "MatrixMarketAAO04read" in stack or "MatrixMarket6ReaderO" in stack
        if tid != main and "sched_yield" in stack: c["spin"] += period / 1e6
        elif tid == main and not in_pass: c["reader serial" if reader else "other serial"] += period / 1e6
        else: c["parallel"] += period / 1e6
    return c
one, two = parts(sys.argv[2]), parts(sys.argv[3])
r1, r2 = one["reader serial"] + one["parallel"], two["reader serial"] + two["parallel"] / 2
w1, w2 = r1 + one["other serial"], r2 + two["other serial"] + two["spin"] / 2
print(f"{sys.argv[1]}: CPU-time model, reader {r1:.0f} ms on 1 thread, {r2:.0f} ms on 2 "
      f"(serial {two['reader serial']:.0f} ms): {r1 / r2:.2f}x; whole process {w1:.0f} -> {w2:.0f} ms: {w1 / w2:.2f}x")
PY
done
