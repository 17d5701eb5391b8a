"""Joint growth–dropout model: shared latent patient effects (informative dropout).

The growth model (latent path of :func:`trajectories.model.build_model`) and the dropout
hazard of :mod:`trajectories.dropout` share each patient's random effects: the hazard of
dropping out after session s depends on the patient's latent (true) trajectory m_i(s)::

    g(h_is) = baseline[bin(s)] + x_is' gamma + w_t
              + a_level * severity_i(s) + a_slope * rate_i(s)
              + a_improve * max(-change_i(s), 0) + a_worsen * max(change_i(s), 0)

where severity, rate (per session) and change since intake are on the score-SD scale and
oriented so that positive means more severe. Two one-sided change terms let both
deteriorating and rapidly improving patients drop out more (Arndt et al. 2020). This is a
shared-parameter model (Wu & Carroll 1988; Rizopoulos 2010): the growth estimands of the
joint fit describe everyone, dropouts included, under the assumption that dropout depends
on the observed data and the latent trajectory only.

Switch it on with ``GrowthSpec(dropout=DropoutSpec(...))``: :func:`trajectories.fit.
fit_growth` and :func:`trajectories.model.build_model` then build :func:`build_joint_model`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from trajectories.data import TherapyData
from trajectories.design import Design, make_design
from trajectories.dropout import (
    DropoutSpec,
    HazardDesign,
    add_hazard,
    dropout_spec_of,
    hazard_design,
    interval,
    posterior,
)
from trajectories.engine import tree
from trajectories.engine.tree import flat
from trajectories.latent import build_latent_model
from trajectories.spec import INTAKE, GrowthSpec

__all__ = ["build_joint_model", "change_without_dropout", "dropout_sensitivity",
           "joint_structure_key", "latent_terms"]

_H = 1e-4  # half-step of the central difference giving the latent rate of change


def _rows_for_growth(design: Design, data: TherapyData, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the intake covariate filled from the data (rows may lack the intake)."""
    if INTAKE in design.spec.covariates and INTAKE not in rows:
        intake = data.patient_table().set_index("patient")["intake_score"]
        rows = rows.assign(**{INTAKE: rows["patient"].map(intake).to_numpy()})
    return rows


def latent_arrays(design: Design, data: TherapyData, rows: pd.DataFrame) -> dict:
    """Design rows giving latent level, rate and change since intake at each row's session.

    Each is linear in the growth coefficients: ``level = X b``, ``rate = dX b``,
    ``change = (X - X0) b`` with b the patient's coefficients (fixed + therapist + patient).
    """
    rows = _rows_for_growth(design, data, rows)
    s = rows["session"].to_numpy(float)
    x = design.encode(rows)
    dx = (design.encode(rows.assign(session=s + _H))
          - design.encode(rows.assign(session=s - _H))) / (2 * _H)
    x0 = design.encode(rows.assign(session=np.zeros_like(s)))
    pidx = pd.Index(design.patients).get_indexer(rows["patient"]).astype(np.int64)  # -1: new
    tidx = None if design.therapist_index is None else design.therapist_index[pidx]
    return {"level": x, "slope": dx, "change": x - x0, "pidx": pidx, "tidx": tidx}


def _scaling(hd: HazardDesign) -> tuple[float, float, float]:
    """(sign, score SD, score mean): orient and standardise the latent terms."""
    return hd.sign, hd.scales["score_sd"], hd.scales["score_mean"]


def _terms(names: tuple[str, ...], values: dict, scaling: tuple, maximum) -> list:  # noqa: ANN001
    """Association columns from latent level / slope / change, on the score-SD scale."""
    sign, s_y, centre = scaling
    out = []
    for name in names:
        if name == "level":
            out.append(sign * (values["level"] - centre) / s_y)
        elif name == "slope":
            out.append(sign * values["slope"] / s_y)
        else:
            worse = sign * values["change"] / s_y
            out.append(maximum(worse, 0.0) if name == "worsening" else maximum(-worse, 0.0))
    return out


