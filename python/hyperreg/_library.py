"""The ctypes declarations of hyperreg's C ABI (include/hyperreg.h) and the loaded library.

ctypes releases the GIL during every foreign call (so a solve runs while other Python threads
do), and takes it again for the per-iteration callback."""
import ctypes
import os
from pathlib import Path

_NAME = "libCHyperReg.so"

c_int = ctypes.c_int
c_int32 = ctypes.c_int32
c_int64 = ctypes.c_int64
c_uint64 = ctypes.c_uint64
c_double = ctypes.c_double
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
c_double_p = ctypes.POINTER(ctypes.c_double)
handle_p = ctypes.POINTER(ctypes.c_void_p)

#: The callback of hyperreg_options_set_callback: iteration, loss, gradient norm, relative
#: gradient norm, step length, seconds, user data -> 0 to continue, else stop.
CALLBACK = ctypes.CFUNCTYPE(c_int, c_int64, c_double, c_double, c_double, c_double, c_double, c_void_p)


def _path():
    """The library: HYPERREG_LIBRARY if set, else the copy bundled in this package."""
    override = os.environ.get("HYPERREG_LIBRARY")
    return Path(override) if override else Path(__file__).resolve().parent / _NAME


def _load():
    path = _path()
    if not path.is_file():
        raise ImportError(f"{path}: hyperreg's library is missing; install the package with `pip install ./python` "
                          "from a hyperreg clone (it builds the library), or set HYPERREG_LIBRARY")
    lib = ctypes.CDLL(str(path))
    signatures = {
        "hyperreg_version": (c_char_p, []),
        "hyperreg_error_code": (c_int, [c_void_p]),
        "hyperreg_error_message": (c_char_p, [c_void_p]),
        "hyperreg_error_free": (None, [c_void_p]),
        "hyperreg_problem_create": (c_int, [c_int64, c_int64, c_int64, c_void_p, c_void_p, c_int32, c_double_p,
                                            c_double_p, c_double_p, c_int64, c_char_p, handle_p, handle_p]),
        "hyperreg_problem_create_borrowed": (c_int, [c_int64, c_int64, c_int64, c_void_p, c_void_p, c_int32, c_double_p,
                                                     c_double_p, c_double_p, c_int64, c_char_p, handle_p, handle_p]),
        "hyperreg_problem_create_from_matrix": (c_int, [c_void_p, c_double_p, c_double_p, c_int64, c_char_p, handle_p, handle_p]),
        "hyperreg_problem_values": (c_void_p, [c_void_p]),
        "hyperreg_matrix_read": (c_int, [c_char_p, handle_p, handle_p]),
        "hyperreg_matrix_free": (None, [c_void_p]),
        "hyperreg_matrix_rows": (c_int64, [c_void_p]),
        "hyperreg_matrix_columns": (c_int64, [c_void_p]),
        "hyperreg_matrix_nonzeros": (c_int64, [c_void_p]),
        "hyperreg_matrix_seconds": (c_double, [c_void_p]),
        "hyperreg_matrix_row_offsets": (c_void_p, [c_void_p, c_int32]),
        "hyperreg_matrix_column_indices": (c_void_p, [c_void_p]),
        "hyperreg_matrix_values": (c_void_p, [c_void_p]),
        "hyperreg_string_free": (None, [c_void_p]),
        "hyperreg_diagnose": (c_int, [c_void_p, c_double_p, c_double, c_int64, c_uint64, handle_p, handle_p]),
        "hyperreg_shift": (c_int, [c_void_p, c_double_p, c_double_p, c_void_p, c_double, c_double_p, handle_p, handle_p]),
        "hyperreg_problem_rows": (c_int64, [c_void_p]),
        "hyperreg_problem_columns": (c_int64, [c_void_p]),
        "hyperreg_problem_free": (None, [c_void_p]),
        "hyperreg_options_create": (c_void_p, []),
        "hyperreg_options_free": (None, [c_void_p]),
        "hyperreg_options_set_tolerance": (c_int, [c_void_p, c_double, handle_p]),
        "hyperreg_options_set_max_iterations": (c_int, [c_void_p, c_int64, handle_p]),
        "hyperreg_options_set_hessian": (c_int, [c_void_p, c_char_p, handle_p]),
        "hyperreg_options_set_start": (c_int, [c_void_p, c_char_p, handle_p]),
        "hyperreg_options_set_seed": (c_int, [c_void_p, c_uint64, handle_p]),
        "hyperreg_options_set_sketch_seed": (c_int, [c_void_p, c_uint64, handle_p]),
        "hyperreg_options_set_threads": (c_int, [c_void_p, c_int64, handle_p]),
        "hyperreg_options_set_callback": (c_int, [c_void_p, CALLBACK, c_void_p, handle_p]),
        "hyperreg_solve": (c_int, [c_void_p, c_void_p, c_double_p, c_double_p, handle_p, handle_p]),
        "hyperreg_result_status": (c_char_p, [c_void_p]),
        "hyperreg_result_success": (c_int, [c_void_p]),
        "hyperreg_result_message": (c_char_p, [c_void_p]),
        "hyperreg_result_iterations": (c_int64, [c_void_p]),
        "hyperreg_result_initial_loss": (c_double, [c_void_p]),
        "hyperreg_result_final_loss": (c_double, [c_void_p]),
        "hyperreg_result_initial_gradient_norm": (c_double, [c_void_p]),
        "hyperreg_result_final_gradient_norm": (c_double, [c_void_p]),
        "hyperreg_result_relative_gradient_norm": (c_double, [c_void_p]),
        "hyperreg_result_seconds": (c_double, [c_void_p]),
        "hyperreg_result_report": (c_int, [c_void_p, ctypes.POINTER(c_char_p), handle_p]),
        "hyperreg_result_free": (None, [c_void_p]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


lib = _load()
