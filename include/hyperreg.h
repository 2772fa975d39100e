/*
 * hyperreg.h: the C ABI of hyperreg (library libCHyperReg.so, SwiftPM product CHyperReg).
 *
 * Solves  min_x 0.5 ||u(Ax) - <u(Ax),1> b||^2 + 0.5 ||diag(w) A x||^2,  u in {exp, cosh, sinh},
 * A a sparse n x d matrix in compressed-sparse-row (CSR) form, by the globalised Newton method
 * of the Swift library (docs/solver.md). Build:
 *
 *     swift build -c release --product CHyperReg     # .build/release/libCHyperReg.so
 *
 * Conventions
 *  - Functions that can fail return an int: HYPERREG_OK (0) or one of the HYPERREG_ERROR_*
 *    codes below. Their last argument `hyperreg_error **error` may be NULL; when it is not,
 *    *error is set to NULL on success and, on failure, to a new error handle holding the code
 *    and a message in words (free it with hyperreg_error_free). No function aborts the process
 *    on bad input: null pointers, negative sizes, unknown names and invalid CSR arrays are
 *    errors. Pointers to arrays must point to as many elements as the documentation says
 *    (the library cannot check a length it is not given).
 *  - Handles (hyperreg_matrix, hyperreg_problem, hyperreg_options, hyperreg_result,
 *    hyperreg_error) are opaque;
 *    each has a free function that accepts NULL. Strings returned by the library (const char *)
 *    belong to the handle they came from and stay valid until it is freed.
 *  - Thread safety: different handles may be used on different threads at the same time. A
 *    problem handle is read-only after creation, so one problem may be solved by several
 *    threads at once; an options handle may be shared by concurrent solves as long as no thread
 *    changes it meanwhile (a solve takes a copy when it starts). The thread count of a solve
 *    applies to that solve only (the process-wide setting is never changed).
 *  - Results do not depend on the thread count (same bits), and a solve through this ABI gives
 *    the same x, bit for bit, as `hyperreg solve` with the same data and options.
 */
#ifndef HYPERREG_H
#define HYPERREG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. */
#define HYPERREG_OK 0
/* A null pointer, a negative size, an unknown function name or an index width other than 32/64. */
#define HYPERREG_ERROR_INVALID_ARGUMENT 1
/* The CSR arrays break an invariant: row_offsets[0] != 0, decreasing offsets, the last offset
 * differs from nonzeros, a column index out of range or not strictly increasing within a row. */
#define HYPERREG_ERROR_INVALID_MATRIX 2
/* b, w or x0 do not fit A (A empty), or hold a non-finite entry, a negative weight, or an entry
 * whose square overflows. */
#define HYPERREG_ERROR_INVALID_PROBLEM 3
/* An option out of range (tolerance, max_iterations, threads) or an unknown option name. */
#define HYPERREG_ERROR_INVALID_OPTIONS 4
/* The solver could not run: CHOLMOD or LAPACK failed unrecoverably (e.g. out of memory), or the
 * start point's computation overflowed. */
#define HYPERREG_ERROR_SOLVER 5
/* A file could not be read (hyperreg_matrix_read): missing, unreadable or malformed; the message
 * names the file and, for malformed data, the line. */
#define HYPERREG_ERROR_IO 6

typedef struct hyperreg_error hyperreg_error;
typedef struct hyperreg_problem hyperreg_problem;
typedef struct hyperreg_options hyperreg_options;
typedef struct hyperreg_result hyperreg_result;
typedef struct hyperreg_matrix hyperreg_matrix;

/* The library version, "major.minor.patch" (the same as `hyperreg --version`). Static storage. */
const char *hyperreg_version(void);

/* ---- Errors ---------------------------------------------------------------------------- */

/* The code of an error (HYPERREG_ERROR_*); HYPERREG_ERROR_INVALID_ARGUMENT for NULL. */
int hyperreg_error_code(const hyperreg_error *error);
/* The message of an error, in words (UTF-8); NULL for NULL. Valid until the error is freed. */
const char *hyperreg_error_message(const hyperreg_error *error);
/* Frees an error (NULL is ignored). */
void hyperreg_error_free(hyperreg_error *error);

/* ---- Problems -------------------------------------------------------------------------- */

