"""hyperreg: rescaled hyperbolic functions regression on sparse matrices, in process.

    import hyperreg, scipy.sparse as sp, numpy as np
    result = hyperreg.solve(A, b, w=0.1, function="exp")   # scipy.optimize.OptimizeResult
    result.x, result.success, result.status, result.report["seconds"]

A thin ctypes binding of the Swift library's C ABI (include/hyperreg.h); guide: docs/python.md.
"""
from ._library import lib as _lib
from ._solve import HyperRegError, InvalidInputError, Problem, diagnose, read_mtx, shift, solve

#: The library's version (the same as `hyperreg --version`).
__version__ = _lib.hyperreg_version().decode()

__all__ = ["solve", "Problem", "read_mtx", "diagnose", "shift", "HyperRegError", "InvalidInputError", "__version__"]
