"""Every direct access to the ArviZ ``xarray.DataTree`` of a fit lives here.

The rest of setback asks this module for groups as ``xarray.Dataset`` objects, for flat
NumPy draws, or for a new tree with groups added; the next ArviZ/xarray migration touches
this file (DESIGN.md, STYLE.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

__all__ = ["PosteriorDraws", "attributes", "covariance_draws", "flat", "group", "groups",
           "growth_draws", "has_group", "make_tree", "posterior_draws", "read_tree", "visible",
           "with_groups", "write_tree"]

#: Sampler-internal variables (raw non-centred values, Cholesky factors), never shown.
HIDDEN = ("_raw", "_chol")


def make_tree(**datasets: xr.Dataset | None) -> xr.DataTree:
    """Make a DataTree from named groups (``posterior=``, ``sample_stats=``...); None is skipped.

    Examples
    --------
    >>> post = xr.Dataset({"mu": (("chain", "draw"), np.zeros((1, 3)))})
    >>> sorted(groups(make_tree(posterior=post, sample_stats=None)))
    ['posterior']
    """
    return xr.DataTree.from_dict({k: v for k, v in datasets.items() if v is not None})


def group(idata: xr.DataTree, name: str) -> xr.Dataset:
    """One group of a tree as a Dataset (KeyError naming the group if absent).

    Examples
    --------
    >>> group(small_fit.idata, "observed_data")["score"].size
    380
    >>> try:
    ...     group(small_fit.idata, "prior")
    ... except KeyError as err:
    ...     print(err.args[0].split(" (")[0])
    the fit has no 'prior' group
    """
    if name not in idata.children:
        raise KeyError(f"the fit has no {name!r} group (it has {sorted(idata.children)})")
    return idata[name].to_dataset()


def attributes(idata: xr.DataTree) -> dict:
    """Return the tree's own attributes (setback's provenance strings in a saved fit).

    Examples
    --------
    >>> tree = make_tree(posterior=small_fit.posterior)
    >>> tree.attrs["note"] = "example"
    >>> attributes(tree)
    {'note': 'example'}
    """
    return dict(idata.attrs)


def has_group(idata: xr.DataTree, name: str) -> bool:
    """Whether the tree has a group of that name.

    Examples
    --------
    >>> has_group(small_fit.idata, "posterior"), has_group(small_fit.idata, "prior")
    (True, False)
    """
    return name in idata.children


def groups(idata: xr.DataTree) -> dict[str, xr.Dataset]:
    """All groups of a tree as Datasets.

    Examples
    --------
    >>> sorted(groups(small_fit.idata))
    ['log_likelihood', 'observed_data', 'posterior', 'sample_stats']
    """
    return {name: idata[name].to_dataset() for name in idata.children}


def with_groups(idata: xr.DataTree, **datasets: xr.Dataset) -> xr.DataTree:
    """Return a new tree with groups added or replaced (the input is not changed).

    Examples
    --------
    >>> extra = xr.Dataset({"note": ((), 1.0)})
    >>> sorted(groups(with_groups(small_fit.idata, extra=extra)))
    ['extra', 'log_likelihood', 'observed_data', 'posterior', 'sample_stats']
    >>> "extra" in groups(small_fit.idata)  # the input is not changed
    False
    """
    out = groups(idata) | datasets
    tree = make_tree(**out)
    tree.attrs = dict(idata.attrs)
    return tree


def visible(post: xr.Dataset) -> xr.Dataset:
    """Drop sampler-internal variables from a posterior.

    Examples
    --------
    >>> post = xr.Dataset({"mu": ("x", [0.0]), "mu_raw": ("x", [0.0]), "sd_chol": ("x", [1.0])})
    >>> list(visible(post).data_vars)
    ['mu']
    """
    return post.drop_vars([v for v in post.data_vars if str(v).endswith(HIDDEN)])


def flat(ds: xr.Dataset, name: str) -> np.ndarray:
    """Draws of one variable with chains and draws flattened into the first axis.

    Examples
    --------
    >>> flat(small_fit.posterior, "intercept").shape  # 2 chains x 100 draws
    (200,)
    >>> flat(small_fit.posterior, "patient_effect").shape
    (200, 100, 2)
    """
    arr = ds[name].values
    return arr.reshape(arr.shape[0] * arr.shape[1], *arr.shape[2:])


def covariance_draws(post: xr.Dataset, level: str, names: tuple[str, ...]) -> np.ndarray:
    """(S, q, q) covariance of one random-effect level from its SDs and correlations.

    Examples
    --------
    >>> cov = covariance_draws(small_fit.posterior, "patient", ("intercept", "slope"))
    >>> cov.shape
    (200, 2, 2)
    >>> sd = flat(small_fit.posterior, "patient_intercept_sd")
    >>> bool(np.allclose(cov[:, 0, 0], sd**2))
    True
    """
    sds = np.stack([flat(post, f"{level}_{c}_sd") for c in names], axis=-1)
    q = len(names)
    corr = np.broadcast_to(np.eye(q), (sds.shape[0], q, q)).copy()
    if f"{level}_corr" in post:
        vals = flat(post, f"{level}_corr")
        k = 0
        for i in range(q):
            for j in range(i + 1, q):
                corr[:, i, j] = corr[:, j, i] = vals[:, k]
                k += 1
    return sds[:, :, None] * corr * sds[:, None, :]


@dataclass(frozen=True)
class PosteriorDraws:
    """Posterior draws of a growth fit as NumPy arrays, chains and draws flattened (S).

    Examples
    --------
    >>> d = growth_draws(small_fit)
    >>> d.beta.shape, d.sigma_v.shape, d.therapist_effect is None
    ((200, 3), (200, 2, 2), True)
    >>> d.thin(10).residual_sd.shape
    (10,)
    """

    beta: np.ndarray  # (S, p) fixed effects in design-term order
    residual_sd: np.ndarray  # (S,)
    sigma_v: np.ndarray  # (S, q, q) patient-effect covariance
    patient_effect: np.ndarray | None  # (S, N, q)
    sigma_u: np.ndarray | None  # (S, q_t, q_t) therapist-effect covariance
    therapist_effect: np.ndarray | None  # (S, T, q_t)
    nu: np.ndarray | None  # (S,) Student-t degrees of freedom
    residual_ar: np.ndarray | None = None  # (S,) AR(1) residual correlation

    def therapist_effect_of(self, therapist_index: np.ndarray) -> np.ndarray | None:
        """Return the (S, N, q_t) effect of each patient's therapist.

        Zeros where the index is -1 (a patient without a therapist: partially nested designs). None
        without therapists.
        """
        if self.therapist_effect is None:
            return None
        idx = np.asarray(therapist_index, dtype=np.int64)
        padded = np.concatenate([self.therapist_effect,
                                 np.zeros_like(self.therapist_effect[:, :1])], axis=1)
        return padded[:, np.where(idx >= 0, idx, padded.shape[1] - 1)]

    def thin(self, max_draws: int | None) -> PosteriorDraws:
        """At most ``max_draws`` evenly spaced draws (all when None)."""
        n = len(self.residual_sd)
        if max_draws is None or max_draws >= n:
            return self
        keep = np.linspace(0, n - 1, max_draws).round().astype(int)
        return PosteriorDraws(*[None if a is None else a[keep] for a in (
            self.beta, self.residual_sd, self.sigma_v, self.patient_effect, self.sigma_u,
            self.therapist_effect, self.nu, self.residual_ar)])


def posterior_draws(idata: xr.DataTree, coefficients: tuple[str, ...],
                    patient_coefficients: tuple[str, ...],
                    therapist_coefficients: tuple[str, ...]) -> PosteriorDraws:
    """Return the growth parameters of a tree's posterior as :class:`PosteriorDraws`.

    Examples
    --------
    >>> d = posterior_draws(small_fit.idata, ("intercept", "slope"), ("intercept", "slope"), ())
    >>> d.beta.shape, d.sigma_u is None
    ((200, 3), True)
    """
    post = group(idata, "posterior")
    beta = np.stack([flat(post, c) for c in coefficients], axis=-1)
    if "covariate_effect" in post:
        beta = np.concatenate([beta, flat(post, "covariate_effect")], axis=-1)
    has_t = bool(therapist_coefficients)
    return PosteriorDraws(
        beta=beta, residual_sd=flat(post, "residual_sd"),
        sigma_v=covariance_draws(post, "patient", patient_coefficients),
        patient_effect=flat(post, "patient_effect") if "patient_effect" in post else None,
        sigma_u=covariance_draws(post, "therapist", therapist_coefficients) if has_t else None,
        therapist_effect=flat(post, "therapist_effect") if has_t else None,
        nu=flat(post, "nu") if "nu" in post else None,
        residual_ar=flat(post, "residual_ar") if "residual_ar" in post else None,
    )


def growth_draws(fit: object) -> PosteriorDraws:
    """:func:`posterior_draws` of a growth fit (anything with ``spec``, ``design``, ``idata``).

    Examples
    --------
    >>> growth_draws(small_fit).beta.shape  # 200 draws of intercept, slope, treatment
    (200, 3)
    """
    spec = fit.spec
    return posterior_draws(fit.idata, spec.coefficients, spec.patient_coefficients,
                           spec.therapist_coefficients(bool(fit.design.q_t)))


def write_tree(idata: xr.DataTree, path: str, attrs: dict[str, str],
               extra: dict[str, xr.Dataset] | None = None) -> None:
    """Write a tree's groups (plus ``extra`` groups) and ``attrs`` to one netCDF file.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_tree(small_fit.idata, f"{folder}/fit.nc", {"source": "example"},
    ...                extra={"notes": xr.Dataset({"n": ((), 3)})})
    ...     back = read_tree(f"{folder}/fit.nc")
    >>> "notes" in groups(back), attributes(back)["source"]
    (True, 'example')
    """
    tree = make_tree(**(groups(idata) | (extra or {})))
    tree.attrs = dict(attrs)
    tree.to_netcdf(path, engine="h5netcdf")


def read_tree(path: str) -> xr.DataTree:
    """Read a netCDF file written by :func:`write_tree` fully into memory.

    Raises
    ------
    ValueError
        Naming the file when it is not a readable netCDF/HDF5 file.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_tree(small_fit.idata, f"{folder}/fit.nc", {"note": "example"})
    ...     back = read_tree(f"{folder}/fit.nc")
    >>> attributes(back), sorted(groups(back)) == sorted(groups(small_fit.idata))
    ({'note': 'example'}, True)
    """
    try:
        with xr.open_datatree(path, engine="h5netcdf") as opened:
            return opened.load()
    except FileNotFoundError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable setback fit (expected a netCDF file written "
                         f"by GrowthFit.save): {exc}") from exc
