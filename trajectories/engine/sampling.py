"""`sample()`: the one sampler call of setback, for the collapsed density and PyMC models.

Two kinds of target:

- a :class:`~trajectories.engine.collapsed.CollapsedProblem` (the fast Gaussian path) or a
  :class:`~trajectories.engine.joint_problem.JointProblem` (the joint growth-dropout
  model): its log-density and gradient are machine code compiled once per install (numba,
  ``cache=True``) and handed to nutpie's Rust NUTS as a C callback (:mod:`.machine`; the
  Python-function interface when the installed nutpie lacks the classes it needs). Nothing
  compiles per process or per data set; the first draw comes within a second of the call.
- a PyMC model (latent effects, Student-t residuals, the dropout and joint models): nutpie
  compiles it once per model structure and process and keeps it in one in-process cache
  (new data of the same structure are swapped in with ``with_data``), or PyMC's own NUTS
  samples it (``SamplerSettings(sampler="pymc")``).

Seeds: the settings are resolved (a seed drawn when none was given) and the sampler gets
``settings.seeds(2)[0]``; callers use ``seeds(2)[1]`` for what they draw afterwards.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from trajectories.engine import machine
from trajectories.engine.collapsed import CollapsedProblem
from trajectories.engine.joint_problem import JointProblem
from trajectories.engine.settings import SamplerSettings
from trajectories.engine.tree import group, visible

__all__ = ["Sampled", "clear_cache", "sample"]

_CACHE: OrderedDict[tuple, tuple] = OrderedDict()  # structure key -> (PyMC model, compiled)
_CACHE_SIZE = 16


@dataclass(frozen=True, eq=False)
class Sampled:
    """What a sampler run produced: posterior and sampler statistics, timings, settings.

    For a collapsed target ``posterior`` has one variable ``theta`` (dims ``chain``, ``draw``,
    ``theta_dim_0``): the draws on the sampler's coordinates (see
    :meth:`CollapsedProblem.unpack`).

    Examples
    --------
    >>> small_sampled.theta.shape == (50, small_sampled.posterior.sizes["theta_dim_0"])
    True
    >>> small_sampled.settings.seed
    1
    """

    posterior: xr.Dataset
    sample_stats: xr.Dataset
    settings: SamplerSettings
    seconds: dict = field(default_factory=dict)

    @property
    def theta(self) -> np.ndarray:
        """Collapsed draws flattened to (S, d)."""
        arr = self.posterior["theta"].values
        return arr.reshape(-1, arr.shape[-1])


def clear_cache() -> None:
    """Forget every compiled PyMC model (the next fit of each structure compiles again).

    Examples
    --------
    >>> clear_cache()  # the next PyMC fit of each structure compiles again
    >>> from trajectories.engine import sampling
    >>> len(sampling._CACHE)
    0
    """
    _CACHE.clear()


def sample(target: object, settings: SamplerSettings, *,
           cache_key: tuple | None = None) -> Sampled:
    """Run NUTS on a collapsed problem or a PyMC model.

    Parameters
    ----------
    target : CollapsedProblem, JointProblem or pymc.Model
        What to sample.
    settings : SamplerSettings
        Draws, tuning, chains, cores, target acceptance, seed, progress, sampler. A missing
        seed is drawn here and recorded in ``Sampled.settings``.
    cache_key : tuple, optional
        For a PyMC model sampled with nutpie: the model's *structure* (what fixes its
        compiled code, not its data). A later call with an equal key reuses the compiled
        model with the new model's data. Without a key nothing is cached.

    Returns
    -------
    Sampled

    Examples
    --------
    >>> # small_sampled = sample(small_fit.design.collapsed(),
    >>> #                        SamplerSettings(draws=50, tune=50, chains=1, seed=1))
    >>> small_sampled.posterior["theta"].dims
    ('chain', 'draw', 'theta_dim_0')
    >>> int(small_sampled.sample_stats.sizes["draw"])
    50
    """
    settings = settings.resolved()
    seed = settings.seeds(2)[0]
    if isinstance(target, CollapsedProblem | JointProblem):
        return _sample_collapsed(target, settings, seed)
    if settings.sampler == "pymc":
        return _sample_pymc(target, settings, seed)
    return _sample_nutpie(target, settings, seed, cache_key)


def _nutpie_kwargs(settings: SamplerSettings, seed: int) -> dict:
    return {"draws": settings.draws, "tune": settings.tune, "chains": settings.chains,
            "cores": settings.n_cores, "seed": seed, "progress_bar": settings.progress,
            "save_warmup": False, "target_accept": settings.target_accept}


def _split(idata: xr.DataTree) -> tuple[xr.Dataset, xr.Dataset]:
    return visible(group(idata, "posterior")), group(idata, "sample_stats")


def _sample_collapsed(problem: CollapsedProblem | JointProblem, settings: SamplerSettings,
                      seed: int) -> Sampled:
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    d = problem.ndim

    def make_logp():  # noqa: ANN202
        def logp(x, **_):  # noqa: ANN001, ANN202
            return problem.log_density(x)
        return logp

    def make_expand(seed1, seed2, chain):  # noqa: ANN001, ANN202
        def expand(x, **_):  # noqa: ANN001, ANN202
            return {"theta": np.array(x, dtype=np.float64)}
        return expand

    if machine.available():
        model = problem.machine_model()  # no Python per gradient
    else:
        model = from_pyfunc(d, make_logp, make_expand, [np.dtype("float64")], [(d,)],
                            ["theta"], make_initial_point_fn=problem.initial_point)
    start = time.perf_counter()
    idata = nutpie.sample(model, **_nutpie_kwargs(settings, seed))
    post, stats = _split(idata)
    return Sampled(post, stats, settings, {"compile": 0.0,
                                           "sample": time.perf_counter() - start})


def _sample_pymc(model: object, settings: SamplerSettings, seed: int) -> Sampled:
    import pymc as pm

    start = time.perf_counter()
    with model:
        idata = pm.sample(draws=settings.draws, tune=settings.tune, chains=settings.chains,
                          cores=settings.n_cores, random_seed=seed, nuts_sampler="pymc",
                          target_accept=settings.target_accept,
                          progressbar=settings.progress, compute_convergence_checks=False,
                          quiet=not settings.progress)  # setback reports convergence itself
    post, stats = _split(idata)
    return Sampled(post, stats, settings, {"sample": time.perf_counter() - start})


def set_shared_data(model: object, updates: dict[str, np.ndarray]) -> None:
    """Give a cached PyMC model's ``pm.Data`` the values of a new data set.

    ``CompiledModel.with_data`` swaps the data of nutpie's compiled log density only; its
    initial-point function still reads the PyMC model's shared variables. Without this, a
    refit would start from the first data set's initial point, so the same data and seed
    would give other draws depending on what the process had fitted before.
    """
    for var in model.data_vars:
        if var.name in updates:
            var.set_value(np.asarray(updates[var.name], dtype=var.dtype))


def _sample_nutpie(model: object, settings: SamplerSettings, seed: int,
                   cache_key: tuple | None) -> Sampled:
    import nutpie

    compile_s = 0.0
    if cache_key is not None and cache_key in _CACHE:
        cached_model, compiled = _CACHE[cache_key]
        _CACHE.move_to_end(cache_key)
        known = {var.name for var in compiled.shared_var_keys} if hasattr(
            compiled, "shared_var_keys") else {v.name for v in cached_model.data_vars}
        updates = {v.name: v.get_value() for v in model.data_vars if v.name in known}
        set_shared_data(cached_model, updates)  # nutpie's initial point reads these
        compiled = compiled.with_data(**updates)
    else:
        start = time.perf_counter()
        compiled = nutpie.compile_pymc_model(model)
        compile_s = time.perf_counter() - start
        if cache_key is not None:
            _CACHE[cache_key] = (model, compiled)
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    start = time.perf_counter()
    idata = nutpie.sample(compiled, **_nutpie_kwargs(settings, seed))
    post, stats = _split(idata)
    # A cached compiled model carries the coordinates of the data it was compiled with.
    post = post.assign_coords({k: list(v) for k, v in model.coords.items()
                               if k in post.dims and v is not None})
    return Sampled(post, stats, settings, {"compile": compile_s,
                                           "sample": time.perf_counter() - start})