/*
 * Creates a problem from A in CSR form, b, w and the function u.
 *
 *   rows, columns, nonzeros  n, d and the number of stored entries of A (n, d >= 1).
 *   row_offsets     n + 1 indices: row i occupies entries row_offsets[i] .. row_offsets[i+1]-1;
 *                   row_offsets[0] = 0 and row_offsets[n] = nonzeros.
 *   column_indices  `nonzeros` column indices (0-based), strictly increasing within each row
 *                   (sorted, no duplicates: scipy's `A.has_canonical_format`).
 *   index_bits      32 or 64: the width of the integers in BOTH row_offsets and column_indices
 *                   (int32_t or int64_t, as in scipy's indptr/indices).
 *   values          `nonzeros` doubles, finite.
 *   b               n doubles, finite.
 *   w, w_count      w_count = n: one weight per row; w_count = 1: the same weight *w on every row;
 *                   w_count = 0 with w = NULL: every weight 1 (the command line's default).
 *                   Weights are finite and >= 0.
 *   function        "exp", "cosh" or "sinh".
 *   problem         receives the new handle (NULL on failure).
 *
 * The arrays are copied once into the library's own layout (row offsets as int64, column
 * indices as int32, values as double) and checked; the caller may free or change them as soon as
 * this returns. With index_bits = 64 the offsets are copied as they are and column indices
 * narrowed; with 32 the offsets are widened. The time taken is the report's `read_seconds`.
 */
int hyperreg_problem_create(int64_t rows, int64_t columns, int64_t nonzeros,
                            const void *row_offsets, const void *column_indices, int32_t index_bits,
                            const double *values, const double *b, const double *w, int64_t w_count,
                            const char *function, hyperreg_problem **problem, hyperreg_error **error);
/*
 * As hyperreg_problem_create, but A's arrays are used in place, not copied, where they already
 * have the library's layout: the values always, the column indices when index_bits = 32, the row
 * offsets when index_bits = 64 (the others are converted as above). They are still checked (one
 * pass). The caller keeps row_offsets, column_indices and values allocated and unchanged until
 * hyperreg_problem_free; b and w are copied. hyperreg_problem_values then returns `values`
 * itself. For SciPy's CSR arrays (int32 indices, double data) this avoids copying the nonzeros.
 */
int hyperreg_problem_create_borrowed(int64_t rows, int64_t columns, int64_t nonzeros,
                                     const void *row_offsets, const void *column_indices, int32_t index_bits,
                                     const double *values, const double *b, const double *w, int64_t w_count,
                                     const char *function, hyperreg_problem **problem, hyperreg_error **error);
/* n and d of a problem (-1 for NULL). */
int64_t hyperreg_problem_rows(const hyperreg_problem *problem);
int64_t hyperreg_problem_columns(const hyperreg_problem *problem);
/* Frees a problem (NULL is ignored). */
void hyperreg_problem_free(hyperreg_problem *problem);

/* The problem's stored values of A (nonzeros doubles, read-only, valid until the problem is
 * freed): lets a caller check that a problem made by hyperreg_problem_create_from_matrix shares
 * the matrix's storage (the same address as hyperreg_matrix_values). NULL for NULL. */
const double *hyperreg_problem_values(const hyperreg_problem *problem);

/* ---- Matrices read by the library ---------------------------------------------------------- */

/*
 * Reads a Matrix Market matrix file (coordinate or array, real/integer/pattern, general or
 * symmetric, .gz; docs/matrix-market.md) with the library's parallel reader into CSR storage
 * owned by the library. Its arrays can be read in place (below) and turned into a problem
 * without a copy (hyperreg_problem_create_from_matrix). Errors: HYPERREG_ERROR_IO, the message
 * naming the file and line.
 */
int hyperreg_matrix_read(const char *path, hyperreg_matrix **matrix, hyperreg_error **error);
/* n, d and the number of stored entries (-1 for NULL). */
int64_t hyperreg_matrix_rows(const hyperreg_matrix *matrix);
int64_t hyperreg_matrix_columns(const hyperreg_matrix *matrix);
int64_t hyperreg_matrix_nonzeros(const hyperreg_matrix *matrix);
/* Seconds the read took (NaN for NULL). */
double hyperreg_matrix_seconds(const hyperreg_matrix *matrix);
/* The stored arrays, read-only, valid until the matrix is freed (a problem made from the matrix
 * keeps its own reference to them):
 *   row offsets: n + 1 integers; index_bits 64 gives the storage itself (int64_t), 32 a copy as
 *     int32_t made when the matrix was read (NULL when nonzeros exceeds INT32_MAX), for callers
 *     whose CSR type wants both index arrays of one width;
 *   column indices: nonzeros int32_t, sorted within each row;
 *   values: nonzeros doubles. */
