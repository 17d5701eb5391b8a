"""`fit_growth` and `GrowthFit`: fit a growth model and keep everything that made it.

Three paths, one result type:

- **fast** (``spec.resolved_method == "marginal"``, normal residuals): the collapsed density
  of :mod:`trajectories.engine.collapsed` (patient effects, therapist effects and fixed
  effects integrated out); nothing compiles in a new process. Afterwards the fixed,
  therapist and patient effects are drawn from their exact conditionals for every draw.
- **latent** (Student-t residuals, ``method="latent"``, patients who change therapist):
  the PyMC model of :mod:`trajectories.latent`, compiled once per structure and process.
- **joint** (``spec.dropout``): the joint growth-dropout model of :mod:`trajectories.joint`;
  with normal residuals and ``method="auto"`` sampled through the machine code of
  :mod:`trajectories.joint_fit` (patient effects relative to their exact growth
  conditional, nothing compiled per process), otherwise as the PyMC latent model.

Every path returns a :class:`GrowthFit` with the spec, the data, **the design it was fitted
with**, the sampler settings (with the seed actually used) and an ArviZ ``DataTree`` with
``posterior``, ``sample_stats``, ``observed_data`` and, for Gaussian growth fits, a
``log_likelihood`` group holding each patient's marginal log-likelihood (the unit of
leave-one-patient-out cross-validation: ``az.loo(fit.idata)``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import xarray as xr

from trajectories.data import TherapyData
from trajectories.design import Design, growth_posterior, make_design, posterior_coords
from trajectories.engine import tree
from trajectories.engine.convergence import (
    ConvergenceWarning,
    Diagnostics,
    check_convergence,
    summary_table,
)
from trajectories.engine.sampling import Sampled, sample
from trajectories.engine.settings import SamplerSettings
from trajectories.engine.tree import PosteriorDraws
from trajectories.instruments import Instrument
from trajectories.spec import GrowthSpec

__all__ = ["ConvergenceWarning", "GrowthFit", "SamplerSettings", "fit_from_draws",
           "fit_growth", "fit_path", "observed_scores", "posterior_draws"]


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("setback")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, eq=False)
class GrowthFit:
    """A fitted growth model: spec, data, design, posterior (``idata``), settings, checks.

    Build it with :func:`fit_growth` (or :meth:`load`). Estimands are functions in
    :mod:`trajectories.estimands` that take a ``GrowthFit``; they read the design from the
    fit instead of rebuilding it.

    Examples
    --------
    >>> small_fit  # doctest: +ELLIPSIS
    GrowthFit(log time, marginal path; 100 patients, 380 scores; 200 draws, seed 1; ...)
    >>> small_fit.summary()["parameter"].tolist()[:3]
    ['intercept', 'slope', 'covariate_effect[treatment[TAU]]']
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     small_fit.save(f"{folder}/fit.nc")
    ...     back = GrowthFit.load(f"{folder}/fit.nc")
    >>> back.settings.seed, back.spec == small_fit.spec
    (1, True)
    """

    spec: GrowthSpec
    data: TherapyData
    design: Design
    idata: xr.DataTree
    diagnostics: Diagnostics
    settings: SamplerSettings = field(default_factory=SamplerSettings)
    package_version: str = field(default_factory=_package_version)

    def __repr__(self) -> str:
        d = self.diagnostics
        post = tree.group(self.idata, "posterior")
        n_draws = post.sizes["chain"] * post.sizes["draw"]
        ther = (f", {len(self.design.therapists)} therapists" if self.design.q_t else "")
        status = "all convergence checks passed" if d.ok else "CHECK: " + (
            ", ".join(d.failing) or f"{d.n_divergent} divergences")
        path = fit_path(self.spec, self.design)
        return (f"GrowthFit({self.spec.time} time, {path} path; "
                f"{self.data.n_patients} patients{ther}, {len(self.design.y)} scores; "
                f"{n_draws} draws, seed {self.settings.seed}; {status})")

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior group as an ``xarray.Dataset`` (sampler-internal variables removed)."""
        return tree.visible(tree.group(self.idata, "posterior"))

    def summary(self, *, ci_prob: float = 0.95, include_effects: bool = False) -> pd.DataFrame:
        """One row per parameter: ``mean``, ``sd``, ``ci_low``, ``ci_high``, ESS and R-hat.

        Patient and therapist effects are left out unless ``include_effects=True``.
        """
        post = self.posterior
        if not include_effects:
            post = post.drop_vars([v for v in post.data_vars
                                   if str(v) in ("patient_effect", "therapist_effect",
                                                 "therapist_dropout_effect")])
        return summary_table(post, ci_prob)

    def save(self, path: str) -> None:
        """Write the posterior, sample stats, data, spec and settings to one netCDF file.

        The design, ``observed_data`` and ``log_likelihood`` are rebuilt by :meth:`load`
        (they follow from the data and the posterior), which keeps files small.
        """
        frame = self.data.frame.drop(columns="source_row")
        if "therapist" in frame and frame["therapist"].isna().any():
            # "" marks a patient without a therapist (partially nested design)
            frame["therapist"] = frame["therapist"].astype(object).where(
                frame["therapist"].notna(), "")
        data_ds = xr.Dataset({c: ("row", _storable(frame[c])) for c in frame.columns})
        inst = self.data.instrument
        attrs = {
            "setback_spec": self.spec.to_json(),
            "setback_version": self.package_version,
            "setback_instrument": json.dumps(asdict(inst)) if inst else "",
            "setback_covariates": json.dumps(list(self.data.covariates)),
            "setback_time_unit": self.data.time_unit,
            "setback_source_columns": json.dumps(self.data.source_columns or {}),
            "setback_settings": json.dumps(self.settings.to_dict()),
            "setback_diagnostics": json.dumps({"method": self.diagnostics.method,
                                               "sampler": self.diagnostics.sampler,
                                               "seconds": self.diagnostics.seconds}),
        }
        keep = tree.make_tree(posterior=tree.group(self.idata, "posterior"),
                              sample_stats=tree.group(self.idata, "sample_stats"))
        tree.write_tree(keep, path, attrs, extra={"therapy_data": data_ds})

    @classmethod
    def load(cls, path: str) -> GrowthFit:
        """Read a fit written by :meth:`save`; data are re-validated, spec and version checked.

        Raises
        ------
        ValueError
            When the file is not a netCDF file written by :meth:`save` (named in the message).
        """
        stored = tree.read_tree(path)
        attrs = tree.attributes(stored)
        if "setback_spec" not in attrs or not tree.has_group(stored, "therapy_data"):
            raise ValueError(f"{path}: not a setback growth fit (no spec or data in the file)")
        spec = GrowthSpec.from_dict(json.loads(attrs["setback_spec"]))
        version = str(attrs.get("setback_version", "unknown"))
        if version != _package_version():
            warnings.warn(f"{path} was written by setback {version}; this is "
                          f"{_package_version()}. Check results before relying on them.",
                          UserWarning, stacklevel=2)
        frame = tree.group(stored, "therapy_data").to_dataframe().reset_index(drop=True)
        if "therapist" in frame and not pd.api.types.is_numeric_dtype(frame["therapist"]):
            frame["therapist"] = frame["therapist"].where(frame["therapist"] != "", None)
        inst = (Instrument(**{k: tuple(v) if k == "unverified" else v
                              for k, v in json.loads(attrs["setback_instrument"]).items()})
                if attrs.get("setback_instrument") else None)
        data = TherapyData.from_frame(
            frame, patient="patient", session="session", score="score",
            therapist="therapist" if "therapist" in frame else None,
            alliance="alliance" if "alliance" in frame else None, end_status="end_status",
            covariates=tuple(json.loads(attrs["setback_covariates"])), instrument=inst,
            allow_missing_scores=bool(frame["score"].isna().any()),
            allow_missing_therapist=True, allow_therapist_change=True,  # validated when made
            time_unit=str(attrs.get("setback_time_unit", "session")),
        )
        if "setback_source_columns" in attrs:  # the user's column names, for messages
            data = replace(data, source_columns=json.loads(attrs["setback_source_columns"]))
        post = tree.group(stored, "posterior")
        if "patient_effect" in post and post.sizes["patient"] != data.n_patients:
            raise ValueError(f"{path}: the posterior has {post.sizes['patient']} patients but "
                             f"the stored data {data.n_patients}; the file is inconsistent")
        settings = SamplerSettings(**json.loads(attrs["setback_settings"])) \
            if "setback_settings" in attrs else SamplerSettings()
        extra = json.loads(attrs.get("setback_diagnostics", "{}"))
        design = make_design(spec, data, identified=False)  # fitted once already
        idata = _complete_tree(spec, design, post, tree.group(stored, "sample_stats"))
        diag = check_convergence(idata, method=extra.get("method", ""),
                                 sampler=extra.get("sampler", ""),
                                 seconds=extra.get("seconds", {}), warn=False,
                                 exact=_exact_variables(spec, design))
        return cls(spec=spec, data=data, design=design, idata=idata, diagnostics=diag,
                   settings=settings, package_version=version)


