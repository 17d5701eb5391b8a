"""`fit_growth`, `GrowthFit` and convergence diagnostics.

This is the only module that touches the ArviZ ``DataTree`` directly (STYLE.md §3): other
modules get plain NumPy draws from :func:`posterior_draws`.

Compiled nutpie models are cached in-process, keyed by the model's structure (spec,
design terms, numbers of random effects and therapists; for the latent path also the
number of patients and observations). Data and data-scaled prior scales are ``pm.Data``,
so a second fit of the same structure swaps the data in with ``CompiledModel.with_data``
and does not compile again (what simulation studies need).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from trajectories.data import TherapyData
from trajectories.instruments import Instrument
from trajectories.marginal import draw_conditional_effects, sufficient_statistics
from trajectories.model import Design, build_model, make_design, posterior_coords
from trajectories.spec import GrowthSpec

__all__ = [
    "ConvergenceWarning",
    "Diagnostics",
    "GrowthFit",
    "PosteriorDraws",
    "fit_from_draws",
    "fit_growth",
    "posterior_draws",
]

_CACHE: dict[tuple, tuple] = {}
_HIDDEN = ("_raw", "_chol")  # sampler-internal variables, not part of the result
_RHAT_MAX = 1.01  # Vehtari et al. (2021)
_ESS_PER_CHAIN = 100  # ... and at least 100 effective draws per chain


class ConvergenceWarning(UserWarning):
    """The sampler's output fails a convergence check (R-hat, ESS or divergences)."""


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("setback")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Diagnostics:
    """Convergence checks of one fit and where its time went (seconds)."""

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    n_divergent: int
    failing: tuple[str, ...]
    message: str
    method: str = ""
    sampler: str = ""
    seconds: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.failing and self.n_divergent == 0


@dataclass(frozen=True, eq=False)
class GrowthFit:
    """A fitted growth model: spec, data, posterior (``idata``) and diagnostics.

    Build it with :func:`fit_growth` (or :meth:`load`). Estimands are functions in
    :mod:`trajectories.estimands` that take a ``GrowthFit``.
    """

    spec: GrowthSpec
    data: TherapyData
    idata: xr.DataTree
    diagnostics: Diagnostics
    package_version: str = field(default_factory=_package_version)

    def summary(self, *, ci_prob: float = 0.95, include_effects: bool = False) -> pd.DataFrame:
        """One row per parameter: ``mean``, ``sd``, ``ci_low``, ``ci_high``, ESS and R-hat.

        Patient and therapist effects are left out unless ``include_effects=True``.
        """
        post = _visible(self.idata["posterior"].to_dataset())
        if not include_effects:
            post = post.drop_vars([v for v in ("patient_effect", "therapist_effect")
                                   if v in post])
        table = az_summary(post, ci_prob)
        return table

    def save(self, path: str) -> None:
        """Write the posterior, sample stats, data and spec to one netCDF file."""
        frame = self.data.frame.drop(columns="source_row")
        data_ds = xr.Dataset({c: ("row", _storable(frame[c])) for c in frame.columns})
        tree = xr.DataTree.from_dict({
            "posterior": self.idata["posterior"].to_dataset(),
            "sample_stats": self.idata["sample_stats"].to_dataset(),
            "therapy_data": data_ds,
        })
        inst = self.data.instrument
        tree.attrs = {
            "setback_spec": self.spec.to_json(),
            "setback_version": self.package_version,
            "setback_instrument": json.dumps(asdict(inst)) if inst else "",
            "setback_covariates": json.dumps(list(self.data.covariates)),
            "setback_diagnostics": json.dumps({"method": self.diagnostics.method,
                                               "sampler": self.diagnostics.sampler,
                                               "seconds": self.diagnostics.seconds}),
        }
        tree.to_netcdf(path, engine="h5netcdf")

    @classmethod
    def load(cls, path: str) -> GrowthFit:
        """Read a fit written by :meth:`save`; data are re-validated, spec and version checked."""
        with xr.open_datatree(path, engine="h5netcdf") as opened:
            tree = opened.load()
        attrs = tree.attrs
        if "setback_spec" not in attrs:
            raise ValueError(f"{path}: not a setback growth fit (no spec in the file)")
        spec = GrowthSpec.from_dict(json.loads(attrs["setback_spec"]))
        version = str(attrs.get("setback_version", "unknown"))
        if version != _package_version():
            warnings.warn(f"{path} was written by setback {version}; this is "
                          f"{_package_version()}. Check results before relying on them.",
                          UserWarning, stacklevel=2)
        frame = tree["therapy_data"].to_dataset().to_dataframe().reset_index(drop=True)
        inst = (Instrument(**{k: tuple(v) if k == "unverified" else v
                              for k, v in json.loads(attrs["setback_instrument"]).items()})
                if attrs.get("setback_instrument") else None)
        data = TherapyData.from_frame(
            frame, patient="patient", session="session", score="score",
            therapist="therapist" if "therapist" in frame else None,
            alliance="alliance" if "alliance" in frame else None, end_status="end_status",
            covariates=tuple(json.loads(attrs["setback_covariates"])), instrument=inst,
            allow_missing_scores=bool(frame["score"].isna().any()),
        )
        post = tree["posterior"].to_dataset()
        if "patient_effect" in post and post.sizes["patient"] != data.n_patients:
            raise ValueError(f"{path}: the posterior has {post.sizes['patient']} patients but "
                             f"the stored data {data.n_patients}; the file is inconsistent")
        idata = xr.DataTree.from_dict({"posterior": post,
                                       "sample_stats": tree["sample_stats"].to_dataset()})
        extra = json.loads(attrs.get("setback_diagnostics", "{}"))
        diag = check_convergence(idata, method=extra.get("method", ""),
                                 sampler=extra.get("sampler", ""),
                                 seconds=extra.get("seconds", {}), warn=False)
        return cls(spec=spec, data=data, idata=idata, diagnostics=diag, package_version=version)


