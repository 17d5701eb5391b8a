"""The collapsed log-density at numerically degenerate points: -inf, never an exception."""

from __future__ import annotations

import numpy as np

from trajectories.engine.collapsed import CollapsedProblem


def test_underflowing_residual_sd_gives_minus_infinity_not_an_error() -> None:
    # Found by SBC of the three-level model: a warm-up step to log(sigma) = -400 divided
    # by sigma^2 = 0 inside the numba kernel, the ZeroDivisionError went through nutpie as a
    # Rust panic and killed the whole study process.
    prob = CollapsedProblem(
        gram=np.array([[[2.0, 3.0], [3.0, 5.0]]]), gram_d=np.zeros((0, 2, 2)),
        gram_l=np.zeros((0, 2, 2)), n_obs=np.array([2.0]), therapist=np.array([-1]),
        n_therapists=0, q=1, q_t=0, correlated=True, ar=False,
        prior_mean=np.array([0.0]), prior_sd=np.array([10.0]), scale_v=np.array([1.0]),
        scale_u=np.zeros(0), residual_scale=1.0, eta=2.0)
    theta = np.zeros(prob.ndim)
    assert np.isfinite(prob.log_density(theta)[0])
    theta[0] = -1000.0
    value, grad = prob.log_density(theta)
    assert value == -np.inf and (grad == 0).all()
