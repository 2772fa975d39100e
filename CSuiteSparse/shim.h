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

/// LAPACK's dsyevd (symmetric eigenvalues, divide and conquer), from OpenBLAS (linked by
/// this module). Declared here because Debian's OpenBLAS ships no LAPACK header; the two
/// trailing arguments are the hidden Fortran lengths of the character arguments (1 each).
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork,
             int *info, size_t jobz_len, size_t uplo_len);

#endif