def _storable(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return col.to_numpy()
    return col.astype(str).to_numpy(dtype=object)


def _visible(post: xr.Dataset) -> xr.Dataset:
    drop = [v for v in post.data_vars if str(v).endswith(_HIDDEN)]
    return post.drop_vars(drop)


def az_summary(post: xr.Dataset, ci_prob: float = 0.95) -> pd.DataFrame:
    """ArviZ's summary as a tidy frame: ``parameter, mean, sd, ci_low, ci_high, ess_*, r_hat``."""
    import arviz as az

    table = az.summary(post, ci_prob=ci_prob, ci_kind="eti", round_to="none")
    low, high = [c for c in table.columns if c.startswith("eti")]
    table = table.rename(columns={low: "ci_low", high: "ci_high"})
    table = table.rename_axis("parameter").reset_index()
    return table[["parameter", "mean", "sd", "ci_low", "ci_high", "ess_bulk", "ess_tail",
                  "r_hat", "mcse_mean"]]


def check_convergence(idata: xr.DataTree, *, method: str = "", sampler: str = "",
                      seconds: dict | None = None, warn: bool = True) -> Diagnostics:
    """R-hat, bulk and tail ESS and divergences; one plain-language warning if any fail.

    Patient effects of the fast path are exact conditional draws and are not checked.
    """
    import arviz as az

    post = _visible(idata["posterior"].to_dataset())
    post = post.drop_vars([v for v in ("patient_effect",) if v in post])
    n_chains = post.sizes["chain"]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # constant draws (fixed values, tiny runs) give NaN diagnostics: reported, not raised
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = az.rhat(post)
        bulk = az.ess(post, method="bulk")
        tail = az.ess(post, method="tail")
    floor = _ESS_PER_CHAIN * n_chains
    bad_rhat = [v for v in post.data_vars if n_chains > 1 and
                _extreme(rhat[v].values, np.nanmax) > _RHAT_MAX]
    bad_ess = [v for v in post.data_vars if min(_extreme(bulk[v].values, np.nanmin),
                                               _extreme(tail[v].values, np.nanmin)) < floor]
    div = int(idata["sample_stats"]["diverging"].values.sum()) \
        if "diverging" in idata["sample_stats"] else 0
    parts = []
    if bad_rhat:
        parts.append(f"the chains disagree (R-hat above {_RHAT_MAX}) for {', '.join(bad_rhat)}")
    if bad_ess:
        parts.append(f"fewer than {floor} effective draws for {', '.join(bad_ess)}")
    if div:
        parts.append(f"{div} divergent transitions (the sampler could not follow the "
                     "posterior's geometry, so some regions may be missed)")
    message = ""
    if parts:
        message = ("The growth-model fit may be unreliable: " + "; ".join(parts) + ". Run "
                   "longer (more tune= and draws=), simplify the random-effect structure, or "
                   "check the data before using these estimates.")
        if warn:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)

    def _ext(ds: xr.Dataset, fn) -> float:  # noqa: ANN001
        return _extreme(np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars]
                                       or [np.array([np.nan])]), fn)

    return Diagnostics(
        max_rhat=_ext(rhat, np.nanmax), min_ess_bulk=_ext(bulk, np.nanmin),
        min_ess_tail=_ext(tail, np.nanmin), n_divergent=div,
        failing=tuple(dict.fromkeys(bad_rhat + bad_ess)), message=message, method=method,
        sampler=sampler, seconds=dict(seconds or {}),
    )


