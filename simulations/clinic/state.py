"""The state of one chunk of patients in the session loop.

What components and policies read and change.

A :class:`Chunk` holds one array per quantity over the chunk's patients; the session loop
(:func:`simulations.clinic.engine.run_chunk`) moves it week by week and calls the policies'
hooks with it. By convention a policy decides on what a service can **observe** (scores,
alerts, alliance ratings, what the therapist noticed) and acts by changing the **course** of
treatment (change rate, alliance level, dropout propensity, planned length, repair
probabilities, ending and referral); the attribute lists below say which is which.

Randomness: every stochastic component draws from its own named stream (a child of the chunk's
:class:`numpy.random.SeedSequence` keyed by the stream's name), the same number of variates
every session whatever any policy does, so that policies run on one seed share all noise
(common random numbers). A policy that needs its own randomness draws it from a stream with
its own name (:meth:`Chunk.uniform`), so adding it changes no other stream.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from simulations.clinic.config import ClinicConfig

__all__ = ["DOMAINS", "F32", "RUPTURE_TYPES", "SESSION_TRUTH", "Chunk", "sigmoid", "sigmoid_"]

#: Case-formulation domains a clinical support tool or the failure ladder assesses (bit
#: ``1 << (code - 1)`` of ``Chunk.domains``; code 0 = none).
DOMAINS = ("none", "crisis", "alliance", "motivation", "social_support", "case_formulation")
#: Rupture codes of ``Chunk.rupture``.
RUPTURE_TYPES = ("none", "withdrawal", "confrontation")
#: Per-session hidden columns recorded when sessions are kept.
SESSION_TRUTH = ("latent_score", "latent_alliance", "rupture", "noticed", "repaired", "alert",
                 "action")
F32 = np.float32


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """Logistic function (float32 in, float32 out).

    Examples
    --------
    >>> sigmoid(np.float32(0.0))
    np.float32(0.5)
    >>> [round(float(p), 4) for p in sigmoid(np.array([-2.0, 2.0], dtype=np.float32))]
    [0.1192, 0.8808]
    """
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_(x: np.ndarray) -> np.ndarray:
    """Logistic function in place (``x`` is overwritten and returned).

    Examples
    --------
    >>> x = np.array([0.0, 2.0], dtype=np.float32)
    >>> out = sigmoid_(x)
    >>> out is x, [round(float(p), 4) for p in x]
    (True, [0.5, 0.8808])
    """
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1
    return np.reciprocal(x, out=x)


class Chunk:
    """Arrays of one chunk of patients, moved session by session.

    Observed by a service (policies decide on these)
        ``session`` (current week), ``scores`` (observed scores, sessions x patients, on the
        instrument's scale; rows up to ``session`` are filled), ``worse`` (RCIs worse than
        intake now), ``change`` (RCIs better than last session), ``rating`` and
        ``prev_rating`` (alliance ratings), ``alert`` (the monitor flagged the patient this
        session), ``flagged``/``first_flag``/``n_alerts``, ``active`` (still in this
        treatment), ``noticed`` (the therapist noticed a rupture this session),
        ``acted_now``/``n_actions``/``first_action``/``last_step``/``rung`` (the service's
        responses to alerts so far), ``therapist`` and the patient's recorded risk factors.
    Course of treatment (policies act through these)
        ``rate`` (change rate), ``level`` (alliance level), ``static`` (dropout logit),
        ``p_event`` (life-event probability), ``planned`` (planned sessions),
        ``notice_boost`` and ``repair_boost`` (logits added to the therapist's noticing and
        repair skill, persistent), ``meta_boost`` (logit added to the repair of this
        session's noticed rupture), ``domains`` (case-formulation domains already targeted),
        and :meth:`refer` (end treatment and refer to a next one).
    Hidden truth (components only)
        latent ``course``, ``dev``, ``sev``, latent alliance ``a``, ``rupture`` type, ...

    Examples
    --------
    >>> from simulations.clinic.engine import setup
    >>> cfg = ClinicConfig(n_patients=10, n_therapists=2)
    >>> th, th_of = setup(cfg, seed=1)
    >>> chunk = Chunk(cfg, th, th_of, np.random.SeedSequence(1), record=False)
    >>> chunk.uniform("my-policy").shape, chunk.variates["uniform"]
    ((10,), 10)
    >>> bool(np.allclose(chunk.of_therapist("repair_skill"), th["repair_skill"][th_of]))
    True
    """

    def __init__(self, config: ClinicConfig, th: dict[str, np.ndarray], th_of: np.ndarray,
                 ss: np.random.SeedSequence, *, record: bool) -> None:
        inst = config.instrument
        self.config = config
        self.instrument = inst
        self.n = n = len(th_of)
        self.n_sessions = config.max_sessions
        self.horizon = config.horizon
        self.hiw = inst.higher_is_worse
        self.lo, self.hi = inst.min_score, inst.max_score
        self.span = self.hi - self.lo
        self.rci, self.sem = inst.rci, inst.measurement_sd
        self.cut = (inst.cutoff - self.lo) if self.hiw else (self.hi - inst.cutoff)
        self.therapist = th_of
        self.th = th
        self._ss = ss
        self._gens: dict[str, np.random.Generator] = {}
        self._per_patient: dict[str, np.ndarray] = {}
        self.variates = {"normal": 0, "uniform": 0}
        self.record = record
        self.session = 0
        #: Per-patient columns added by policies (exported to the patient table).
        self.extra: dict[str, np.ndarray] = {}
        # alert responses, shared by the feedback family of policies
        self.alert = np.zeros(n, bool)
        self.flagged = np.zeros(n, bool)
        self.first_flag = np.full(n, -1, np.int16)
        self.n_alerts = np.zeros(n, np.int16)
        self.acted_now = np.zeros(n, bool)
        self.n_actions = np.zeros(n, np.int16)
        self.first_action = np.full(n, -1, np.int16)
        self.last_step = np.full(n, -1, np.int16)
        self.rung = np.zeros(n, np.int8)
        self.domains = np.zeros(n, np.int8)
        # repair policies
        self.notice_boost = np.zeros(n, F32)
        self.repair_boost = np.zeros(n, F32)
        self.meta_boost = np.zeros(n, F32)
        self.noticed = np.zeros(n, bool)
        # endings
        self.active = np.ones(n, bool)
        self.last = np.zeros(n, np.int16)
        self.end = np.zeros(n, np.int8)  # 0 completed, 1 dropout, 2 referred
        self.referred_at = np.full(n, -1, np.int16)
        self.next_start = np.full(n, -1, np.int16)

    # ------------------------------------------------------------------ randomness
    def _gen(self, stream: str) -> np.random.Generator:
        gen = self._gens.get(stream)
        if gen is None:
            key = zlib.crc32(stream.encode())  # stable across runs, unlike hash()
            child = np.random.SeedSequence(self._ss.entropy,
                                           spawn_key=(*self._ss.spawn_key, key))
            gen = self._gens[stream] = np.random.default_rng(child)
        return gen

    def uniform(self, stream: str, k: int = 1) -> np.ndarray:
        """``k`` float32 uniforms per patient from the named stream (shape (n,) or (k, n))."""
        self.variates["uniform"] += k * self.n
        return self._gen(stream).random((k, self.n) if k > 1 else self.n, dtype=F32)

    def normal(self, stream: str, k: int = 1) -> np.ndarray:
        """``k`` float32 standard normals per patient from the named stream."""
        self.variates["normal"] += k * self.n
        return self._gen(stream).standard_normal((k, self.n) if k > 1 else self.n, dtype=F32)

    # ------------------------------------------------------------------ helpers
    def of_therapist(self, name: str) -> np.ndarray:
        """Return a therapist attribute (``SimulatedClinic.therapists`` column) for each patient."""
        value = self._per_patient.get(name)
        if value is None:
            value = self._per_patient[name] = self.th[name][self.therapist].astype(F32)
        return value

    def column(self, name: str, dtype: type = np.int16, fill: float = 0) -> np.ndarray:
        """Return a per-patient array that a policy keeps (created on first use).

        The array ends up as a column of the patient table; later calls return the same array.
        """
        if name not in self.extra:
            self.extra[name] = np.full(self.n, fill, dtype)
        return self.extra[name]

    def to_score(self, severity: np.ndarray) -> np.ndarray:
        """Severity (0 = best) to the instrument's scale."""
        return (self.lo + severity) if self.hiw else (self.hi - severity)

    def refer(self, mask: np.ndarray) -> np.ndarray:
        """End this treatment for the active patients in ``mask`` as a planned referral.

        Each starts a next treatment after ``follow_up.referral_wait`` weeks. Returns the patients
        referred now.
        """
        referred = mask & self.active
        if referred.any():
            self.sev_end[referred] = self.sev[referred]  # the latent score at this last session
            self.end[referred] = 2
            self.active &= ~referred
            self.referred_at[referred] = self.session
            self.next_start[referred] = self.session + 1 + self.config.follow_up.referral_wait
        return referred

    def log_step(self, session: int) -> float:
        """Increment of log(1 + t) from treatment session t - 1 to t (t >= 1)."""
        return math.log1p(session) - math.log(session)
