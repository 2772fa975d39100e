// HyperReg: the solver for rescaled hyperbolic functions regression.
