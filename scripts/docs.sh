#!/usr/bin/env bash
# One DocC archive for the four library modules, HyperReg, SparseCore, MatrixMarket and Cholmod
# (DocC's combined documentation: one archive, one landing page listing the four), with
# swift-docc-plugin (a dependency in Package.swift; swift build compiles none of it).
#
#   scripts/docs.sh [OUTPUT]     default .build/docs/hyperreg.doccarchive
#
# Offline once the plugin's package is resolved (`swift package resolve`). Open the archive in
# Xcode, or serve it: `python3 -m http.server -d OUTPUT` then /documentation/hyperreg (an
# archive is a static site whose pages load by script; see the DocC documentation for hosting
# under a path: --hosting-base-path).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.build/docs/hyperreg.doccarchive}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
swift package --allow-writing-to-directory "$(dirname "$out")" generate-documentation \
  --target HyperReg --target SparseCore --target MatrixMarket --target Cholmod \
  --enable-experimental-combined-documentation \
  --output-path "$out" >&2
echo "wrote $out" >&2