def build_joint_model(growth_spec: GrowthSpec, dropout_spec: DropoutSpec, data: TherapyData,
                      *, design: Design | None = None) -> pm.Model:
    """Build the joint growth–dropout PyMC model (never samples).

    The growth part is :func:`~trajectories.model.build_model` on the latent path; the
    dropout hazard (:func:`trajectories.dropout.add_hazard`) is added in the same model,
    with ``dropout_association`` (dim ``association``) multiplying the shared latent terms.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> model = build_joint_model(GrowthSpec(time="log"), DropoutSpec(), load_beat_the_blues())
    >>> [v for v in ("patient_effect", "dropout_association", "dropout") if v in model]
    ['patient_effect', 'dropout_association', 'dropout']
    """
    gspec = growth_spec
    gdesign = design if design is not None else make_design(gspec, data)
    hdesign = hazard_design(dropout_spec, data, predictors=tuple(
        p for p in dropout_spec.predictors if p == "alliance"))
    arrays = latent_arrays(gdesign, data, hdesign.rows)
    conditional = gspec.likelihood == "normal" and gspec.method != "latent"
    model = build_latent_model(gspec, gdesign,
                               effects="conditional" if conditional else "latent")
    with model:
        beta = pt.stack([model[c] for c in gspec.coefficients])
        if "covariate_effect" in model:
            beta = pt.concatenate([beta, model["covariate_effect"]])
        # pm.Data rather than constants: refits of the same structure reuse compiled code.
        v = model["patient_effect"][pm.Data("dropout_patient_of_row", arrays["pidx"])]
        u = None
        if gdesign.q_t:  # index -1 (no therapist, partially nested) -> an appended zero row
            u0 = pt.concatenate([model["therapist_effect"], pt.zeros((1, gdesign.q_t))])
            tidx = np.where(arrays["tidx"] >= 0, arrays["tidx"], len(gdesign.therapists))
            u = u0[pm.Data("dropout_growth_therapist_of_row", tidx)]

        def latent(name: str):  # noqa: ANN202
            a = pm.Data(f"dropout_latent_{name}", arrays[name])
            out = pt.dot(a, beta) + (a[:, : gdesign.q] * v).sum(-1)
            return out if u is None else out + (a[:, : gdesign.q_t] * u).sum(-1)

        extra = None
        if dropout_spec.association:
            values = {k: latent(k) for k in ("level", "slope", "change")}
            # pm.Data, not constants: a cached compiled model refitted to other data must
            # standardise with that data's score mean and SD (as latent_terms does).
            scaling = tuple(pm.Data(f"dropout_{name}", value) for name, value in
                            zip(("sign", "score_sd", "score_mean"), _scaling(hdesign),
                                strict=True))
            cols = _terms(dropout_spec.association, values, scaling, pt.maximum)
            model.add_coord("association", list(dropout_spec.association))
            assoc = pm.Normal("dropout_association", 0.0, dropout_spec.coef_sd,
                              dims="association")
            extra = pt.dot(pt.stack(cols, axis=1), assoc)
        add_hazard(hdesign, extra)
    return model


def joint_structure_key(growth_spec: GrowthSpec, dropout_spec: DropoutSpec,
                        model: pm.Model) -> tuple:
    """Key what fixes the compiled code of the joint model: specs, bins, terms and sizes.

    Every array of the joint model is ``pm.Data``, so a data set with the same structure
    only swaps its data into the compiled model (the shapes of rows may differ).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> spec = GrowthSpec(time="log", dropout=DropoutSpec())
    >>> model = build_joint_model(spec, spec.dropout, load_beat_the_blues())
    >>> key = joint_structure_key(spec, spec.dropout, model)
    >>> key[0], key[-2:]  # 100 patients, no therapists
    ('joint', (100, 0))
    """
    return ("joint", growth_spec.to_json(), dropout_spec.to_json(),
            *(tuple(model.coords.get(k) or ()) for k in ("dropout_bin", "dropout_term",
                                                          "association", "coefficient", "term")),
            len(model.coords.get("patient") or ()), len(model.coords.get("therapist") or ()))


