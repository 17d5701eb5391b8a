"""Outcome instruments: score range, direction, reliability, norms, published RCI and cutoff.

Every value carries its source. Values that the project's literature review (DOMAIN.md) could
not confirm are listed in ``Instrument.unverified`` and said so in the text of ``notes``; treat
them as conventions, not settled facts, and override them with :meth:`Instrument.replace`
when your service has local norms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

__all__ = ["Instrument", "get_instrument", "list_instruments", "register_instrument"]


@dataclass(frozen=True)
class Instrument:
    """An outcome measure and the numbers clinical-significance rules need.

    Parameters
    ----------
    key : str
        Short lookup name, e.g. ``"phq9"``.
    name : str
        Display name, e.g. ``"PHQ-9"``.
    min_score, max_score : float
        Range of possible total scores.
    higher_is_worse : bool
        ``True`` for symptom measures (PHQ-9, OQ-45); ``False`` for well-being measures.
    reliability : float or None
        Reliability coefficient r_xx used for the Jacobson–Truax RCI and measurement error.
    clinical_mean, clinical_sd : float or None
        Mean and SD of a clinical (intake) sample.
    normal_mean, normal_sd : float or None
        Mean and SD of a functional (general-population) sample.
    published_rci : float or None
        Published minimum raw change that counts as reliable (in score points).
    cutoff : float or None
        Published clinical cutoff: for ``higher_is_worse`` instruments a score ``>= cutoff``
        is in the clinical range (caseness); otherwise a score ``<= cutoff`` is.
    citation : str
        Where the numbers come from.
    notes : str
        Caveats, including which values are unverified.
    unverified : tuple of str
        Names of fields whose values are conventions not confirmed from a primary source.

    Examples
    --------
    >>> phq9 = get_instrument("phq9")
    >>> phq9.published_rci, phq9.cutoff
    (6.0, 10.0)
    >>> mine = Instrument(key="mine", name="My scale", min_score=0, max_score=40,
    ...                   higher_is_worse=True, reliability=0.9, clinical_sd=8.0)
    >>> round(mine.rci, 2)
    7.01
    """

    key: str
    name: str
    min_score: float
    max_score: float
    higher_is_worse: bool = True
    reliability: float | None = None
    clinical_mean: float | None = None
    clinical_sd: float | None = None
    normal_mean: float | None = None
    normal_sd: float | None = None
    published_rci: float | None = None
    cutoff: float | None = None
    citation: str = ""
    notes: str = ""
    unverified: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.key or not self.key.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"Instrument key {self.key!r} must be a non-empty word")
        if not (math.isfinite(self.min_score) and math.isfinite(self.max_score)):
            raise ValueError(f"Instrument {self.key}: score range must be finite")
        if self.min_score >= self.max_score:
            raise ValueError(
                f"Instrument {self.key}: min_score ({self.min_score}) must be below "
                f"max_score ({self.max_score})"
            )
        if self.reliability is not None and not 0.0 < self.reliability < 1.0:
            raise ValueError(
                f"Instrument {self.key}: reliability must be in (0, 1), got {self.reliability}"
            )
        for name in ("clinical_sd", "normal_sd", "published_rci"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"Instrument {self.key}: {name} must be positive, got {value}")
        if self.cutoff is not None and not self.min_score <= self.cutoff <= self.max_score:
            raise ValueError(
                f"Instrument {self.key}: cutoff {self.cutoff} is outside the score range "
                f"[{self.min_score}, {self.max_score}]"
            )
        unknown = set(self.unverified) - {f.name for f in self.__dataclass_fields__.values()}
        if unknown:
            raise ValueError(f"Instrument {self.key}: unverified names unknown fields {unknown}")

    @property
    def rci(self) -> float:
        """Minimum raw change counted as reliable.

        The published RCI when there is one, otherwise the Jacobson & Truax (1991) value
        ``1.96 * sqrt(2) * clinical_sd * sqrt(1 - reliability)``.
        """
        if self.published_rci is not None:
            return float(self.published_rci)
        if self.clinical_sd is None or self.reliability is None:
            raise ValueError(
                f"Instrument {self.key} has no published RCI and lacks clinical_sd or "
                "reliability to compute one; give published_rci=, or clinical_sd= and reliability="
            )
        return 1.96 * math.sqrt(2.0) * self.clinical_sd * math.sqrt(1.0 - self.reliability)

    @property
    def measurement_sd(self) -> float:
        """Standard error of measurement, ``clinical_sd * sqrt(1 - reliability)``.

        When only the published RCI is known it is back-calculated as ``rci / (1.96 * sqrt 2)``.
        """
        if self.clinical_sd is not None and self.reliability is not None:
            return self.clinical_sd * math.sqrt(1.0 - self.reliability)
        return self.rci / (1.96 * math.sqrt(2.0))

    def is_clinical(self, score: float) -> bool:
        """Whether a score lies in the clinical range (needs ``cutoff``)."""
        if self.cutoff is None:
            raise ValueError(f"Instrument {self.key} has no cutoff")
        return score >= self.cutoff if self.higher_is_worse else score <= self.cutoff

    def replace(self, **changes: object) -> Instrument:
        """Return a copy with some values changed (e.g. local norms)."""
        return replace(self, **changes)


_REGISTRY: dict[str, Instrument] = {}


def register_instrument(instrument: Instrument, *, overwrite: bool = False) -> Instrument:
    """Add a user-defined instrument to the registry used by :func:`get_instrument`.

    Examples
    --------
    >>> inst = Instrument(key="wellbeing10", name="WB-10", min_score=0, max_score=50,
    ...                   higher_is_worse=False, published_rci=5, cutoff=20)
    >>> _ = register_instrument(inst, overwrite=True)
    >>> get_instrument("WB-10").higher_is_worse
    False
    """
    key = _normalise(instrument.key)
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"An instrument named {instrument.key!r} exists; pass overwrite=True")
    _REGISTRY[key] = instrument
    if _normalise(instrument.name) != key:
        _REGISTRY[_normalise(instrument.name)] = instrument
    return instrument


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def get_instrument(name: str | Instrument) -> Instrument:
    """Look an instrument up by key or display name (case and punctuation ignored).

    Examples
    --------
    >>> get_instrument("PHQ-9").max_score
    27.0
    """
    if isinstance(name, Instrument):
        return name
    key = _normalise(name)
    if key not in _REGISTRY:
        known = ", ".join(sorted({i.key for i in _REGISTRY.values()}))
        raise KeyError(f"Unknown instrument {name!r}; known instruments: {known}")
    return _REGISTRY[key]


def list_instruments() -> list[Instrument]:
    """All registered instruments, one each, sorted by key.

    Examples
    --------
    >>> [i.key for i in list_instruments()]
    ['bdi2', 'core10', 'coreom', 'gad7', 'hamd17', 'oq45', 'oq45nl', 'phq9']
    """
    return sorted({id(i): i for i in _REGISTRY.values()}.values(), key=lambda i: i.key)


# --- built-in instruments (values and provenance from DOMAIN.md section 7) -------------------

register_instrument(Instrument(
    key="phq9", name="PHQ-9", min_score=0.0, max_score=27.0, higher_is_worse=True,
    reliability=0.84, clinical_mean=15.4, clinical_sd=5.5, published_rci=6.0, cutoff=10.0,
    citation=(
        "Cutoff >=10 (caseness): BMC Psychiatry 2016, doi:10.1186/s12888-016-1078-0. RCI 6 and "
        "intake mean 15.4 (SD 5.5), NHS Talking Therapies 2022/23: IAPT manual as quoted "
        "secondarily. Reliability .84 back-calculated from RCI 6 and SD 5.5."
    ),
    notes="RCI and intake norms come from a secondary source; reliability is derived.",
))

register_instrument(Instrument(
    key="gad7", name="GAD-7", min_score=0.0, max_score=21.0, higher_is_worse=True,
    reliability=0.90, clinical_mean=14.0, clinical_sd=4.5, published_rci=4.0, cutoff=8.0,
    citation=(
        "Cutoff >=8 (caseness) and RCI 4: NHS Talking Therapies (IAPT manual, secondary). Intake "
        "mean 14.0 (SD 4.5), 2022/23. Reliability .90 back-calculated from RCI 4 and SD 4.5."
    ),
    notes="RCI and norms from a secondary source; reliability is derived, not published.",
))

register_instrument(Instrument(
    key="core10", name="CORE-10", min_score=0.0, max_score=40.0, higher_is_worse=True,
    reliability=0.90, clinical_mean=19.7, clinical_sd=7.7, normal_mean=4.7, normal_sd=4.8,
    published_rci=6.0, cutoff=11.0,
    citation=(
        "Barkham, Bewick, Mullin et al. (2013), Couns Psychother Res 13(1):3-13, "
        "doi:10.1080/14733145.2012.729069: cutoff 11, RCI 6 (90% level), alpha .90. Norms "
        "(general population 4.7/4.8; primary-care counselling 19.7/7.7) via the 2007 manual."
    ),
    notes="The published RCI of 6 uses a 90% criterion (z = 1.645), not 95%.",
))

register_instrument(Instrument(
    key="coreom", name="CORE-OM", min_score=0.0, max_score=40.0, higher_is_worse=True,
    published_rci=5.0, cutoff=10.0,
    citation=(
        "Connell, Barkham, Stiles et al. (2007), Br J Psychiatry 190:69-74: cutoff 10 (9.9) on "
        "the 0-40 clinical scoring."
    ),
    notes=(
        "The RCI of 5 is the often-quoted value and is UNVERIFIED; reliability and clinical "
        "norms are not set, so give local values with Instrument.replace if you need them."
    ),
    unverified=("published_rci",),
))

register_instrument(Instrument(
    key="oq45", name="OQ-45", min_score=0.0, max_score=180.0, higher_is_worse=True,
    published_rci=14.0, cutoff=64.0,
    citation=(
        "OQ-45.2 (Lambert et al.): RCI 14 from the OQ Measures FAQ and scoring sheet "
        "(secondary). Cutoff 63/64 is the commonly quoted value."
    ),
    notes=(
        "The cutoff 63/64 is UNVERIFIED, as are the reliability and SD behind the RCI of 14 "
        "(RCI 14 implies SD*sqrt(1-r) ~ 5.05). Expected-recovery-curve NOT rules (Finch, Lambert "
        "& Schaalje 2001) model the score on log(session)."
    ),
    unverified=("cutoff",),
))

register_instrument(Instrument(
    key="oq45nl", name="OQ-45 (Dutch)", min_score=0.0, max_score=180.0, higher_is_worse=True,
    published_rci=18.0, cutoff=56.0,
    citation=(
        "Timman, de Jong & de Neve-Enthoven (2017), Clin Psychol Psychother 24(1):72-81, "
        "doi:10.1002/cpp.1979: cutoff 56, RCI 18 (Dutch norms)."
    ),
))

register_instrument(Instrument(
    key="bdi2", name="BDI-II", min_score=0.0, max_score=63.0, higher_is_worse=True,
    reliability=0.92, cutoff=14.0,
    citation=(
        "Beck, Steer & Brown (1996), BDI-II manual: severity bands minimal 0-13, mild 14-19, "
        "moderate 20-28, severe 29-63; the cutoff 14 is the lower bound of 'mild'."
    ),
    notes=(
        "No published RCI or clinical norms are set: the values often quoted (e.g. from "
        "Seggar, Lambert & Hansen 2002, which concern the first-edition BDI) are UNVERIFIED. "
        "The reliability .92 (outpatient alpha in the manual) is UNVERIFIED here. Without a "
        "clinical SD, clinical_significance() computes the RCI from the sample's intake SD."
    ),
    unverified=("cutoff", "reliability"),
))

register_instrument(Instrument(
    key="hamd17", name="HAM-D-17", min_score=0.0, max_score=52.0, higher_is_worse=True,
    cutoff=8.0,
    citation="Hamilton Rating Scale for Depression, 17 items.",
    notes=(
        "Remission <= 7 (so caseness >= 8) and response = 50% reduction are conventions and "
        "UNVERIFIED here; no RCI or reliability is set."
    ),
    unverified=("cutoff",),
))
