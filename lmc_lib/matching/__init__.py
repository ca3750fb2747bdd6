"""Layer 2, matching: permutation specs per architecture, similarity matrices, exact assignment solvers."""