def latent_terms(fit: object, rows: pd.DataFrame, *, draws: np.ndarray,
                 coef: np.ndarray | None = None, data: TherapyData | None = None) -> np.ndarray:
    """Posterior draws (S, ..., n) of the shared latent part of the hazard for ``rows``.

    By default each row's patient is a fitted patient and its total coefficients (fixed
    plus therapist plus patient effects) are the posterior draws ``draws``. ``coef``
    (S, ..., n, p) gives them instead, e.g. effects drawn for new patients; ``data`` are
    then the data the rows come from (for an intake covariate).

    Examples
    --------
    >>> rows = joint_fit.data.frame.head(3)  # patient 1 at sessions 0, 2 and 3
    >>> latent_terms(joint_fit, rows, draws=np.arange(5)).shape  # 5 draws x 3 rows
    (5, 3)
    """
    spec = dropout_spec_of(fit)
    if not spec.association:
        shape = (len(draws), len(rows)) if coef is None else coef.shape[:-1]
        return np.zeros(shape)
    gdesign = fit.design
    hdesign = hazard_design(spec, fit.data, predictors=())
    arrays = latent_arrays(gdesign, fit.data if data is None else data, rows)
    if coef is None:
        d = tree.growth_draws(fit)
        coef = np.repeat(d.beta[draws][:, None, :], len(rows), axis=1)
        coef[:, :, : gdesign.q] += d.patient_effect[draws][:, arrays["pidx"], :]
        u = d.therapist_effect_of(arrays["tidx"])  # zero for a patient without therapist
        if u is not None:
            coef[:, :, : gdesign.q_t] += u[draws]
    values = {k: (coef * arrays[k]).sum(-1) for k in ("level", "slope", "change")}
    cols = _terms(spec.association, values, _scaling(hdesign), np.maximum)
    assoc = flat(posterior(fit), "dropout_association")[draws]
    assoc = assoc.reshape(assoc.shape[0], *([1] * (coef.ndim - 2)), assoc.shape[1])
    return sum(assoc[..., j] * c for j, c in enumerate(cols))


# ---------------------------------------------------------------------------- estimands
def _change_draws(fit: object, at_session: float) -> dict[str, np.ndarray]:
    """Per-draw expected score and change at ``at_session``, population and in-sample."""
    design = fit.design
    first = fit.data.frame.groupby("patient", sort=True).head(1).reset_index(drop=True)
    first = _rows_for_growth(design, fit.data, first)
    x0 = design.encode(first.assign(session=0))
    xk = design.encode(first.assign(session=float(at_session)))
    d = tree.growth_draws(fit)
    out = {"population_score": (d.beta @ xk.T).mean(1),
           "population_change": (d.beta @ (xk - x0).T).mean(1)}
    if d.patient_effect is not None:
        c = xk - x0
        ch = d.beta @ c.T + (c[None, :, : design.q] * d.patient_effect).sum(-1)
        sc = d.beta @ xk.T + (xk[None, :, : design.q] * d.patient_effect).sum(-1)
        if d.therapist_effect is not None:
            u = d.therapist_effect_of(design.therapist_index)
            ch = ch + (c[None, :, : design.q_t] * u).sum(-1)
            sc = sc + (xk[None, :, : design.q_t] * u).sum(-1)
        out |= {"sample_score": sc.mean(1), "sample_change": ch.mean(1)}
    return out


def _last_session(fit: object) -> int:
    return int(max(fit.data.coords()["session"]))


