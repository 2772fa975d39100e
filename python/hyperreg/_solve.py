"""`hyperreg.solve`: NumPy/SciPy inputs checked and handed to the C ABI by pointer, the result as
a `scipy.optimize.OptimizeResult`."""
import ctypes
import json
import numbers
import os

import numpy as np
import scipy.sparse
from scipy.optimize import OptimizeResult

from ._library import CALLBACK, c_double_p, lib


class HyperRegError(RuntimeError):
    """The library could not run the solve (CHOLMOD or LAPACK failure, overflow before the
    start). `code` is the C ABI's error code (include/hyperreg.h)."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class InvalidInputError(HyperRegError, ValueError):
    """The data or an option was refused by the library (a `ValueError`): invalid CSR arrays,
    b or w with a non-finite entry, a negative weight, an option out of range."""


#: C ABI error codes (include/hyperreg.h) whose errors are bad input.
_INPUT_CODES = {1, 2, 3, 4}


def _check(code, error):
    """Raises the exception of a failed C call (freeing its error handle)."""
    if code == 0:
        return
    message = lib.hyperreg_error_message(error).decode("utf-8", "replace") if error else f"error code {code}"
    lib.hyperreg_error_free(error)
    cls = InvalidInputError if code in _INPUT_CODES else HyperRegError
    raise cls(message, code)


def _call(function, *args):
    """Calls a C function whose last argument is `hyperreg_error **` and raises on failure."""
    error = ctypes.c_void_p()
    code = function(*args, ctypes.byref(error))
    _check(code, error)


class _MatrixStorage:
    """A matrix read by the library (`hyperreg_matrix`): frees it when the last array viewing
    its storage goes."""

    def __init__(self, handle):
        self.handle = handle
        self.shape = (lib.hyperreg_matrix_rows(handle), lib.hyperreg_matrix_columns(handle))
        self.nonzeros = lib.hyperreg_matrix_nonzeros(handle)
        self.indices_address = lib.hyperreg_matrix_column_indices(handle)
        self.values_address = lib.hyperreg_matrix_values(handle)

    def __del__(self):
        if self.handle:
            lib.hyperreg_matrix_free(self.handle)
            self.handle = None


def _view(address, count, dtype, storage):
    """A read-only numpy array of `dtype` over `count` elements of the library's storage at
    `address`, keeping `storage` alive."""
    if count == 0 or not address:
        return np.zeros(0, dtype=dtype)

    class Buffer(np.ctypeslib.as_ctypes_type(np.dtype(dtype)) * count):
        pass

    buffer = Buffer.from_address(address)
    buffer.storage = storage
    array = np.frombuffer(buffer, dtype=dtype, count=count)
    array.flags.writeable = False
    return array


def read_mtx(path):
    """Reads a Matrix Market matrix file (coordinate or array, .gz too) with hyperreg's reader
    into a read-only `scipy.sparse.csr_array` whose arrays are the library's own storage: a
    problem made from it (`solve`, `Problem`) shares that storage, with no copy. Errors name the
    file and line (`HyperRegError`, code 6)."""
    handle = ctypes.c_void_p()
    _call(lib.hyperreg_matrix_read, os.fsencode(path), ctypes.byref(handle))
    storage = _MatrixStorage(handle)
    n, d = storage.shape
    nnz = storage.nonzeros
    bits = 32 if lib.hyperreg_matrix_row_offsets(handle, 32) else 64
    indptr = _view(lib.hyperreg_matrix_row_offsets(handle, bits), n + 1, np.int32 if bits == 32 else np.int64, storage)
    indices = _view(storage.indices_address, nnz, np.int32, storage)
    data = _view(storage.values_address, nnz, np.float64, storage)
    if bits == 64:
        indices = indices.astype(np.int64)   # SciPy wants one index width; beyond 2^31 entries only
    matrix = scipy.sparse.csr_array((data, indices, indptr), shape=(n, d), copy=False)
    matrix.has_canonical_format = True       # the reader sorts and merges (docs/matrix-market.md)
    return matrix


def _storage_of(A):
    """The library storage behind a matrix from `read_mtx`, when A still is exactly that matrix
    (its values and column indices are the storage's own arrays), else None."""
    if not scipy.sparse.issparse(A) or A.format != "csr":
        return None
    base = A.data
    while base is not None and not hasattr(base, "storage"):
        base = getattr(base, "base", None)
    storage = getattr(base, "storage", None)
    if storage is None or storage.handle is None or A.shape != storage.shape or A.nnz != storage.nonzeros:
        return None
    if A.data.ctypes.data != storage.values_address or A.indices.dtype != np.int32 \
            or A.indices.ctypes.data != storage.indices_address:
        return None
    return storage


def _csr_arrays(A):
    """(n, d, indptr, indices, data, index_bits) of A for the C ABI.

    A CSR array or matrix in canonical form (sorted indices, no duplicates) with float64 data
    and int32 or int64 indices is passed as it is: its own buffers, no copy. Other sparse
    formats are converted to CSR once, other dtypes cast once, and a dense array is stored as
    CSR (its nonzero entries)."""
    if scipy.sparse.issparse(A):
        if A.format != "csr":
            A = A.tocsr()
        if not A.has_canonical_format:
            A = A.copy()
            A.sum_duplicates()
    else:
        dense = np.asarray(A)
        if dense.ndim != 2:
            raise ValueError(f"A must be a 2-D array or a scipy.sparse matrix, got an array of shape {dense.shape}")
        if not (np.issubdtype(dense.dtype, np.integer) or np.issubdtype(dense.dtype, np.floating) or dense.dtype == np.bool_):
            raise ValueError(f"A must hold real numbers, got dtype {dense.dtype}")
        A = scipy.sparse.csr_array(dense.astype(np.float64, copy=False))
    n, d = A.shape
    if not (np.issubdtype(A.dtype, np.integer) or np.issubdtype(A.dtype, np.floating) or A.dtype == np.bool_):
        raise ValueError(f"A must hold real numbers, got dtype {A.dtype}")
    data = np.ascontiguousarray(A.data, dtype=np.float64)
    indptr, indices = A.indptr, A.indices
    if indptr.dtype == np.int32 and indices.dtype == np.int32:
        bits = 32
    else:
        bits = 64
        indptr = indptr.astype(np.int64, copy=False)
        indices = indices.astype(np.int64, copy=False)
    indptr = np.ascontiguousarray(indptr)
    indices = np.ascontiguousarray(indices)
    return n, d, indptr, indices, data, bits


def _vector(value, length, name, what):
    """`value` as a contiguous float64 vector of `length` entries, or a ValueError naming it."""
    if np.iscomplexobj(value):
        raise ValueError(f"{name} must hold real numbers, got complex ones")
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a vector of real numbers: {exc}") from None
    if v.ndim == 2 and 1 in v.shape:
        v = v.reshape(-1)
    if v.ndim != 1 or v.shape[0] != length:
        raise ValueError(f"{name} has shape {np.shape(value)}, expected ({length},): {what}")
    return np.ascontiguousarray(v)


def _pointer(array):
    return array.ctypes.data_as(c_double_p)


class Problem:
    """One problem, built once and solved any number of times (each `solve` starts afresh).

    The library checks A, b and w once, here (the report's `read_seconds`), and copies them,
    so a pipeline that solves the same data with several options or start points pays it once
    and may change its arrays afterwards. With `copy=False` a CSR A with float64 data is used
    in place instead (its values, its int32 column indices or int64 row offsets: no copy of the
    nonzeros): then A's arrays must not change while the problem exists (the problem keeps
    them alive). `hyperreg.solve` uses `copy=False`. Free it with `close()` or a `with` block
    (the garbage collector frees it too). A problem may be solved from several threads at once."""

    def __init__(self, A, b, w=1.0, function="exp", copy=True):
        self._handle = ctypes.c_void_p()
        if not isinstance(function, str):
            raise ValueError(f"function must be 'exp', 'cosh' or 'sinh', got {function!r}")
        storage = _storage_of(A)
        if storage is None:
            n, d, indptr, indices, data, bits = _csr_arrays(A)
        else:
            n, d = storage.shape
        b = _vector(b, n, "b", f"one entry per row of A ({n} rows)")
        if isinstance(w, numbers.Real) or np.ndim(w) == 0:
            w = np.array([float(w)], dtype=np.float64)
        else:
            w = _vector(w, n, "w", f"one weight per row of A ({n} rows), or one number")
        if storage is not None:
            # A from read_mtx: the problem shares the library's arrays (no copy; the CSR structure,
            # checked by the reader, is not checked again).
            _call(lib.hyperreg_problem_create_from_matrix, storage.handle, _pointer(b), _pointer(w), w.shape[0],
                  function.encode(), ctypes.byref(self._handle))
            self._storage = storage
        else:
            create = lib.hyperreg_problem_create if copy else lib.hyperreg_problem_create_borrowed
            _call(create, n, d, data.shape[0], indptr.ctypes.data_as(ctypes.c_void_p),
                  indices.ctypes.data_as(ctypes.c_void_p), bits, _pointer(data), _pointer(b), _pointer(w), w.shape[0],
                  function.encode(), ctypes.byref(self._handle))
            if not copy:
                self._borrowed = (indptr, indices, data)   # the library reads these in place
        #: (n, d).
        self.shape = (n, d)
        #: The function u.
        self.function = function

    def close(self):
        """Frees the library's copy of the data (idempotent)."""
        if self._handle:
            lib.hyperreg_problem_free(self._handle)
            self._handle = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def solve(self, x0=None, tol=1e-10, hessian="auto", callback=None, *, max_iterations=100, start="auto", seed=1,
              sketch_seed=None, threads=None):
        """Solves the problem; the arguments and the result are those of `hyperreg.solve`."""
        if not self._handle:
            raise ValueError("the problem is closed")
        d = self.shape[1]
        if x0 is not None:
            x0 = _vector(x0, d, "x0", f"one entry per column of A ({d} columns)")
        options = ctypes.c_void_p(lib.hyperreg_options_create())
        result = ctypes.c_void_p()
        state = {"error": None}
        try:
            _call(lib.hyperreg_options_set_tolerance, options, float(tol))
            _call(lib.hyperreg_options_set_max_iterations, options, int(max_iterations))
            _call(lib.hyperreg_options_set_hessian, options, str(hessian).encode())
            _call(lib.hyperreg_options_set_start, options, str(start).encode())
            _call(lib.hyperreg_options_set_seed, options, int(seed))
            if sketch_seed is not None:
                _call(lib.hyperreg_options_set_sketch_seed, options, int(sketch_seed))
            if threads is not None:
                if int(threads) < 1:
                    raise ValueError(f"threads must be >= 1, got {threads}")
                _call(lib.hyperreg_options_set_threads, options, int(threads))
            trampoline = None
            if callback is not None:
                trampoline = CALLBACK(_trampoline(callback, state))
                _call(lib.hyperreg_options_set_callback, options, trampoline, None)
            x = np.empty(d, dtype=np.float64)
            _call(lib.hyperreg_solve, self._handle, options, _pointer(x0) if x0 is not None else None, _pointer(x),
                  ctypes.byref(result))
            if state["error"] is not None:
                raise state["error"]
            text = ctypes.c_char_p()
            _call(lib.hyperreg_result_report, result, ctypes.byref(text))
            report = json.loads(text.value.decode("utf-8"))
            return OptimizeResult(
                x=x,
                fun=lib.hyperreg_result_final_loss(result),
                jac_norm=lib.hyperreg_result_final_gradient_norm(result),
                nit=int(lib.hyperreg_result_iterations(result)),
                status=lib.hyperreg_result_status(result).decode(),
                success=lib.hyperreg_result_success(result) == 1,
                message=lib.hyperreg_result_message(result).decode("utf-8", "replace"),
                trace=report["trace"],
                report=report,
            )
        finally:
            lib.hyperreg_result_free(result)
            lib.hyperreg_options_free(options)


def solve(A, b, w=1.0, function="exp", x0=None, tol=1e-10, hessian="auto", callback=None, *,
          max_iterations=100, start="auto", seed=1, sketch_seed=None, threads=None):
    """Minimises L(x) = 0.5 ||u(Ax) - <u(Ax),1> b||^2 + 0.5 ||diag(w) A x||^2 in process.

    Parameters
    ----------
    A : scipy.sparse array or matrix, or 2-D array, shape (n, d)
        CSR with float64 data and int32/int64 indices in canonical form is used without a
        copy: the library reads its values and int32 column indices in place (int32 row
        offsets are widened, n + 1 integers); other inputs are converted once
        (docs/python.md). A must not change during the call. `Problem` keeps one checked
        copy for several solves.
    b : array, shape (n,)
    w : float or array of shape (n,)
        Row weights (>= 0); one number applies to every row. Default 1.
    function : "exp", "cosh" or "sinh"
    x0 : array of shape (d,), optional
        Start point; default: the `start` strategy.
    tol : float
        Stop when ||g(x)||_2 <= tol * ||g(x0)||_2 (Euclidean norm of the gradient).
    hessian : "auto", "exact", "sketch", "paper" or "pcg"
    callback : callable, optional
        Called with an `OptimizeResult` (nit, fun, jac_norm, rel_jac_norm, step_length,
        seconds) at the start point (nit 0) and after every iteration; returning True or
        raising StopIteration stops the solve (status "stopped_by_callback"). Any other
        exception stops it and is raised again from `solve`.
    max_iterations, start, seed, sketch_seed, threads :
        As the command line's --max-iterations, --start, --seed, --sketch-seed, --threads.

    Returns
    -------
    scipy.optimize.OptimizeResult with x, fun (L(x)), jac_norm (||g(x)||_2), nit, status (the
    status name, e.g. "converged"), success, message, trace (the report's per-iteration
    rows) and report (the `hyperreg solve --report` JSON as a dict).

    Raises
    ------
    ValueError (InvalidInputError for refusals by the library) for bad input;
    HyperRegError when the library cannot run the solve.
    """
    with Problem(A, b, w=w, function=function, copy=False) as problem:
        return problem.solve(x0=x0, tol=tol, hessian=hessian, callback=callback, max_iterations=max_iterations,
                             start=start, seed=seed, sketch_seed=sketch_seed, threads=threads)


def _trampoline(callback, state):
    """The C callback around a Python one (0 = continue; stops on True, StopIteration or an
    exception, which `solve` raises after the solve)."""

    def call(iteration, loss, gradient_norm, relative, step, seconds, _user):
        try:
            stop = callback(OptimizeResult(nit=iteration, fun=loss, jac_norm=gradient_norm, rel_jac_norm=relative,
                                           step_length=step, seconds=seconds))
            return 1 if stop is True else 0
        except StopIteration:
            return 1
        except BaseException as exc:  # noqa: BLE001 - raised again by solve
            state["error"] = exc
            return 1

    return call


def _json(function, *args):
    """Calls a C function that returns a JSON report through `char **`, parses and frees it."""
    text = ctypes.c_void_p()
    _call(function, *args, ctypes.byref(text))
    try:
        return json.loads(ctypes.string_at(text.value).decode("utf-8"))
    finally:
        lib.hyperreg_string_free(text)


def diagnose(A, b, x, w=1.0, function="exp", *, radius=None, samples=4, seed=1):
    """The paper's guarantee quantities at the point x (R, R0, sigma_min(A), the smallest
    Hessian eigenvalue l, the w conditions, Lipschitz bounds, the convergence radius; see
    docs/theory.md): the JSON report of `hyperreg diagnose --report`, as a dict. `radius`,
    `samples`, `seed` as the command line's --radius, --samples, --seed."""
    with Problem(A, b, w=w, function=function) as problem:
        x = _vector(x, problem.shape[1], "x", f"one entry per column of A ({problem.shape[1]} columns)")
        if radius is not None and not (np.isfinite(radius) and radius > 0):
            raise ValueError(f"radius must be finite and > 0, got {radius}")
        if int(samples) < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        return _json(lib.hyperreg_diagnose, problem._handle, _pointer(x), 0.0 if radius is None else float(radius),
                     int(samples), int(seed))


def shift(A, b, x_from, x_to=None, A_to=None, w=1.0, function="exp", *, radius=None):
    """Corollary F.2's target shift (docs/theory.md): delta_b equivalent to moving x_from to
    x_to (part 1) or A to A_to at x_from (part 2; give exactly one). Returns (delta_b, report),
    the report being the JSON of `hyperreg shift --report` as a dict."""
    if (x_to is None) == (A_to is None):
        raise ValueError("give exactly one of x_to (part 1) and A_to (part 2)")
    if radius is not None and not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be finite and > 0, got {radius}")
    with Problem(A, b, w=w, function=function) as problem:
        n, d = problem.shape
        x_from = _vector(x_from, d, "x_from", f"one entry per column of A ({d} columns)")
        delta_b = np.empty(n, dtype=np.float64)
        r = 0.0 if radius is None else float(radius)
        if x_to is not None:
            x_to = _vector(x_to, d, "x_to", f"one entry per column of A ({d} columns)")
            report = _json(lib.hyperreg_shift, problem._handle, _pointer(x_from), _pointer(x_to), None, r, _pointer(delta_b))
        else:
            with Problem(A_to, b, w=w, function=function) as other:
                if other.shape != problem.shape:
                    raise ValueError(f"A_to has shape {other.shape}, expected {problem.shape}")
                report = _json(lib.hyperreg_shift, problem._handle, _pointer(x_from), None, other._handle, r, _pointer(delta_b))
        return delta_b, report
