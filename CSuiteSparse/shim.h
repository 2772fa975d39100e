#ifndef CSUITESPARSE_SHIM_H
#define CSUITESPARSE_SHIM_H
// CHOLMOD from Debian's libsuitesparse-dev (SuiteSparse 5.12, CHOLMOD 3.0.x).
#include <suitesparse/cholmod.h>

/// CHOLMOD's version as major*10000 + minor*100 + patch (the macro is function-like, so Swift cannot see it).
static inline int CSuiteSparse_cholmodVersion(void) {
    return CHOLMOD_MAIN_VERSION * 10000 + CHOLMOD_SUB_VERSION * 100 + CHOLMOD_SUBSUB_VERSION;
}
#endif