def change_without_dropout(fit: object, *, at_session: float | None = None,
                           prob: float = 0.9) -> pd.DataFrame:
    """Compute expected score and change from intake at a session as if no one had dropped out.

    ``population`` uses the fixed effects averaged over the patients' covariates (the
    mean trajectory of the population the patients come from); ``sample`` averages every
    patient's own latent trajectory, dropouts included (their trajectories after dropout
    come from the joint model). On a naive growth fit the same numbers assume dropout is
    missing at random; compare both with :func:`dropout_sensitivity`.

    Returns
    -------
    pandas.DataFrame
        Rows ``level`` (``population``, ``sample``) x ``quantity`` (``score``, ``change``,
        ``standardised_change`` = change / SD of intake scores), with ``at_session``,
        ``mean``, ``sd``, ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> table = change_without_dropout(joint_fit, at_session=8)
    >>> table[["level", "quantity"]].drop_duplicates().shape[0], table["at_session"].unique()
    (6, array([8]))
    >>> change = table.query("level == 'population' and quantity == 'change'")
    >>> bool((change["ci_high"] < 0).all())  # BDI-II scores fall
    True
    """
    at = _last_session(fit) if at_session is None else at_session
    draws = _change_draws(fit, at)
    sd0 = float(fit.data.patient_table()["intake_score"].std(ddof=1))
    rows = []
    for level in ("population", "sample"):
        if f"{level}_change" not in draws:
            continue
        for quantity, d in (("score", draws[f"{level}_score"]),
                            ("change", draws[f"{level}_change"]),
                            ("standardised_change", draws[f"{level}_change"] / sd0)):
            s = interval(d[:, None], prob)
            rows.append({"level": level, "quantity": quantity, "at_session": at,
                         **{k: float(v[0]) for k, v in s.items()}})
    return pd.DataFrame(rows)


def _icc_draws(fit: object, at_session: float) -> np.ndarray | None:
    d = tree.growth_draws(fit)
    if d.sigma_u is None:
        return None
    z = fit.design.basis(at_session)[0]
    q, q_t = d.sigma_v.shape[1], d.sigma_u.shape[1]
    var_t = np.einsum("i,sij,j->s", z[:q_t], d.sigma_u, z[:q_t])
    var_p = np.einsum("i,sij,j->s", z[:q], d.sigma_v, z[:q])
    return var_t / (var_t + var_p + d.residual_sd**2)


def dropout_sensitivity(naive_fit: object, joint_fit: object, *,
                        at_session: float | None = None, prob: float = 0.9) -> pd.DataFrame:
    """Key growth estimands from a naive growth fit beside the joint model's.

    A large difference means the naive results depend on dropout being ignorable.

    Parameters
    ----------
    naive_fit : GrowthFit
        :func:`trajectories.fit.fit_growth` on the same data (dropout ignored, i.e.
        missing at random).
    joint_fit : GrowthFit
        The same growth spec with a dropout part (``GrowthSpec(dropout=...)``).
    at_session : float, optional
        Session of the expected change and the ICC (default: the last in the data).

    Returns
    -------
    pandas.DataFrame
        One row per ``estimand`` (expected change at the session, population and sample;
        each time coefficient; therapist ICC at the session when there are therapists):
        ``naive_mean``, ``naive_low``, ``naive_high``, ``joint_mean``, ``joint_low``,
        ``joint_high``, ``difference`` (joint - naive posterior means).

    Examples
    --------
    >>> table = dropout_sensitivity(small_fit, joint_fit)  # naive vs joint, same data
    >>> table["estimand"].tolist()[-1], list(table.columns[-1:])
    ('slope', ['difference'])
    """
    at = _last_session(joint_fit) if at_session is None else at_session
    parts = {}
    for name, fit in (("naive", naive_fit), ("joint", joint_fit)):
        ch = _change_draws(fit, at)
        est = {f"expected change at session {at:g} (population)": ch["population_change"]}
        if "sample_change" in ch:
            est[f"expected change at session {at:g} (all patients)"] = ch["sample_change"]
        post = posterior(fit)
        for term in fit.spec.time_terms:
            est[term] = flat(post, term)
        icc = _icc_draws(fit, at)
        if icc is not None:
            est[f"therapist ICC at session {at:g}"] = icc
        parts[name] = est
    rows = []
    for key in parts["joint"]:
        if key not in parts["naive"]:
            continue
        row = {"estimand": key}
        for name in ("naive", "joint"):
            s = interval(parts[name][key][:, None], prob)
            row |= {f"{name}_mean": float(s["mean"][0]), f"{name}_low": float(s["ci_low"][0]),
                    f"{name}_high": float(s["ci_high"][0])}
        row["difference"] = row["joint_mean"] - row["naive_mean"]
        rows.append(row)
    return pd.DataFrame(rows)

