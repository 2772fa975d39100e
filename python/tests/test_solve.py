"""Tests of the Python package (and through it of the C ABI, include/hyperreg.h).

Run from a clone after `pip install ./python` (scripts/test.sh does both):
    python -m pytest python/tests
The CLI comparisons need the release command line (swift build -c release --product hyperreg,
or HYPERREG_CLI=path); without it they skip with a printed reason."""
import ctypes
import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse

import hyperreg
from hyperreg._solve import _csr_arrays

REPO = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("HYPERREG_CLI", REPO / ".build/release/hyperreg"))
PLANTED = REPO / "Data/planted-exp-2000x50"
ATTENTION = REPO / "Data/attention/keys-river-l0h3"


def load(folder):
    """A (CSR), b, w and the function of a bundled problem, read with SciPy."""
    a = scipy.sparse.csr_matrix(scipy.io.mmread(folder / "A.mtx"))
    b = np.asarray(scipy.io.mmread(folder / "b.mtx")).ravel()
    w = np.asarray(scipy.io.mmread(folder / "w.mtx")).ravel()
    return a, b, w, (folder / "function").read_text().strip()


def read_array(path):
    """The entries of a Matrix Market array file (hyperreg writes round-trip decimal digits)."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("%")]
    return np.array([float(v) for v in lines[1:]])


def small_problem(n=400, d=12, seed=3):
    """A random exp problem with an attainable target (b = softmax(A x_true))."""
    rng = np.random.default_rng(seed)
    a = scipy.sparse.random(n, d, density=0.3, format="csr", random_state=rng, data_rvs=rng.standard_normal)
    z = a @ rng.normal(scale=0.5, size=d)
    b = np.exp(z - z.max())
    return a, b / b.sum()


@pytest.mark.parametrize("folder", [PLANTED, ATTENTION], ids=["planted-exp-2000x50", "attention-keys-river-l0h3"])
def test_same_x_as_the_command_line_bit_for_bit(folder, tmp_path):
    if not CLI.is_file():
        pytest.skip(f"{CLI} missing: build it with `swift build -c release --product hyperreg` or set HYPERREG_CLI")
    a, b, w, function = load(folder)
    run = subprocess.run([str(CLI), "solve", str(folder / "A.mtx"), str(folder / "b.mtx"), "--weights", str(folder / "w.mtx"),
                          "--function", function, "--quiet", "--output", str(tmp_path / "x.mtx")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    expected = read_array(tmp_path / "x.mtx")
    result = hyperreg.solve(a, b, w=w, function=function)
    assert result.success
    # Same data, same options, same code: the same bits (compared as integers).
    assert np.array_equal(result.x.view(np.int64), expected.view(np.int64))
    assert result.report["problem"] == {"rows": a.shape[0], "columns": a.shape[1], "nonzeros": a.nnz, "function": function}


def test_result_follows_scipy_optimize_conventions():
    a, b, w, function = load(PLANTED)
    r = hyperreg.solve(a, b, w=w, function=function)
    assert isinstance(r, scipy.optimize.OptimizeResult)
    assert r.status == "converged" and r.success and r.nit == r.report["iterations"] == len(r.trace) - 1
    assert r.fun == r.report["final_loss"] and r.jac_norm == r.report["final_gradient_norm"]
    assert r.jac_norm <= 1e-10 * r.report["initial_gradient_norm"]   # the documented stopping rule
    assert r.report["inputs"]["matrix"] == "(memory)" and r.report["start"] == "log-fit"
    assert r.report["version"] == hyperreg.__version__


def test_every_input_form_gives_the_same_bits():
    a, b = small_problem()
    reference = hyperreg.solve(a, b, w=0.01).x
    for other in (a.toarray(), a.tocoo(), scipy.sparse.csr_array(a), a.tocsc()):
        assert np.array_equal(hyperreg.solve(other, b, w=0.01).x, reference)
    wide = a.copy()
    wide.indptr = wide.indptr.astype(np.int64)
    wide.indices = wide.indices.astype(np.int64)
    assert np.array_equal(hyperreg.solve(wide, b, w=np.full(a.shape[0], 0.01)).x, reference)


def test_thread_count_does_not_change_the_bits():
    a, b = small_problem(n=3000, d=20)
    one = hyperreg.solve(a, b, w=0.01, threads=1)
    two = hyperreg.solve(a, b, w=0.01, threads=2)
    assert one.report["threads"] == 1 and two.report["threads"] == 2
    assert np.array_equal(one.x, two.x)


def test_bad_inputs_raise_value_errors_naming_the_problem():
    a, b = small_problem()
    n, d = a.shape
    cases = [
        (lambda: hyperreg.solve(a, b[:-1]), f"b has shape ({n - 1},), expected ({n},)"),
        (lambda: hyperreg.solve(a, b, w=np.ones(3)), "w has shape (3,)"),
        (lambda: hyperreg.solve(a, b, x0=np.zeros(d + 1)), f"x0 has shape ({d + 1},)"),
        (lambda: hyperreg.solve(np.ones(5), b), "A must be a 2-D array"),
        (lambda: hyperreg.solve(a, np.where(np.arange(n) == 4, np.nan, b)), "b[5] = nan is not finite"),
        (lambda: hyperreg.solve(a, b, w=-1.0), "weights must be finite and >= 0"),
        (lambda: hyperreg.solve(a, b, function="tanh"), 'function is "tanh"'),
        (lambda: hyperreg.solve(a, b, hessian="magic"), 'hessian is "magic"'),
        (lambda: hyperreg.solve(a, b, start="middle"), 'start is "middle"'),
        (lambda: hyperreg.solve(a, b, tol=-1.0), "tolerance must be finite and >= 0"),
        (lambda: hyperreg.solve(a, b, max_iterations=-2), "max_iterations must be >= 0"),
        (lambda: hyperreg.solve(a, b, threads=0), "threads must be >= 1"),
        (lambda: hyperreg.solve(a, b, x0=np.full(d, np.inf)), "is not finite"),
        (lambda: hyperreg.solve(scipy.sparse.csr_matrix((0, 3)), np.zeros(0)), "at least one row and one column"),
        (lambda: hyperreg.solve(a.astype(np.complex128), b), "A must hold real numbers, got dtype complex128"),
        (lambda: hyperreg.solve(a.toarray().astype(object), b), "A must hold real numbers, got dtype object"),
        (lambda: hyperreg.solve(a, b + 1j), "b must hold real numbers"),
        (lambda: hyperreg.solve(a, ["x"] * n), "b must be a vector of real numbers"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError) as caught:
            call()
        assert words in str(caught.value), (words, str(caught.value))


def test_invalid_csr_arrays_are_refused_by_the_library_with_a_code():
    # scipy builds this without a full check: column 5 of a 2 x 3 matrix.
    bad = scipy.sparse.csr_matrix((np.array([1.0, 2.0]), np.array([0, 5], dtype=np.int32), np.array([0, 1, 2], dtype=np.int32)),
                                  shape=(2, 3))
    with pytest.raises(hyperreg.InvalidInputError) as caught:
        hyperreg.solve(bad, np.array([0.5, 0.5]))
    assert caught.value.code == 2 and "column index 5 outside 0..<3" in str(caught.value)


def test_callback_sees_every_iteration_and_can_stop_the_solve():
    a, b, w, function = load(PLANTED)
    full = hyperreg.solve(a, b, w=w, function=function)
    seen = []

    def stop_after_two(state):
        seen.append((state.nit, state.fun, state.jac_norm))
        return state.nit == 2

    r = hyperreg.solve(a, b, w=w, function=function, callback=stop_after_two)
    assert r.status == "stopped_by_callback" and r.nit == 2 and r.success
    assert [s[0] for s in seen] == [0, 1, 2]
    # The callback's numbers are the trace's.
    assert [(t["iteration"], t["loss"], t["gradient_norm"]) for t in full.trace[:3]] == seen

    def interrupt(state):
        if state.nit == 1:
            raise StopIteration
    assert hyperreg.solve(a, b, w=w, function=function, callback=interrupt).nit == 1

    def broken(state):
        raise KeyError("from the callback")
    with pytest.raises(KeyError, match="from the callback"):
        hyperreg.solve(a, b, w=w, function=function, callback=broken)


def test_csr_input_is_passed_without_a_copy():
    a, _ = small_problem()
    for matrix in (a, scipy.sparse.csr_array(a)):
        n, d, indptr, indices, data, bits = _csr_arrays(matrix)
        assert (n, d, bits) == (*matrix.shape, 32)
        for given, passed in ((matrix.indptr, indptr), (matrix.indices, indices), (matrix.data, data)):
            assert passed.ctypes.data == given.ctypes.data   # the very buffer scipy holds
    coo = a.tocoo()
    _, _, _, _, data, _ = _csr_arrays(coo)
    assert not np.shares_memory(data, coo.data)             # converted once


def test_a_borrowing_problem_reads_scipys_arrays_in_place():
    from hyperreg._library import lib
    a, b, w, function = load(PLANTED)
    borrowed = hyperreg.Problem(a, b, w=w, function=function, copy=False)
    assert lib.hyperreg_problem_values(borrowed._handle) == a.data.ctypes.data      # the library reads scipy's buffer
    copied = hyperreg.Problem(a, b, w=w, function=function)
    assert lib.hyperreg_problem_values(copied._handle) != a.data.ctypes.data        # the default copies
    expected = copied.solve().x
    assert np.array_equal(borrowed.solve().x, expected)                               # same bits either way
    assert np.array_equal(hyperreg.solve(a, b, w=w, function=function).x, expected)
    # The borrowed arrays are still checked (a column index out of range is refused).
    bad = a.copy()
    bad.indices[0] = a.shape[1]
    with pytest.raises(ValueError, match="column index"):
        hyperreg.Problem(bad, b, w=w, function=function, copy=False)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc (Linux)")
def test_no_memory_growth_over_1000_solves():
    a, b = small_problem(n=600, d=16)
    for _ in range(100):                       # warm up allocator pools and caches
        hyperreg.solve(a, b, w=0.01)
    before = rss_bytes()
    for _ in range(1000):
        hyperreg.solve(a, b, w=0.01)
    growth = rss_bytes() - before
    # A leaked problem handle alone would hold its copy of A (about 35 kB here: 35 MB over 1000
    # solves); a leaked result its trace, report and strings (several kB each, several MB).
    assert growth < 2 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB over 1000 solves"


def test_separate_problems_solve_in_parallel_threads():
    problems = [small_problem(n=2000, d=15, seed=s) for s in range(4)]
    expected = [hyperreg.solve(a, b, w=0.01).x for a, b in problems]
    found = [None] * len(problems)

    def work(k):
        a, b = problems[k]
        found[k] = hyperreg.solve(a, b, w=0.01, threads=1).x

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(problems))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e, f in zip(expected, found):
        assert np.array_equal(e, f)


def test_a_problem_built_once_solves_again_with_the_same_bits():
    a, b, w, function = load(PLANTED)
    once = hyperreg.solve(a, b, w=w, function=function)
    with hyperreg.Problem(a, b, w=w, function=function) as problem:
        first = problem.solve()
        again = problem.solve(x0=np.zeros(a.shape[1]), tol=1e-6)
        third = problem.solve()
    assert np.array_equal(first.x, once.x) and np.array_equal(third.x, once.x)
    assert again.report["start"] == "given" and again.report["inputs"]["x0"] == "(memory)" and again.success
    with pytest.raises(ValueError, match="closed"):
        problem.solve()


def test_read_mtx_matches_scipy_and_its_problems_share_the_storage():
    from hyperreg._library import lib
    a, b, w, function = load(PLANTED)
    read = hyperreg.read_mtx(PLANTED / "A.mtx")
    assert isinstance(read, scipy.sparse.csr_array) and read.shape == a.shape and not read.data.flags.writeable
    for mine, theirs in ((read.indptr, a.indptr), (read.indices, a.indices), (read.data, a.data)):
        assert np.array_equal(mine.view(np.uint8), theirs.astype(mine.dtype).view(np.uint8))   # same bits
    problem = hyperreg.Problem(read, b, w=w, function=function)
    assert lib.hyperreg_problem_values(problem._handle) == read.data.ctypes.data    # shared, not copied
    copied = hyperreg.Problem(read.copy(), b, w=w, function=function)
    assert lib.hyperreg_problem_values(copied._handle) != read.data.ctypes.data     # a copy is copied
    expected = hyperreg.solve(a, b, w=w, function=function).x
    del read                                           # the problem keeps the storage
    assert np.array_equal(problem.solve().x, expected) and np.array_equal(copied.solve().x, expected)
    with pytest.raises(hyperreg.HyperRegError) as caught:
        hyperreg.read_mtx(REPO / "no-such-file.mtx")
    assert caught.value.code == 6 and "no-such-file.mtx" in str(caught.value)


def test_read_mtx_frees_its_storage():
    for _ in range(30):
        hyperreg.read_mtx(PLANTED / "A.mtx")
    before = rss_bytes()
    for _ in range(300):
        m = hyperreg.read_mtx(PLANTED / "A.mtx")
        hyperreg.solve(m, np.full(m.shape[0], 1 / m.shape[0]), w=1.0, max_iterations=1)
    growth = rss_bytes() - before
    # A leaked matrix holds its arrays (10016 entries) and more: 54 MB over 300 reads, checked by hand.
    assert growth < 4 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB over 300 reads"


def test_the_largest_iteration_limit_solves():
    a, b = small_problem()
    usual = hyperreg.solve(a, b, w=0.01)
    huge = hyperreg.solve(a, b, w=0.01, max_iterations=2**63 - 1)
    assert huge.success and np.array_equal(huge.x, usual.x) and huge.report["max_iterations"] == 2**63 - 1


def cli_json(args, tmp_path):
    if not CLI.is_file():
        pytest.skip(f"{CLI} missing: build it with `swift build -c release --product hyperreg` or set HYPERREG_CLI")
    run = subprocess.run([str(CLI)] + [str(a) for a in args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    import json
    return json.loads(run.stdout)


def test_diagnose_and_shift_give_the_command_lines_reports(tmp_path):
    a, b, w, function = load(PLANTED)
    x_true = read_array(PLANTED / "x_true.mtx")
    common = [PLANTED / "A.mtx", PLANTED / "b.mtx", "--weights", PLANTED / "w.mtx", "--function", function]
    expected = cli_json(["diagnose", *common, "--x", PLANTED / "x_true.mtx", "--report", "-"], tmp_path)
    found = hyperreg.diagnose(a, b, x_true, w=w, function=function)
    assert found["inputs"]["x"] == "(memory)"
    for report in (expected, found):
        report.pop("inputs")
    assert found == expected        # every number, bit for bit (same code, same data)

    x = hyperreg.solve(a, b, w=w, function=function).x
    subprocess.run([str(CLI), "solve", *map(str, common), "--quiet", "--output", str(tmp_path / "x.mtx")], check=True)
    expected = cli_json(["shift", *common, "--from", PLANTED / "x_true.mtx", "--to", tmp_path / "x.mtx",
                         "--output", tmp_path / "delta.mtx", "--report", "-"], tmp_path)
    delta_b, found = hyperreg.shift(a, b, x_true, x_to=x, w=w, function=function)
    assert np.array_equal(delta_b, read_array(tmp_path / "delta.mtx"))
    for report in (expected, found):
        report.pop("inputs")
    assert found == expected and found["part"] == 1

    a_to = a.copy()
    a_to.data = a_to.data * 1.001
    delta_b, found = hyperreg.shift(a, b, x_true, A_to=a_to, w=w, function=function)
    assert found["part"] == 2 and delta_b.shape == (a.shape[0],) and np.isfinite(delta_b).all()
    with pytest.raises(ValueError, match="exactly one of x_to"):
        hyperreg.shift(a, b, x_true, w=w)
    with pytest.raises(ValueError, match="radius must be finite and > 0"):
        hyperreg.diagnose(a, b, x_true, radius=-1.0)


def test_the_gil_is_released_while_the_library_works():
    # ctypes releases the GIL around a foreign call unless the library was loaded as a Python
    # C-API library (ctypes.PyDLL, flag _FUNCFLAG_PYTHONAPI); then no other thread could run
    # during a solve. (A timing test cannot tell the two apart: the callback lets other
    # threads in at every iteration either way.)
    from hyperreg._library import lib
    assert isinstance(lib, ctypes.CDLL) and not isinstance(lib, ctypes.PyDLL)
    assert not lib._func_flags_ & ctypes._FUNCFLAG_PYTHONAPI
    assert not lib.hyperreg_solve._flags_ & ctypes._FUNCFLAG_PYTHONAPI


def test_null_and_mistyped_handles_are_errors_not_crashes():
    from hyperreg._library import c_double_p, lib
    a, b = small_problem()
    x = np.empty(a.shape[1])
    with hyperreg.Problem(a, b) as problem:
        for args, words in (((problem._handle, problem._handle), b"options is not an options handle"),
                            ((None, None), b"problem is a null pointer")):
            result, error = ctypes.c_void_p(), ctypes.c_void_p()
            code = lib.hyperreg_solve(*args, None, x.ctypes.data_as(c_double_p), ctypes.byref(result), ctypes.byref(error))
            assert code == 1 and not result and words in lib.hyperreg_error_message(error)
            lib.hyperreg_error_free(error)
    assert lib.hyperreg_result_success(None) == -1 and lib.hyperreg_result_status(None) is None
    assert np.isnan(lib.hyperreg_result_final_loss(None)) and lib.hyperreg_problem_rows(None) == -1


def test_the_package_version_is_the_librarys():
    # pyproject.toml repeats the version of HyperRegVersion (Sources/HyperRegReport): a bump of
    # one without the other fails here.
    from importlib import metadata
    try:
        installed = metadata.version("hyperreg")
    except metadata.PackageNotFoundError:
        pytest.skip("the package is not installed (run through scripts/python-test.sh)")
    assert installed == hyperreg.__version__
