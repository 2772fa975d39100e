#!/usr/bin/env bash
# The test command of the README and of CI: installs what is missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Open MPI for the MPI transport's tests (Tests/CLITests/MPITransportTests.swift).
bash scripts/install-deps.sh openmpi-bin libopenmpi-dev
swift build
# The MPI build of hyperreg (HYPERREG_MPI=1, docs/scale-out.md) in its own build directory, for
# the tests that run it under mpirun: 33 s cold here (2 cores), then about 5 s of tests.
HYPERREG_MPI=1 swift build -c release --product hyperreg --build-path .build-mpi
export HYPERREG_MPI_EXECUTABLE="$PWD/.build-mpi/release/hyperreg" HYPERREG_REQUIRE_MPI=1
swift test 2>&1 | tee /tmp/hyperreg-test.log
# The Python package and the C example (python/, docs/python.md). Its release build is the one
# scripts/solve-example.sh needs anyway (108 s cold here); beyond that it adds about 22 s.
bash scripts/python-test.sh