const void *hyperreg_matrix_row_offsets(const hyperreg_matrix *matrix, int32_t index_bits);
const int32_t *hyperreg_matrix_column_indices(const hyperreg_matrix *matrix);
const double *hyperreg_matrix_values(const hyperreg_matrix *matrix);
/* Frees a matrix (NULL is ignored); problems made from it stay valid. */
void hyperreg_matrix_free(hyperreg_matrix *matrix);

/* A problem whose A is the matrix's storage, shared, not copied (the matrix may be freed
 * afterwards); b, w, w_count and function as in hyperreg_problem_create. */
int hyperreg_problem_create_from_matrix(const hyperreg_matrix *matrix, const double *b, const double *w,
                                        int64_t w_count, const char *function, hyperreg_problem **problem,
                                        hyperreg_error **error);

/* ---- Options --------------------------------------------------------------------------- */

/* New options with the command line's defaults: tolerance 1e-10, 100 iterations, hessian "auto",
 * start "auto", seed 1, the default thread count, no callback. Never NULL. */
hyperreg_options *hyperreg_options_create(void);
/* Frees options (NULL is ignored). */
void hyperreg_options_free(hyperreg_options *options);

/* Stop when ||g(x)||_2 <= tolerance * ||g(x0)||_2 (Euclidean norm of the gradient). Finite, >= 0. */
int hyperreg_options_set_tolerance(hyperreg_options *options, double tolerance, hyperreg_error **error);
/* At most this many Newton iterations (>= 0). */
int hyperreg_options_set_max_iterations(hyperreg_options *options, int64_t max_iterations, hyperreg_error **error);
/* Hessian strategy: "auto", "exact", "sketch", "paper" or "pcg" (docs/solver.md). */
int hyperreg_options_set_hessian(hyperreg_options *options, const char *hessian, hyperreg_error **error);
/* Start strategy when hyperreg_solve gets no x0: "auto", "log-fit", "inverse-fit", "random", "zero". */
int hyperreg_options_set_start(hyperreg_options *options, const char *start, hyperreg_error **error);
/* Seed of the random start (default 1). */
int hyperreg_options_set_seed(hyperreg_options *options, uint64_t seed, hyperreg_error **error);
/* Seed of the sketch's random choices (hessian "sketch", "paper", "pcg", or "auto" choosing sketch). */
int hyperreg_options_set_sketch_seed(hyperreg_options *options, uint64_t seed, hyperreg_error **error);
/* Threads for the solve's streaming kernels; 0 (default) means HYPERREG_THREADS or all cores.
 * Applies to solves with these options only. Results do not depend on it. */
int hyperreg_options_set_threads(hyperreg_options *options, int64_t threads, hyperreg_error **error);

/*
 * The per-iteration callback: called on the solving thread with the start point's record
 * (iteration 0) and after every Newton iteration. Arguments: the iteration, the loss L(x_t), the
 * gradient norm ||g(x_t)||_2, the relative gradient norm ||g(x_t)||_2 / ||g(x0)||_2, the step
 * length t of the iteration (0 at iteration 0), the seconds since the solve started, and the
 * user data given to hyperreg_options_set_callback. Return 0 to continue, any other value to
 * stop: the solve then ends with status "stopped_by_callback" and the current x.
 */
typedef int (*hyperreg_callback)(int64_t iteration, double loss, double gradient_norm,
                                 double relative_gradient_norm, double step_length, double seconds,
                                 void *user_data);
/* Sets (or, with NULL, clears) the callback and its user data. */
int hyperreg_options_set_callback(hyperreg_options *options, hyperreg_callback callback, void *user_data,
                                  hyperreg_error **error);

/* ---- Solving --------------------------------------------------------------------------- */

/*
 * Solves a problem.
 *
 *   problem  from hyperreg_problem_create.
 *   options  NULL for the defaults.
 *   x0       NULL for the start strategy of the options, else d doubles (finite).
 *   x        receives the d doubles of the answer (the caller allocates them). x is written
 *            whenever a result is returned; it is a usable answer when
 *            hyperreg_result_success(result) is 1; otherwise it is the solver's last point and
 *            may be meaningless or non-finite (read the status and message).
 *   result   receives the new result handle (NULL on failure).
 *
 * Returns HYPERREG_OK when the solver ran to a status (converged, converged_at_roundoff, stalled,
 * iteration_limit, but
 * also degenerate, stationary_start, non_finite, ...: read the status); an error code when it
 * could not run (invalid x0, CHOLMOD failure, ...).
 */