def _extreme(values: np.ndarray, fn) -> float:  # noqa: ANN001
    """``fn`` (nanmin/nanmax) of the values, NaN when all are NaN (constant draws)."""
    values = np.ravel(values)
    return float(fn(values)) if np.isfinite(values).any() else float("nan")


# ---------------------------------------------------------------------------- draws
@dataclass(frozen=True)
class PosteriorDraws:
    """Posterior draws as NumPy arrays, chains and draws flattened into one axis S."""

    beta: np.ndarray  # (S, p) fixed effects in design-term order
    residual_sd: np.ndarray  # (S,)
    sigma_v: np.ndarray  # (S, q, q) patient-effect covariance
    patient_effect: np.ndarray | None  # (S, N, q)
    sigma_u: np.ndarray | None  # (S, q_t, q_t) therapist-effect covariance
    therapist_effect: np.ndarray | None  # (S, T, q_t)
    nu: np.ndarray | None  # (S,) Student-t degrees of freedom


def _flat(post: xr.Dataset, name: str) -> np.ndarray:
    arr = post[name].values
    return arr.reshape(arr.shape[0] * arr.shape[1], *arr.shape[2:])


def _cov(post: xr.Dataset, level: str, names: tuple[str, ...]) -> np.ndarray:
    sds = np.stack([_flat(post, f"{level}_{c}_sd") for c in names], axis=-1)
    q = len(names)
    corr = np.broadcast_to(np.eye(q), (sds.shape[0], q, q)).copy()
    if f"{level}_corr" in post:
        vals = _flat(post, f"{level}_corr")
        k = 0
        for i in range(q):
            for j in range(i + 1, q):
                corr[:, i, j] = corr[:, j, i] = vals[:, k]
                k += 1
    return sds[:, :, None] * corr * sds[:, None, :]


def _draws_from(post: xr.Dataset, spec: GrowthSpec, has_therapist: bool) -> PosteriorDraws:
    beta = np.stack([_flat(post, c) for c in spec.coefficients], axis=-1)
    if "covariate_effect" in post:
        beta = np.concatenate([beta, _flat(post, "covariate_effect")], axis=-1)
    t_names = spec.therapist_coefficients(has_therapist)
    return PosteriorDraws(
        beta=beta, residual_sd=_flat(post, "residual_sd"),
        sigma_v=_cov(post, "patient", spec.patient_coefficients),
        patient_effect=_flat(post, "patient_effect") if "patient_effect" in post else None,
        sigma_u=_cov(post, "therapist", t_names) if t_names else None,
        therapist_effect=_flat(post, "therapist_effect") if t_names else None,
        nu=_flat(post, "nu") if "nu" in post else None,
    )


def posterior_draws(fit: GrowthFit) -> PosteriorDraws:
    """The fit's posterior as flat NumPy arrays (what the estimands compute with)."""
    return _draws_from(fit.idata["posterior"].to_dataset(), fit.spec, fit.data.has_therapist)


# ---------------------------------------------------------------------------- fitting
def _structure_key(spec: GrowthSpec, design: Design, sampler: str) -> tuple:
    key = (sampler, spec.to_json(), design.terms, design.q, design.q_t, len(design.therapists))
    if spec.resolved_method == "latent":  # latent shapes follow patients and observations
        key += (design.n_patients, len(design.y))
    return key


