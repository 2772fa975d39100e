#!/usr/bin/env bash
# Installs the system packages hyperreg builds against (Debian/Ubuntu), if missing:
# CHOLMOD (libsuitesparse-dev), OpenBLAS (libopenblas-dev), zlib (zlib1g-dev), and any
# further packages named as arguments (scripts/test.sh adds Open MPI for the MPI tests).
set -euo pipefail
packages=(libsuitesparse-dev libopenblas-dev zlib1g-dev "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
