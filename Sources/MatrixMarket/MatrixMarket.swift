// MatrixMarket: reading and writing Matrix Market files (see docs/matrix-market.md).