def _data_updates(spec: GrowthSpec, design: Design) -> dict[str, np.ndarray]:
    upd = {"prior_loc": design.prior_loc, "prior_scale": design.prior_scale,
           "group_scale": design.group_scale,
           "residual_scale": np.asarray(design.residual_scale)}
    if spec.resolved_method == "marginal":
        stats = sufficient_statistics(design.x, design.y, design.patient_index,
                                      design.n_patients)
        upd |= {f"stat_{k}": getattr(stats, k) for k in ("n", "xtx", "xty", "yty")}
        if design.q_t:
            upd["therapist_of_patient"] = design.therapist_index
    else:
        upd |= {"x": design.x, "y": design.y, "patient_row": design.patient_index}
        if design.q_t:
            upd["therapist_row"] = design.therapist_index[design.patient_index]
    return upd


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


def _compiled(spec: GrowthSpec, data: TherapyData, design: Design) -> tuple:
    """(model, nutpie compiled model, seconds spent compiling) from the cache or fresh."""
    import nutpie

    key = _structure_key(spec, design, "nutpie")
    if key in _CACHE:
        model, compiled = _CACHE[key]
        updates = _data_updates(spec, design)
        set_shared_data(model, updates)
        return model, compiled.with_data(**updates), 0.0
    start = time.perf_counter()
    model = build_model(spec, data, design=design)
    compiled = nutpie.compile_pymc_model(model)
    _CACHE[key] = (model, compiled)
    return model, compiled, time.perf_counter() - start


def fit_growth(
    spec: GrowthSpec,
    data: TherapyData,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    sampler: Literal["nutpie", "pymc"] = "nutpie",
    seed: int | None = None,
    progress: bool = False,
    design: Design | None = None,
) -> GrowthFit:
    """Fit a growth model by MCMC and check convergence.

    With the fast (marginal) path, NUTS samples the fixed effects, variance parameters
    and therapist effects; each patient's effects are then drawn from their exact
    Gaussian conditional for every posterior draw (``patient_effect``), so the result
    has the same form as the latent path's.

    Parameters
    ----------
    spec : GrowthSpec
        What to fit. With ``spec.dropout`` the joint growth–dropout model is fitted
        (:func:`trajectories.joint.fit_joint`, latent path): its growth estimands then
        describe all patients under informative dropout, and the dropout estimands
        (:mod:`trajectories.dropout_estimands`) apply too.
    data : TherapyData
        The data; two-level data (no therapist) give a two-level model.
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, and the number of chains.
    sampler : {"nutpie", "pymc"}
        nutpie (compiled once per model structure and process, then reused) or PyMC's NUTS.
    seed : int, optional
        Seeds the sampler and the patient-effect draws; the same seed gives the same fit.
    progress : bool
        Show the sampler's progress bar.
    design : Design, optional
        A precomputed :func:`~trajectories.model.make_design` of ``spec`` and ``data``,
        e.g. with fixed prior locations and scales instead of the data-scaled ones
        (simulation-based calibration, :mod:`simulations.sbc`, needs the prior that
        generated the parameters). Default: computed from the data.

    Returns
    -------
    GrowthFit
        A :class:`ConvergenceWarning` names any parameters that fail R-hat < 1.01,
        ESS >= 100 per chain (bulk and tail) or if there were divergences.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> fit = fit_growth(GrowthSpec(time="log"), load_beat_the_blues(), seed=1)  # doctest: +SKIP
    >>> fit.summary()[["parameter", "mean", "ci_low", "ci_high"]]  # doctest: +SKIP
    """
    for name, value in (("draws", draws), ("tune", tune), ("chains", chains)):
        if not (isinstance(value, int | np.integer) and value >= 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if sampler not in ("nutpie", "pymc"):
        raise ValueError(f"sampler must be 'nutpie' or 'pymc', got {sampler!r}")
    if spec.dropout is not None:  # shared-parameter joint growth-dropout model
        from trajectories.joint import fit_joint

        if design is not None:
            raise ValueError("design= is for growth models without a dropout part")
        return fit_joint(spec, spec.dropout, data, draws=draws, tune=tune, chains=chains,
                         sampler=sampler, seed=seed, progress=progress)
    seeds = np.random.SeedSequence(seed).generate_state(2)
    if design is None:
        design = make_design(spec, data)
    elif design.spec != spec or design.n_patients != data.n_patients:
        raise ValueError("design was made for another spec or data set than the ones given")
    seconds: dict[str, float] = {}
    if sampler == "nutpie":
        import nutpie

        _, compiled, seconds["compile"] = _compiled(spec, data, design)
        start = time.perf_counter()
        idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=chains,
                              seed=int(seeds[0]), progress_bar=progress, save_warmup=False)
    else:
        import pymc as pm

        start = time.perf_counter()
        model = build_model(spec, data, design=design)
        with model:
            idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=min(chains, 2),
                              random_seed=int(seeds[0]), progressbar=progress,
                              compute_convergence_checks=False)
    seconds["sample"] = time.perf_counter() - start
    start = time.perf_counter()
    post = _visible(idata["posterior"].to_dataset())
    post = post.assign_coords(_result_coords(spec, design, data, post))
    if spec.resolved_method == "marginal":
        post = _add_patient_effects(post, spec, design, np.random.default_rng(seeds[1]))
    idata = xr.DataTree.from_dict({"posterior": post,
                                   "sample_stats": idata["sample_stats"].to_dataset()})
    seconds["patient_effects"] = time.perf_counter() - start
    diag = check_convergence(idata, method=spec.resolved_method, sampler=sampler,
                             seconds=seconds)
    return GrowthFit(spec=spec, data=data, idata=idata, diagnostics=diag)


