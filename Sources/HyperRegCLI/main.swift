print("hyperreg")
