"""Build step of the hyperreg Python package: builds the Swift dynamic library (the C ABI,
product CHyperReg) with `swift build -c release` in the repository that holds this folder and
copies libCHyperReg.so into the package. Everything else is in pyproject.toml.

HYPERREG_SOURCE_DIR overrides the repository (default: the parent of this folder)."""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

LIBRARY = "libCHyperReg.so"


class BuildWithSwift(build_py):
    """build_py, then `swift build` and the copy of the library into the built package."""

    def run(self):
        super().run()
        root = Path(os.environ.get("HYPERREG_SOURCE_DIR", Path(__file__).resolve().parent.parent))
        if not (root / "Package.swift").is_file():
            raise RuntimeError(f"{root}: no Package.swift; set HYPERREG_SOURCE_DIR to a hyperreg clone")
        command = ["swift", "build", "-c", "release", "--product", "CHyperReg"]
        print(f"hyperreg: {' '.join(command)} (in {root})", flush=True)
        subprocess.run(command, cwd=root, check=True)
        bin_path = subprocess.run(command + ["--show-bin-path"], cwd=root, check=True,
                                  capture_output=True, text=True).stdout.strip()
        target = Path(self.build_lib) / "hyperreg"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(bin_path) / LIBRARY, target / LIBRARY)


class BinaryDistribution(Distribution):
    """A platform wheel (it carries a native library)."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithSwift}, distclass=BinaryDistribution)
