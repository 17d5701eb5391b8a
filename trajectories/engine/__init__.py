"""The sampling layer.

Log-densities that never compile per process, one sampler call, one cache, one convergence check,
and all access to the ArviZ ``DataTree``.
"""
