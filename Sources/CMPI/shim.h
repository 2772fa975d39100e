#ifndef CMPI_SHIM_H
#define CMPI_SHIM_H
// Open MPI's C API (Debian's libopenmpi-dev, Open MPI 4.1; pkg-config ompi-c), for the
// HyperRegMPI module. Built only with HYPERREG_MPI=1 (Package.swift).
//
// MPI's predefined handles (MPI_COMM_WORLD, MPI_DOUBLE, ...) are macros expanding to
// casts of global objects, which Swift cannot import; each one HyperRegMPI needs is
// exposed here as a `static inline` function. Plain integer constants (MPI_SUCCESS,
// MPI_THREAD_SERIALIZED, MPI_MAX_ERROR_STRING) import as they are.
#include <mpi.h>

/// The communicator of every process of the run.
static inline MPI_Comm _Nonnull CMPI_COMM_WORLD(void) { return MPI_COMM_WORLD; }
/// IEEE double (Swift Double).
static inline MPI_Datatype _Nonnull CMPI_DOUBLE(void) { return MPI_DOUBLE; }
/// 64-bit signed integer (Swift Int on 64-bit Linux).
static inline MPI_Datatype _Nonnull CMPI_INT64_T(void) { return MPI_INT64_T; }
/// C long (64 bits on LP64 Linux).
static inline MPI_Datatype _Nonnull CMPI_LONG(void) { return MPI_LONG; }
/// C int (32 bits).
static inline MPI_Datatype _Nonnull CMPI_INT(void) { return MPI_INT; }
/// Uninterpreted bytes.
static inline MPI_Datatype _Nonnull CMPI_BYTE(void) { return MPI_BYTE; }
/// The sum reduction (unordered; only for the benchmark beside the ordered sum).
static inline MPI_Op _Nonnull CMPI_SUM(void) { return MPI_SUM; }
/// The maximum reduction (deterministic, used only on integers).
static inline MPI_Op _Nonnull CMPI_MAX(void) { return MPI_MAX; }
/// The error handler that makes MPI calls return their error codes instead of aborting.
static inline MPI_Errhandler _Nonnull CMPI_ERRORS_RETURN(void) { return MPI_ERRORS_RETURN; }
/// The "send buffer is the receive buffer" marker of the collectives.
static inline void * _Nonnull CMPI_IN_PLACE(void) { return MPI_IN_PLACE; }
/// "No status wanted".
static inline MPI_Status * _Nullable CMPI_STATUS_IGNORE(void) { return MPI_STATUS_IGNORE; }

#endif
