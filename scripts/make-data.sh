#!/usr/bin/env bash
# Regenerates the bundled problems in Data/ (small planted problems; see Data/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product hyperreg
H=.build/release/hyperreg
make_one() {  # name function rows cols density weight noise seed
  local dir="Data/$1"
  $H generate --function "$2" --rows "$3" --cols "$4" --density "$5" --weight "$6" --noise "$7" --seed "$8" --output-dir "$dir" >/dev/null
  echo "$2" > "$dir/function"
  echo "hyperreg generate --function $2 --rows $3 --cols $4 --density $5 --weight $6 --noise $7 --seed $8 --output-dir $dir" > "$dir/command"
}
make_one planted-exp-2000x50   exp  2000 50 0.1 1    0.1  11
make_one planted-cosh-2000x50  cosh 2000 50 0.1 0.1  0.05 12
make_one planted-sinh-1500x30  sinh 1500 30 0.1 0.01 0.02 13
make_one planted-exp-exact-1000x20 exp 1000 20 0.2 0 0 14