int hyperreg_solve(const hyperreg_problem *problem, const hyperreg_options *options, const double *x0,
                   double *x, hyperreg_result **result, hyperreg_error **error);

/* ---- Results --------------------------------------------------------------------------- */

/* The status: "converged", "converged_at_roundoff", "stalled", "iteration_limit",
 * "stationary_start", "degenerate", "stopped_by_callback", "assumption_violated", "diverged" or
 * "non_finite" (docs/cli.md). */
const char *hyperreg_result_status(const hyperreg_result *result);
/* 1 when x is a usable answer (the report's `success`: finite, and converged,
 * converged_at_roundoff, stalled, iteration_limit or stopped_by_callback), 0 when not, -1 for
 * NULL. */
int hyperreg_result_success(const hyperreg_result *result);
/* A sentence explaining the status (what was reached, what to do). */
const char *hyperreg_result_message(const hyperreg_result *result);
/* Newton iterations performed (-1 for NULL). */
int64_t hyperreg_result_iterations(const hyperreg_result *result);
/* L(x0) and L(x) (L(x) recomputed from the returned x); NaN for NULL. */
double hyperreg_result_initial_loss(const hyperreg_result *result);
double hyperreg_result_final_loss(const hyperreg_result *result);
/* ||g(x0)||_2, ||g(x)||_2 (Euclidean) and their ratio; NaN for NULL. */
double hyperreg_result_initial_gradient_norm(const hyperreg_result *result);
double hyperreg_result_final_gradient_norm(const hyperreg_result *result);
double hyperreg_result_relative_gradient_norm(const hyperreg_result *result);
/* Wall-clock seconds of the start point and the solve (the report's `seconds`; building the
 * problem is `read_seconds`). */
double hyperreg_result_seconds(const hyperreg_result *result);
/*
 * The JSON report, the same keys as `hyperreg solve --report` (docs/cli.md, with the per-
 * iteration `trace`); `inputs` say "(memory)" and `start` is "given" when x0 was passed.
 * *json receives a UTF-8 string owned by the result.
 */
int hyperreg_result_report(const hyperreg_result *result, const char **json, hyperreg_error **error);
/* Frees a result (NULL is ignored). */
void hyperreg_result_free(hyperreg_result *result);

/* ---- Theory: diagnose and shift (docs/theory.md) -------------------------------------------- */

/*
 * The paper's guarantee quantities at the point x (d doubles): R, R0, sigma_min(A), the smallest
 * Hessian eigenvalue l, the w conditions of Lemma C.4 and Theorem F.1, the Lipschitz bound
 * beside an empirical estimate, the convergence radius, the degenerate cases. *json receives the
 * report of `hyperreg diagnose --report` (docs/cli.md; `inputs` say "(memory)"), a string the
 * caller frees with hyperreg_string_free. radius: 0 or NaN for the default max(||A||, ||x||,
 * ||b||), else finite > 0; samples: points for the empirical Lipschitz estimate (0: 4); seed: of
 * their directions (the command line's default is 1).
 */
int hyperreg_diagnose(const hyperreg_problem *problem, const double *x, double radius, int64_t samples, uint64_t seed,
                      char **json, hyperreg_error **error);

/*
 * Corollary F.2's target shift: delta_b (n doubles, written to the caller's delta_b) with which
 * the problem with target b - delta_b has at x_from the fit term the original has after the
 * move. Part 1: x_to (d doubles) given, problem_to NULL: the move x_from -> x_to. Part 2: x_to
 * NULL, problem_to given: the move A -> problem_to's A (same shape; its b and w are not used),
 * at x_from. radius as in hyperreg_diagnose. *json (if json is not NULL) receives the report of
 * `hyperreg shift --report`, freed with hyperreg_string_free.
 */
int hyperreg_shift(const hyperreg_problem *problem, const double *x_from, const double *x_to,
                   const hyperreg_problem *problem_to, double radius, double *delta_b, char **json,
                   hyperreg_error **error);

/* Frees a string returned by hyperreg_diagnose or hyperreg_shift (NULL is ignored). */
void hyperreg_string_free(char *text);

#ifdef __cplusplus
}
#endif

#endif /* HYPERREG_H */