def _storable(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return col.to_numpy()
    return col.astype(str).to_numpy(dtype=object)


def fit_path(spec: GrowthSpec, design: Design) -> str:
    """Return the path a spec takes on a design: ``"marginal"``, ``"latent"`` or ``"joint"``.

    ``"marginal"`` is the fast, collapsed path. Data whose patients change therapist take the latent
    path (the collapsed algebra nests each patient in one therapist).

    Examples
    --------
    >>> fit_path(small_fit.spec, small_fit.design)
    'marginal'
    >>> fit_path(replace(small_fit.spec, likelihood="student_t"), small_fit.design)
    'latent'
    """
    if spec.dropout is not None:
        return "joint"
    if spec.resolved_method == "marginal" and design.changes_therapist:
        if spec.method == "marginal":
            raise ValueError("GrowthSpec(method='marginal') nests each patient in one "
                             "therapist, but some patients change therapist: use "
                             "method='auto' or 'latent' (sessions attributed to their therapist)")
        return "latent"
    return spec.resolved_method


def _exact_variables(spec: GrowthSpec, design: Design) -> tuple[str, ...]:
    """List the effects drawn from their exact conditionals after sampling.

    Effects drawn from their exact conditionals after sampling (their mixing is that of the sampled
    parameters, which are checked, so they are not checked again): the patient and therapist effects
    of the fast path, the patient effects of the joint model's machine code (refreshed by a kernel
    that leaves their conditional invariant).
    """
    path = fit_path(spec, design)
    if path == "marginal":
        return ("patient_effect", "therapist_effect")
    return ("patient_effect",) if path == "joint" and joint_uses_machine_code(spec) \
        else ()


def posterior_draws(fit: GrowthFit) -> PosteriorDraws:
    """Return the fit's growth parameters as flat NumPy arrays (what the estimands compute with).

    Examples
    --------
    >>> d = posterior_draws(small_fit)
    >>> d.beta.shape, d.residual_sd.shape, d.patient_effect.shape
    ((200, 3), (200,), (200, 100, 2))
    """
    return tree.growth_draws(fit)


# ---------------------------------------------------------------------------- fitting
def fit_growth(spec: GrowthSpec, data: TherapyData, *,
               settings: SamplerSettings | None = None, **overrides: object) -> GrowthFit:
    """Fit a growth model by MCMC and check convergence.

    Parameters
    ----------
    spec : GrowthSpec
        What to fit. Normal residuals take the fast collapsed path; Student-t residuals the
        latent path; with ``spec.dropout`` the joint growth-dropout model is fitted (its
        growth estimands then describe all patients under informative dropout, and the
        dropout estimands of :mod:`trajectories.dropout_estimands` apply too).
    data : TherapyData
        The data; two-level data (no therapist) give a two-level model.
    settings : SamplerSettings, optional
        Draws, tuning, chains, cores, target acceptance, seed, progress, sampler.
    **overrides
        Fields of :class:`SamplerSettings` to change, e.g. ``seed=1, draws=500``.

    Returns
    -------
    GrowthFit
        With the settings actually used (a seed is drawn and recorded when none was given).
        A :class:`ConvergenceWarning` names any parameters that fail R-hat < 1.01,
        ESS >= 100 per chain (bulk and tail), or divergences.

    Examples
    --------
    ``small_fit`` (the doctest fixture) was made by ``fit_growth(GrowthSpec(time="log",
    covariates=("treatment",)), load_beat_the_blues(), seed=1, draws=100, tune=200,
    chains=2)``:

    >>> small_fit.settings.seed, small_fit.settings.draws, small_fit.diagnostics.method
    (1, 100, 'marginal')
    >>> small_fit.summary()["parameter"].tolist()[:2]
    ['intercept', 'slope']
    """
    settings = replace(settings or SamplerSettings(), **overrides).resolved()
    if spec.dropout is not None:
        return _fit_joint(spec, data, settings)
    design = make_design(spec, data)  # bad covariates fail here, before any sampling
    path = fit_path(spec, design)
    if path == "marginal":
        problem = design.collapsed()
        sampled = sample(problem, settings)
        post, loglik = _collapsed_posterior(spec, design, problem, sampled)
    else:
        # PyMC (about a second to import) loads only for the paths that need it
        from trajectories.latent import build_latent_model, latent_structure_key

        model = build_latent_model(spec, design)
        sampled = sample(model, settings, cache_key=latent_structure_key(spec, design))
        post, loglik = sampled.posterior, None
    post = post.assign_coords(_result_coords(post, design))
    idata = _complete_tree(spec, design, post, sampled.sample_stats, loglik)
    diag = check_convergence(idata, method=path, sampler=_sampler_name(spec, design, settings),
                             seconds=sampled.seconds, exact=_exact_variables(spec, design))
    return GrowthFit(spec=spec, data=data, design=design, idata=idata, diagnostics=diag,
                     settings=sampled.settings)


def _sampler_name(spec: GrowthSpec, design: Design, settings: SamplerSettings) -> str:
    path = fit_path(spec, design)
    machine = path == "marginal" or (path == "joint" and joint_uses_machine_code(spec))
    return "nutpie" if machine else settings.sampler


def _fit_joint(spec: GrowthSpec, data: TherapyData, settings: SamplerSettings) -> GrowthFit:
    """Fit the joint growth-dropout model: machine code for normal residuals, else PyMC."""
    from trajectories.joint import build_joint_model, joint_structure_key
    from trajectories.joint_fit import sample_joint

    if spec.method == "marginal":
        raise ValueError("the joint model needs latent patient effects: use "
                         "GrowthSpec(method='latent') or method='auto'")
    growth = replace(spec, dropout=None)
    design = make_design(growth, data)
    if design.changes_therapist:
        raise ValueError("the joint growth-dropout model needs each patient nested in one "
                         "therapist; some patients change therapist (fit the growth model "
                         "alone, or with therapist='none')")
    if joint_uses_machine_code(spec):
        post, stats, used, seconds = sample_joint(growth, spec.dropout, data, design,
                                                     settings)
    else:
        model = build_joint_model(growth, spec.dropout, data, design=design)
        sampled = sample(model, settings, cache_key=joint_structure_key(growth, spec.dropout,
                                                                        model))
        post, stats, used, seconds = (sampled.posterior, sampled.sample_stats,
                                      sampled.settings, sampled.seconds)
    idata = tree.make_tree(posterior=post, sample_stats=stats,
                           observed_data=observed_scores(design))
    diag = check_convergence(idata, method="joint", sampler=_sampler_name(spec, design,
                                                                          settings),
                             seconds=seconds, exact=_exact_variables(spec, design),
                             what="joint growth-dropout model")
    return GrowthFit(spec=spec, data=data, design=design, idata=idata, diagnostics=diag,
                     settings=used)


def joint_uses_machine_code(spec: GrowthSpec) -> bool:
    """Whether a joint spec is sampled through :mod:`trajectories.joint_fit`.

    That is, with normal residuals and ``method="auto"``, rather than through the PyMC latent model.
    """
    return spec.likelihood == "normal" and spec.method == "auto"


def _result_coords(post: xr.Dataset, design: Design) -> dict:
    """Coordinates of this data set (a cached compiled model carries the first data's)."""
    coords: dict = {}
    if "therapist" in post.dims:
        coords["therapist"] = design.therapists.tolist()
    if "patient" in post.dims:
        coords["patient"] = design.patients.tolist()
    return coords


def _collapsed_posterior(spec: GrowthSpec, design: Design, problem: object,
                         sampled: Sampled) -> tuple[xr.Dataset, xr.Dataset]:
    """Name the posterior variables from collapsed draws, with the per-patient log-likelihood.

    Variances, then exact effects; the log-likelihood is computed with them.
    """
    values = problem.unpack(sampled.theta)
    rng = np.random.default_rng(sampled.settings.seeds(2)[1])
    effects = problem.draw_effects(values, rng)
    chains = sampled.posterior.sizes["chain"]
    post = growth_posterior(spec, design, values, effects["beta"], effects["u"],
                            effects["v"], chains=chains)
    loglik = xr.Dataset({"score": (("chain", "draw", "patient"), effects["loglik"].reshape(
        chains, -1, design.n_patients))}, coords={"patient": design.patients.tolist()})
    return post, loglik


def observed_scores(design: Design) -> xr.Dataset:
    """Make the ``observed_data`` group: scores, one per observation, with patient and session.

    Examples
    --------
    >>> obs = observed_scores(small_fit.design)
    >>> obs["score"].size, int(obs["obs_patient"][0]), float(obs["obs_session"][0])
    (380, 1, 0.0)
    """
    return xr.Dataset({"score": ("obs", design.y)},
                      coords={"obs": np.arange(len(design.y)),
                              "obs_patient": ("obs", design.patients[design.patient_index]),
                              "obs_session": ("obs", design.session)})


def _complete_tree(spec: GrowthSpec, design: Design, post: xr.Dataset, stats: xr.Dataset,
                   loglik: xr.Dataset | None = None) -> xr.DataTree:
    """Complete the tree: posterior, sample stats, ``observed_data``, per-patient log-likelihood.

    The log-likelihood is computed here unless given (the fast path gets it with its effect draws).
    """
    groups = {"posterior": post, "sample_stats": stats,
              "observed_data": observed_scores(design)}
    if spec.dropout is None:
        groups["log_likelihood"] = loglik if loglik is not None else _log_likelihood(
            spec, design, post)
    return tree.make_tree(**groups)


def _log_likelihood(spec: GrowthSpec, design: Design, post: xr.Dataset) -> xr.Dataset:
    """Each patient's log-likelihood per draw, as ``score`` (chain, draw, patient).

    Normal residuals: the patient's effects integrated out given the fixed effects, the
    therapist's effects and the variance parameters (the same quantity on both paths).
    Student-t residuals: conditional on the patient's drawn effects (no closed form), so
    LOO of a Student-t fit is not comparable with that of a normal fit.
    """
    d = tree.posterior_draws(tree.make_tree(posterior=post), spec.coefficients,
                             spec.patient_coefficients,
                             spec.therapist_coefficients(bool(design.q_t)))
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    if spec.likelihood == "normal" and design.changes_therapist:
        ll = _crossed_loglik(design, d)
    elif spec.likelihood == "normal":
        ll = design.collapsed().patient_loglik(d.beta, d.therapist_effect, d.residual_sd,
                                               d.sigma_v, d.residual_ar)
    else:
        ll = _student_t_loglik(design, d)
    return xr.Dataset({"score": (("chain", "draw", "patient"),
                                 ll.reshape(n_chain, n_draw, -1))},
                      coords={"patient": design.patients.tolist()})


def _crossed_loglik(design: Design, d: PosteriorDraws) -> np.ndarray:
    """Compute each patient's marginal log-likelihood when patients change therapist.

    The patient effects are integrated out; the fixed effects and the therapist effect of each
    session are given.

    ``log N(r; 0, sigma^2 I + Z Sigma Z')`` with ``r = y - X beta - Z_t u_t(session)``, by
    Woodbury and the determinant lemma with ``M = sigma^2 Sigma^-1 + Z'Z``.
    """
    x, y, pidx, q, n = design.x, design.y, design.patient_index, design.q, design.n_patients
    z = x[:, :q]
    ztz = np.zeros((n, q, q))
    np.add.at(ztz, pidx, z[:, :, None] * z[:, None, :])
    n_obs = np.bincount(pidx, minlength=n)
    ther = d.therapist_effect_of(design.therapist_row)  # (S, n_obs, q_t)
    r = y[None] - d.beta @ x.T - np.einsum("snq,nq->sn", ther, x[:, : design.q_t])
    ztr = np.stack([np.stack([np.bincount(pidx, rs * z[:, j], n) for j in range(q)], -1)
                    for rs in r])  # (S, N, q)
    rtr = np.stack([np.bincount(pidx, rs * rs, n) for rs in r])
    s2 = d.residual_sd[:, None, None, None] ** 2
    m = s2 * np.linalg.inv(d.sigma_v)[:, None] + ztz[None]
    quad = rtr - np.einsum("sni,sni->sn", ztr, np.linalg.solve(m, ztr[..., None])[..., 0])
    logdet = (np.linalg.slogdet(m)[1] + np.linalg.slogdet(d.sigma_v)[1][:, None]
              - q * np.log(s2[:, :, 0, 0]))
    return -0.5 * (n_obs[None] * np.log(2 * np.pi * s2[:, :, 0, 0]) + logdet
                   + quad / s2[:, :, 0, 0])


def _student_t_loglik(design: Design, d: PosteriorDraws) -> np.ndarray:
    from scipy.special import gammaln

    x, y, pidx = design.x, design.y, design.patient_index
    out = np.empty((len(d.residual_sd), design.n_patients))
    ther = d.therapist_effect_of(design.therapist_row)  # each session's therapist
    follows = np.zeros(len(pidx), dtype=bool)
    follows[1:] = pidx[1:] == pidx[:-1]
    for s in range(len(d.residual_sd)):
        b = np.repeat(d.beta[s][None], design.n_patients, axis=0)
        b[:, : design.q] += d.patient_effect[s]
        e = y - (x * b[pidx]).sum(1)
        if ther is not None:
            e = e - (x[:, : design.q_t] * ther[s]).sum(1)
        scale = np.full(len(y), d.residual_sd[s])
        if d.residual_ar is not None:  # AR(1) Student-t innovations given the previous row
            rho = d.residual_ar[s]
            e = np.where(follows, e - rho * np.roll(e, 1), e)
            scale = np.where(follows, scale * np.sqrt(1.0 - rho * rho), scale)
        z = e / scale
        nu = d.nu[s]
        lp = (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
              - np.log(scale) - (nu + 1) / 2 * np.log1p(z * z / nu))
        out[s] = np.bincount(pidx, weights=lp, minlength=design.n_patients)
    return out


def fit_from_draws(spec: GrowthSpec, data: TherapyData, values: dict[str, np.ndarray],
                   *, chains: int = 1) -> GrowthFit:
    """Make a `GrowthFit` from given posterior draws, without sampling (tests, examples, imports).

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
    design = make_design(spec, data, identified=False)  # the posterior is given, not fitted
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
    idata = tree.make_tree(posterior=post, sample_stats=stats,
                           observed_data=observed_scores(design))
    diag = check_convergence(idata, method="given", sampler="none", warn=False)
    return GrowthFit(spec=spec, data=data, design=design, idata=idata, diagnostics=diag,
                     settings=SamplerSettings(draws=max(n_draw, 1), chains=chains, seed=0))
