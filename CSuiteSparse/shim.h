#ifndef CSUITESPARSE_SHIM_H
#define CSUITESPARSE_SHIM_H
// CHOLMOD from Debian's libsuitesparse-dev (SuiteSparse 5.12, CHOLMOD 3.0.x).
//
// Swift cannot see function-like macros, so the few facts the Cholmod module needs from
// them are exposed here as tiny `static inline` helpers prefixed with the module name.
#include <suitesparse/cholmod.h>

/// CHOLMOD's version as major*10000 + minor*100 + patch, from the headers this module was
/// compiled against (the macro is function-like, so Swift cannot see it).
static inline int CSuiteSparse_cholmodVersion(void) {
    return CHOLMOD_MAIN_VERSION * 10000 + CHOLMOD_SUB_VERSION * 100 + CHOLMOD_SUBSUB_VERSION;
}

/// CHOLMOD's version as major*10000 + minor*100 + patch, from the library loaded at run
/// time (`cholmod_version`), which can differ from the headers if the system changed.
static inline int CSuiteSparse_cholmodLibraryVersion(void) {
    int v[3] = {0, 0, 0};
    (void) cholmod_version(v);
    return v[0] * 10000 + v[1] * 100 + v[2];
}

#include <stddef.h>

/// LAPACK (reference interface, Fortran symbols) from the OpenBLAS this module links.
/// Debian's OpenBLAS ships no LAPACK header (no LAPACKE), so the routines hyperreg calls are
/// declared here. Column-major storage; every argument by pointer; trailing `*_len`
/// arguments are the hidden Fortran lengths of character arguments (1 each).
/// dgeqrf: QR factorisation of an m x n matrix (R in the upper triangle on return).
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau,
             double *work, const int *lwork, int *info);
/// dtrtrs: solves op(T) X = B for a triangular T with nrhs right-hand sides.
void dtrtrs_(const char *uplo, const char *trans, const char *diag, const int *n,
             const int *nrhs, const double *a, const int *lda, double *b, const int *ldb,
             int *info, size_t uplo_len, size_t trans_len, size_t diag_len);
/// dsyrk (BLAS 3): C := alpha A^T A + beta C (trans = 'T'), upper or lower triangle of C.
void dsyrk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha,
            const double *a, const int *lda, const double *beta, double *c, const int *ldc,
            size_t uplo_len, size_t trans_len);
/// dsyevd: eigenvalues (and optionally eigenvectors) of a symmetric matrix, divide and conquer.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork,
             int *info, size_t jobz_len, size_t uplo_len);
/// dpotrf: Cholesky factorisation of a symmetric positive definite matrix (info > 0: the
/// leading minor of that order is not positive definite).
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
/// dpotrs: solves A X = B with the Cholesky factor from dpotrf.
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info, size_t uplo_len);
/// dgemm (BLAS 3): C := alpha op(A) op(B) + beta C.
void dgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b, const int *ldb,
            const double *beta, double *c, const int *ldc, size_t transa_len, size_t transb_len);

#endif
