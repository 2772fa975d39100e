// Cholmod: owned CHOLMOD objects with Swift errors (see docs/architecture.md).