def _result_coords(spec: GrowthSpec, design: Design, data: TherapyData,
                   post: xr.Dataset) -> dict:
    """Coordinates of this data set (a cached compiled model carries the first data's)."""
    coords: dict = {}
    if "therapist" in post.dims:
        coords["therapist"] = design.therapists.tolist()
    if "patient" in post.dims:
        coords["patient"] = design.patients.tolist()
    return coords


def _add_patient_effects(post: xr.Dataset, spec: GrowthSpec, design: Design,
                         rng: np.random.Generator) -> xr.Dataset:
    d = _draws_from(post, spec, bool(design.q_t))
    stats = sufficient_statistics(design.x, design.y, design.patient_index, design.n_patients)
    v = draw_conditional_effects(d.beta, d.therapist_effect, design.therapist_index,
                                 d.residual_sd, d.sigma_v, stats, design.q, rng=rng)
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    v = v.reshape(n_chain, n_draw, design.n_patients, design.q)
    post = post.assign(patient_effect=(("chain", "draw", "patient", "coefficient"), v))
    return post.assign_coords(patient=design.patients.tolist(),
                              coefficient=list(spec.patient_coefficients))


def fit_from_draws(spec: GrowthSpec, data: TherapyData, values: dict[str, np.ndarray],
                   *, chains: int = 1) -> GrowthFit:
    """A `GrowthFit` from given posterior draws, without sampling (tests, examples, imports).

    ``values`` maps posterior variable names (``intercept``, ``slope``,
    ``patient_intercept_sd``, ``patient_corr``, ``therapist_effect``, ``residual_sd``,
    ``patient_effect`` ...) to arrays whose first axis is the draws; they are split into
    ``chains`` equal chains.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> data = load_beat_the_blues()
    >>> fake = {"intercept": np.full(4, 20.0), "slope": np.full(4, -3.0),
    ...         "patient_intercept_sd": np.full(4, 5.0), "patient_slope_sd": np.full(4, 1.5),
    ...         "patient_corr": np.full((4, 1), -0.3), "residual_sd": np.full(4, 3.0),
    ...         "patient_effect": np.zeros((4, 100, 2))}
    >>> fit = fit_from_draws(GrowthSpec(time="log"), data, fake)
    >>> float(fit.summary().set_index("parameter").loc["slope", "mean"])
    -3.0
    """
    design = make_design(spec, data)
    dims = {"covariate_effect": ("term",), "patient_effect": ("patient", "coefficient"),
            "therapist_effect": ("therapist", "therapist_coefficient"),
            "patient_corr": ("patient_corr_pair",), "therapist_corr": ("therapist_corr_pair",)}
    vars_ = {}
    for name, arr in values.items():
        arr = np.asarray(arr, dtype=float)
        n = arr.shape[0] // chains
        vars_[name] = (("chain", "draw", *dims.get(name, ())), arr.reshape(chains, n,
                                                                          *arr.shape[1:]))
    coords = posterior_coords(spec, design)
    used = {d for var in vars_.values() for d in var[0]}
    post = xr.Dataset(vars_).assign_coords({k: v for k, v in coords.items() if k in used})
    n_draw = next(iter(vars_.values()))[1].shape[1]
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, n_draw), bool))})
    idata = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    diag = check_convergence(idata, method="given", sampler="none", warn=False)
    return GrowthFit(spec=spec, data=data, idata=idata, diagnostics=diag)
