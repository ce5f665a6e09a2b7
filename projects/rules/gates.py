"""The stage-gate rule (§8) and tranche sizing, as pure functions of plain values.

No ORM here: services load a stage's KPIs and measurements, turn them into ``KpiSpec`` and
``MeasurementPoint`` values, and store what ``evaluate_gate`` returns as the snapshot.

Numbers are ``Decimal`` (never float) and money is whole yen or won (``int``). Every
rounding is named at the one place it happens:

- ``aggregate`` — ``mean`` is the sum divided by the count in a 28-digit context, rounded
  half-even in the 28th significant digit (``_MEAN_CONTEXT``); ``sum`` uses the same
  context and is exact for stored values (20 digits, 6 decimals) unless there are more
  than 10⁸ of them; ``latest``, ``max`` and ``min`` return a stored value unchanged.
- ``achievement`` — computed exactly (rational arithmetic), clamped to [0, 1.5], then
  ``round_half_up_4``: 4 decimals, half up. No earlier rounding, so no double rounding.
- stage score ``S`` — the exact weighted mean of the already-rounded achievements, then
  ``round_half_up_4``.
- multiplier ``m`` — exact (no rounding; a policy too precise for that raises).
- tranche — ``released = floor(planned × m)``, computed exactly, rounded by ``_floor``.
- split over organisations — largest remainder (``fundapp.ledger.rules``).

Time window (§7, §8): a stage's measurements are those with
``stage_window_start(stage.started_on) ≤ measured_at ≤ gate_cutoff(gate day)``, both ends
included: from 00:00:00 Asia/Tokyo on the day the stage started to 23:59:59.999999
Asia/Tokyo on the gate day. A measurement one microsecond later belongs to the next stage.

Evidence (§22): of a KPI's measurements the rule counts only those that satisfy its
``evidence`` level; every other one is left out with a reason (``exclusion_reason``),
which the snapshot records. Without evidence levels (``none``) the rule is §8's.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from fractions import Fraction
from functools import reduce
from itertools import repeat
from operator import itemgetter
from typing import ClassVar, Final, TypeVar, overload

from django.utils.translation import gettext as _

from fundapp.kernel.calendar import FUND_TIMEZONE
from fundapp.ledger.rules import largest_remainder_split

GATE_TIMEZONE: Final = FUND_TIMEZONE

HIGHER_IS_BETTER: Final = "higher_is_better"
LOWER_IS_BETTER: Final = "lower_is_better"
DIRECTIONS: Final = (HIGHER_IS_BETTER, LOWER_IS_BETTER)

LATEST: Final = "latest"
MAX: Final = "max"
MIN: Final = "min"
SUM: Final = "sum"
MEAN: Final = "mean"
AGGREGATIONS: Final = (LATEST, MAX, MIN, SUM, MEAN)

PASS: Final = "pass"
CONDITIONAL: Final = "conditional"
FAIL: Final = "fail"
OUTCOMES: Final = (PASS, CONDITIONAL, FAIL)

RELEASE: Final = "release"
RELEASE_REDUCED: Final = "release_reduced"
EXTEND: Final = "extend"
TERMINATE: Final = "terminate"
DECISIONS: Final = (RELEASE, RELEASE_REDUCED, EXTEND, TERMINATE)

# A KPI's evidence level (§22): what a measurement needs to count.
EVIDENCE_NONE: Final = "none"  # nothing beyond being recorded
EVIDENCE_DOCUMENT: Final = "document"  # at least one evidence file
EVIDENCE_ATTESTED: Final = "attested"  # an independent verifier's attestation
EVIDENCE_LEVELS: Final = (EVIDENCE_NONE, EVIDENCE_DOCUMENT, EVIDENCE_ATTESTED)

# A verifier's verdict on a measurement (§22); ``None`` while no verifier has given one.
VERDICT_ATTESTED: Final = "attested"
VERDICT_DISPUTED: Final = "disputed"
VERDICTS: Final = (VERDICT_ATTESTED, VERDICT_DISPUTED)

# Why a measurement of a KPI was left out of its gate (§22), in the order they are checked:
# the first that applies is the one recorded.
LEFT_OUT_REJECTED: Final = "rejected"
LEFT_OUT_OUTSIDE_WINDOW: Final = "outside_window"
LEFT_OUT_DISPUTED: Final = "disputed"
LEFT_OUT_NOT_ATTESTED: Final = "not_attested"
LEFT_OUT_NO_EVIDENCE: Final = "no_evidence"
EXCLUSION_REASONS: Final = (
    LEFT_OUT_REJECTED,
    LEFT_OUT_OUTSIDE_WINDOW,
    LEFT_OUT_DISPUTED,
    LEFT_OUT_NOT_ATTESTED,
    LEFT_OUT_NO_EVIDENCE,
)

ACHIEVEMENT_MIN: Final = Decimal("0")
ACHIEVEMENT_MAX: Final = Decimal("1.5")
MET_AT: Final = Decimal("1")
_ACHIEVEMENT_MIN_RATIO: Final = ACHIEVEMENT_MIN.as_integer_ratio()
_ACHIEVEMENT_MAX_RATIO: Final = ACHIEVEMENT_MAX.as_integer_ratio()
ONE: Final = Decimal("1")
_ZERO: Final = Decimal(0)

# Mean and sum of measurement values: 28 significant digits, half-even in the last one.
_MEAN_CONTEXT: Final = Context(prec=28, rounding=ROUND_HALF_EVEN)
# The multiplier must come out exact: any rounding here raises instead of happening.
_EXACT_CONTEXT: Final = Context(
    prec=28, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow]
)
_FOUR_PLACES: Final = 10_000
# Integer units made decimals again (``unit_decimal``): a context that never rounds.
_UNITS_CONTEXT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
# The rule's ``sum`` and ``mean`` add in ``_MEAN_CONTEXT``: exact while every partial sum
# has at most its 28 digits, which integer units whose magnitudes add up to less than this
# guarantee (``_units_total``).
_EXACT_TOTAL_BELOW: Final = 10**28


# --------------------------------------------------------------------------- values


def _decimal(value: object, name: str) -> Decimal:
    """A finite ``Decimal``; floats are refused rather than silently made inexact."""
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite")
    return value


def _whole(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return value


def _aware(value: object, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value


@dataclass(frozen=True)
class GatePolicy:
    """A call's gate policy (§4); ``defaults()`` are the §4 defaults."""

    pass_threshold: Decimal
    conditional_threshold: Decimal
    conditional_floor: Decimal
    bonus_rate: Decimal
    max_multiplier: Decimal
    conditional_rate: Decimal
    max_extensions: int
    max_extension_months: int
    auto_release_on_pass: bool

    _DECIMAL_FIELDS: ClassVar[tuple[str, ...]] = (
        "pass_threshold",
        "conditional_threshold",
        "conditional_floor",
        "bonus_rate",
        "max_multiplier",
        "conditional_rate",
    )

    def __post_init__(self) -> None:
        for name in self._DECIMAL_FIELDS:
            _decimal(getattr(self, name), name)
        _whole(self.max_extensions, "max_extensions")
        _whole(self.max_extension_months, "max_extension_months")
        if not isinstance(self.auto_release_on_pass, bool):
            raise TypeError("auto_release_on_pass must be a bool")

    @classmethod
    def defaults(cls) -> GatePolicy:
        return cls(
            pass_threshold=Decimal("1.0"),
            conditional_threshold=Decimal("0.8"),
            conditional_floor=Decimal("0.8"),
            bonus_rate=Decimal("0.5"),
            max_multiplier=Decimal("1.2"),
            conditional_rate=Decimal("0.8"),
            max_extensions=1,
            max_extension_months=6,
            auto_release_on_pass=True,
        )

    def as_dict(self) -> dict[str, str | int | bool]:
        """JSON-ready (decimals as strings), for the snapshot's "policy used"."""
        out: dict[str, str | int | bool] = {
            name: str(getattr(self, name)) for name in self._DECIMAL_FIELDS
        }
        out["max_extensions"] = self.max_extensions
        out["max_extension_months"] = self.max_extension_months
        out["auto_release_on_pass"] = self.auto_release_on_pass
        return out

    @classmethod
    def from_dict(cls, data: dict) -> GatePolicy:
        """The inverse of ``as_dict``."""
        return cls(
            **{name: Decimal(str(data[name])) for name in cls._DECIMAL_FIELDS},
            max_extensions=data["max_extensions"],
            max_extension_months=data["max_extension_months"],
            auto_release_on_pass=data["auto_release_on_pass"],
        )


@dataclass(frozen=True)
class KpiSpec:
    """One KPI of the stage being evaluated (§5)."""

    kpi_id: int
    code: str
    direction: str  # higher_is_better | lower_is_better
    baseline: Decimal
    target: Decimal
    weight: Decimal
    mandatory: bool
    aggregation: str  # latest | max | min | sum | mean
    evidence: str = EVIDENCE_NONE  # none | document | attested (§22)

    def __post_init__(self) -> None:
        if self.evidence not in EVIDENCE_LEVELS:
            raise ValueError(f"unknown evidence level {self.evidence!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}")
        _decimal(self.baseline, "baseline")
        _decimal(self.target, "target")
        if _decimal(self.weight, "weight") <= 0:
            raise ValueError(f"KPI {self.code}: the weight must be greater than zero")
        if self.target == self.baseline:
            raise ValueError(f"KPI {self.code}: the target must differ from the baseline")


@dataclass(frozen=True, slots=True)
class MeasurementPoint:
    """One measurement of a KPI (§7)."""

    measurement_id: int
    kpi_id: int
    value: Decimal
    measured_at: datetime  # aware
    rejected: bool = False
    has_evidence: bool = False  # carries at least one evidence file
    verdict: str | None = None  # the verifier's attested | disputed, None before any

    def __post_init__(self) -> None:
        _decimal(self.value, "value")
        _aware(self.measured_at, "measured_at")
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")


@dataclass(frozen=True)
class KpiResult:
    """One KPI's line in an evaluation snapshot.

    ``measurement_ids`` are every measurement the aggregate was taken over (non-rejected,
    inside the window, meeting the evidence level), ascending: for ``latest``/``max``/``min``
    the others decided which one counts, so they are inputs too. ``excluded`` are the KPI's
    other measurements given to the rule, ``(measurement_id, reason)`` ascending by id.
    """

    code: str
    kpi_id: int
    value: Decimal | None  # None when missing
    achievement: Decimal  # 4 decimals, in [0, 1.5]
    met: bool
    missing: bool
    measurement_ids: tuple[int, ...]
    excluded: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class GateResult:
    score: Decimal  # 4 decimals, in [0, 1.5]
    outcome: str  # pass | conditional | fail
    kpis: tuple[KpiResult, ...]
    policy: GatePolicy


@dataclass(frozen=True)
class TrancheSizing:
    """How one side's tranche moves in the ledger (§8, §9).

    ``released = from_committed + from_reserve`` goes to the organisations;
    ``from_committed + returned_to_pool = planned`` leaves the project's commitment;
    ``bonus_cut`` is the bonus the reserve could not cover (it moves nowhere).
    """

    released: int
    from_committed: int
    from_reserve: int
    returned_to_pool: int
    bonus_cut: int = 0


# --------------------------------------------------------------------------- rounding


def round_half_up_4(value: Fraction) -> Decimal:
    """Round an exact value to 4 decimals, half away from zero (``ROUND_HALF_UP``).

    Equals ``Decimal(value).quantize(Decimal("0.0001"), ROUND_HALF_UP)`` taken on the exact
    value; the result always carries exponent −4 (``1.0000``, ``0.6667``).
    """
    sign = -1 if value < 0 else 1
    units = math.floor(abs(value) * _FOUR_PLACES + Fraction(1, 2))
    return Decimal(sign * units).scaleb(-4, _UNITS_CONTEXT)


def _round_ratio_half_up_4(numerator: int, denominator: int) -> Decimal:
    """``round_half_up_4(Fraction(numerator, denominator))`` for ``denominator > 0``, on
    integers alone (the rule's hot path builds no ``Fraction``)."""
    sign = -1 if numerator < 0 else 1
    units = (2 * abs(numerator) * _FOUR_PLACES + denominator) // (2 * denominator)
    return Decimal(sign * units).scaleb(-4, _UNITS_CONTEXT)


_NO_ACHIEVEMENT: Final = round_half_up_4(Fraction(0))


def _floor(value: Fraction) -> int:
    """Round down to a whole yen or won (``ROUND_FLOOR``)."""
    return math.floor(value)


# --------------------------------------------------------------------------- window


def stage_window_start(started_on: date) -> datetime:
    """00:00:00 Asia/Tokyo on the day the stage started: the window's first instant."""
    if isinstance(started_on, datetime) or not isinstance(started_on, date):
        raise TypeError("started_on must be a date, not a datetime")
    return datetime.combine(started_on, time.min, tzinfo=GATE_TIMEZONE)


def gate_cutoff(gate_day: date) -> datetime:
    """23:59:59.999999 Asia/Tokyo on the gate day: the window's last instant, included.

    A datetime is refused: its date part depends on its time zone, and a UTC datetime
    late in the day would silently name the wrong gate day.
    """
    if isinstance(gate_day, datetime) or not isinstance(gate_day, date):
        raise TypeError("gate_day must be a date, not a datetime")
    return datetime.combine(gate_day, time.max, tzinfo=GATE_TIMEZONE)


def select_window(
    points: Iterable[MeasurementPoint], start: datetime, cutoff: datetime
) -> list[MeasurementPoint]:
    """The non-rejected points with ``start ≤ measured_at ≤ cutoff`` (both included), in input order."""
    _aware(start, "start")
    _aware(cutoff, "cutoff")
    return [p for p in points if not p.rejected and start <= p.measured_at <= cutoff]


def exclusion_reason(
    evidence: str, point: MeasurementPoint, start: datetime, cutoff: datetime
) -> str | None:
    """Why ``point`` does not count for a KPI of evidence level ``evidence`` in the window
    ``[start, cutoff]`` (§8, §22), or ``None`` if it counts.

    Checked in ``EXCLUSION_REASONS`` order: a rejection, then the window, then the
    evidence. ``attested`` asks for the verifier's attestation (a dispute is its own
    reason), ``document`` for an evidence file, ``none`` for nothing more.
    """
    if point.rejected:
        return LEFT_OUT_REJECTED
    if not start <= point.measured_at <= cutoff:
        return LEFT_OUT_OUTSIDE_WINDOW
    return evidence_shortfall(evidence, has_evidence=point.has_evidence, verdict=point.verdict)


def evidence_shortfall(evidence: str, *, has_evidence: bool, verdict: str | None) -> str | None:
    """What a measurement lacks for a KPI of evidence level ``evidence`` (§22): the reason
    it is left out (``disputed``, ``not_attested``, ``no_evidence``), or ``None``."""
    if evidence == EVIDENCE_ATTESTED:
        if verdict == VERDICT_DISPUTED:
            return LEFT_OUT_DISPUTED
        if verdict != VERDICT_ATTESTED:
            return LEFT_OUT_NOT_ATTESTED
    elif evidence == EVIDENCE_DOCUMENT:
        if not has_evidence:
            return LEFT_OUT_NO_EVIDENCE
    elif evidence != EVIDENCE_NONE:
        raise ValueError(f"unknown evidence level {evidence!r}")
    return None


# --------------------------------------------------------------------------- per KPI


def aggregate(aggregation: str, points: Sequence[MeasurementPoint]) -> Decimal | None:
    """One value from a KPI's points, or ``None`` if there are none (the KPI is missing).

    ``latest`` takes the greatest ``measured_at`` (compared as instants), ties broken by
    the greatest ``measurement_id``. ``mean`` keeps 28 significant digits; the achievement
    is rounded later, once.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}")
    if not points:
        return None
    if len(points) == 1 and aggregation in (LATEST, MAX, MIN):
        return points[0].value
    if aggregation == LATEST:
        return max(points, key=lambda p: (p.measured_at, p.measurement_id)).value
    values = [p.value for p in points]
    if aggregation == MAX:
        return max(values)
    if aggregation == MIN:
        return min(values)
    if aggregation == SUM:
        return _total(values)
    return mean(values)


def _total(values: Sequence[Decimal]) -> Decimal:
    """The values added one by one from ``Decimal(0)`` in ``_MEAN_CONTEXT``, in their order."""
    return reduce(_MEAN_CONTEXT.add, values, _ZERO)


def mean(values: Sequence[Decimal]) -> Decimal:
    """The ``mean`` aggregation of one or more values, to 28 significant digits.

    Its result is its own mean (``mean([mean(v)]) == mean(v)``), so a caller that has the
    values may pass the mean as the KPI's one point.
    """
    if not values:
        raise ValueError("the mean of no values")
    return _MEAN_CONTEXT.divide(_total(values), Decimal(len(values)))


# --------------------------------------------------------------------------- scaled values
#
# A database column of scale ``places`` stores every value as a whole number of units of
# its ``places``-th decimal place. A caller that reads those integers (the batch
# evaluation) hands them to the rule as they are, and the rule compares, orders and adds
# them as integers, making a ``Decimal`` only of a value it reports or aggregates: the
# same ``Decimal`` as the stored value, digits and exponent.


def unit_decimal(unit: int, places: int) -> Decimal:
    """``unit`` units of the ``places``-th decimal place as the ``Decimal`` whose units they
    are, digits and exponent alike: ``unit_decimal(-3250000, 6)`` is ``Decimal("-3.250000")``.
    Exact for integers of any size."""
    return Decimal(unit).scaleb(-places, _UNITS_CONTEXT)


class ScaledValues(Sequence[Decimal]):
    """Values held as integer ``units`` of the ``places``-th decimal place (``places ≥ 0``),
    read as decimals: each ``Decimal`` (``unit_decimal``) is made when it is read, so a
    series whose values are only compared as integers never makes one."""

    __slots__ = ("places", "units")

    def __init__(self, units: Sequence[int], places: int) -> None:
        if places < 0:
            raise ValueError("places must not be negative")
        self.units = units
        self.places = places

    def __len__(self) -> int:
        return len(self.units)

    @overload
    def __getitem__(self, index: int) -> Decimal: ...

    @overload
    def __getitem__(self, index: slice) -> list[Decimal]: ...

    def __getitem__(self, index: int | slice) -> Decimal | list[Decimal]:
        if isinstance(index, slice):
            return [unit_decimal(unit, self.places) for unit in self.units[index]]
        return unit_decimal(self.units[index], self.places)

    def __iter__(self) -> Iterator[Decimal]:
        places = self.places
        return (unit_decimal(unit, places) for unit in self.units)

    def __repr__(self) -> str:
        return f"ScaledValues({list(self.units)!r}, {self.places})"


def _units_total(units: Sequence[int], places: int) -> Decimal | None:
    """``_total`` of the values whose units these are, from the integers' exact sum; ``None``
    when a partial sum might not fit ``_MEAN_CONTEXT``'s 28 digits (``_total`` would
    round it): then only ``_total`` itself gives the rule's result.

    Each addition of ``_total`` is exact while its result has at most 28 digits at the
    values' exponent, which holds when the magnitudes add up to less than 10²⁸ units
    (``len × the largest magnitude`` bounds that sum). ``_total`` starts from
    ``Decimal(0)``, so its result carries the values' exponent, as ``unit_decimal`` does.
    """
    if not units:
        return _ZERO
    if len(units) * max(max(units), -min(units)) >= _EXACT_TOTAL_BELOW:
        return None
    return unit_decimal(sum(units), places)


def mean_of_units(units: Sequence[int], places: int) -> Decimal:
    """``mean`` of the values whose ``units`` of the ``places``-th decimal place these are,
    the same ``Decimal``: the exact integer sum divided in ``_MEAN_CONTEXT``, or ``mean``
    of the decimals when the sum would not be exact in 28 digits (``_units_total``)."""
    if not units:
        raise ValueError("the mean of no values")
    total = _units_total(units, places)
    if total is None:
        return mean(ScaledValues(units, places))
    return _MEAN_CONTEXT.divide(total, Decimal(len(units)))


def achievement(direction: str, value: Decimal, baseline: Decimal, target: Decimal) -> Decimal:
    """How far ``value`` went from ``baseline`` towards ``target``: 0 = none, 1 = met (§8).

    Exact, clamped to [0, 1.5], then ``round_half_up_4``. ``ValueError`` if the target
    equals the baseline (the proposal rules forbid it) or the direction is unknown.
    """
    return _achievement(
        direction,
        _decimal(value, "value"),
        _decimal(baseline, "baseline"),
        _decimal(target, "target"),
    )


def _achievement(direction: str, value: Decimal, baseline: Decimal, target: Decimal) -> Decimal:
    """``achievement`` of decimals already known to be finite (a ``KpiSpec``'s, and a value
    aggregated from ``MeasurementPoint`` values)."""
    vn, vd = value.as_integer_ratio()
    bn, bd = baseline.as_integer_ratio()
    tn, td = target.as_integer_ratio()
    if tn * bd == bn * td:
        raise ValueError("the target must differ from the baseline")
    # Exact, on integers: v − b = (vn·bd − bn·vd) / (vd·bd), t − b = (tn·bd − bn·td) / (td·bd).
    if direction == HIGHER_IS_BETTER:
        numerator = (vn * bd - bn * vd) * td
        denominator = vd * (tn * bd - bn * td)
    elif direction == LOWER_IS_BETTER:
        numerator = (bn * vd - vn * bd) * td
        denominator = vd * (bn * td - tn * bd)
    else:
        raise ValueError(f"unknown direction {direction!r}")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    low_n, low_d = _ACHIEVEMENT_MIN_RATIO
    high_n, high_d = _ACHIEVEMENT_MAX_RATIO
    if numerator * low_d < low_n * denominator:
        numerator, denominator = low_n, low_d
    elif numerator * high_d > high_n * denominator:
        numerator, denominator = high_n, high_d
    return _round_ratio_half_up_4(numerator, denominator)


def evaluate_kpi(kpi: KpiSpec, points: Iterable[MeasurementPoint]) -> KpiResult:
    """One KPI over points already cut to the stage's window (only its own are used)."""
    own = [p for p in points if p.kpi_id == kpi.kpi_id and not p.rejected]
    return _kpi_result(kpi, own, [])


def _kpi_result(
    kpi: KpiSpec, own: Sequence[MeasurementPoint], left_out: list[tuple[int, str]]
) -> KpiResult:
    """The KPI's line from the points that count for it and those left out."""
    value = aggregate(kpi.aggregation, own)
    ids = tuple(sorted([p.measurement_id for p in own]))
    excluded = tuple(sorted(left_out)) if left_out else ()
    if value is None:
        return KpiResult(
            code=kpi.code,
            kpi_id=kpi.kpi_id,
            value=None,
            achievement=_NO_ACHIEVEMENT,
            met=False,
            missing=True,
            measurement_ids=ids,
            excluded=excluded,
        )
    a = _achievement(kpi.direction, value, kpi.baseline, kpi.target)
    return KpiResult(
        code=kpi.code,
        kpi_id=kpi.kpi_id,
        value=value,
        achievement=a,
        met=a >= MET_AT,
        missing=False,
        measurement_ids=ids,
        excluded=excluded,
    )


# --------------------------------------------------------------------------- the gate


def stage_score(results: Sequence[KpiResult], weights: Sequence[Decimal]) -> Decimal:
    """``S = Σ wᵢ·aᵢ / Σ wᵢ`` over the rounded achievements, exact, then ``round_half_up_4``."""
    if not results or len(results) != len(weights):
        raise ValueError("one weight per KPI, and at least one KPI")
    # Exact, on integers: weighted = wn / wd and weight_sum = sn / sd, never reduced (a
    # stage has a handful of KPIs, so the integers stay small).
    wn, wd = 0, 1
    sn, sd = 0, 1
    for result, weight in zip(results, weights, strict=True):
        weight_n, weight_d = _decimal(weight, "weight").as_integer_ratio()
        if weight_n <= 0:
            raise ValueError("weights must be greater than zero")
        a_n, a_d = result.achievement.as_integer_ratio()
        term_d = weight_d * a_d
        wn, wd = wn * term_d + weight_n * a_n * wd, wd * term_d
        sn, sd = sn * weight_d + weight_n * sd, sd * weight_d
    return _round_ratio_half_up_4(wn * sd, wd * sn)


def gate_outcome(score: Decimal, mandatory: Sequence[KpiResult], policy: GatePolicy) -> str:
    """PASS, CONDITIONAL or FAIL from the score and the mandatory KPIs' results (§8)."""
    if all(r.met for r in mandatory) and score >= policy.pass_threshold:
        return PASS
    if (
        all(r.achievement >= policy.conditional_floor for r in mandatory)
        and score >= policy.conditional_threshold
    ):
        return CONDITIONAL
    return FAIL


def evaluate_gate(
    kpis: Sequence[KpiSpec],
    points: Iterable[MeasurementPoint],
    *,
    start: datetime,
    cutoff: datetime,
    policy: GatePolicy,
) -> GateResult:
    """Evaluate one stage's gate (§8, §22): window, evidence, aggregate, achieve, score,
    outcome.

    ``points`` may hold measurements of any KPI and any time; each KPI takes its own,
    non-rejected ones with ``start ≤ measured_at ≤ cutoff`` that meet its evidence level,
    and lists the rest of its own in ``excluded`` with their reason. Results keep the order
    of ``kpis``. ``ValueError`` for no KPIs or a KPI id listed twice.
    """
    if not kpis:
        raise ValueError("a stage has at least one KPI")
    _aware(start, "start")
    _aware(cutoff, "cutoff")
    ids = [k.kpi_id for k in kpis]
    if len(set(ids)) != len(ids):
        raise ValueError("a KPI is listed twice")
    levels = {k.kpi_id: k.evidence for k in kpis}
    by_kpi: dict[int, list[MeasurementPoint]] = {kpi_id: [] for kpi_id in ids}
    left_out: dict[int, list[tuple[int, str]]] = {kpi_id: [] for kpi_id in ids}
    for point in points:
        level = levels.get(point.kpi_id)
        if level is None:
            continue
        reason = exclusion_reason(level, point, start, cutoff)
        if reason is None:
            by_kpi[point.kpi_id].append(point)
        else:
            left_out[point.kpi_id].append((point.measurement_id, reason))
    results = tuple(_kpi_result(k, by_kpi[k.kpi_id], left_out[k.kpi_id]) for k in kpis)
    score = stage_score(results, [k.weight for k in kpis])
    mandatory = [r for r, k in zip(results, kpis, strict=True) if k.mandatory]
    return GateResult(
        score=score, outcome=gate_outcome(score, mandatory, policy), kpis=results, policy=policy
    )


# --------------------------------------------------------------------------- decisions


def automatic_decision(outcome: str, policy: GatePolicy) -> str | None:
    """``release`` when a PASS is decided automatically (§8); otherwise officers decide."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    return RELEASE if outcome == PASS and policy.auto_release_on_pass else None


def decisions_for(outcome: str) -> tuple[str, ...]:
    """The decisions officers may take on an outcome (§8)."""
    if outcome == PASS:
        return (RELEASE, EXTEND, TERMINATE)
    if outcome == CONDITIONAL:
        return (RELEASE_REDUCED, EXTEND, TERMINATE)
    if outcome == FAIL:
        return (EXTEND, TERMINATE)
    raise ValueError(f"unknown outcome {outcome!r}")


def release_multiplier(outcome: str, score: Decimal, policy: GatePolicy, decision: str) -> Decimal:
    """The tranche multiplier ``m`` of a releasing decision (§8), exact.

    ``release`` (PASS only): ``clamp(1 + bonus_rate·(S − pass_threshold), 1, max_multiplier)``.
    ``release_reduced`` (CONDITIONAL only): ``conditional_rate``. Anything else: ``ValueError``.
    """
    _decimal(score, "score")
    if decision == RELEASE:
        if outcome != PASS:
            raise ValueError(f"release needs a pass, not {outcome!r}")
        raw = _EXACT_CONTEXT.add(
            ONE,
            _EXACT_CONTEXT.multiply(
                policy.bonus_rate, _EXACT_CONTEXT.subtract(score, policy.pass_threshold)
            ),
        )
        return min(max(raw, ONE), policy.max_multiplier)
    if decision == RELEASE_REDUCED:
        if outcome != CONDITIONAL:
            raise ValueError(f"release_reduced needs a conditional outcome, not {outcome!r}")
        return policy.conditional_rate
    raise ValueError(f"{decision!r} releases no money")


def tranche_amounts(planned: int, multiplier: Decimal, reserve_available: int) -> TrancheSizing:
    """Size one side's tranche: ``released = floor(planned × m)`` (§8).

    Above plan (m > 1) the bonus comes from the side's reserve, cut to what it holds; below
    plan (m < 1) the unreleased part returns to the side's pool. Money is conserved:
    ``released + returned_to_pool == planned + from_reserve``.
    """
    _whole(planned, "planned")
    _whole(reserve_available, "reserve_available")
    if _decimal(multiplier, "multiplier") < 0:
        raise ValueError("the multiplier cannot be negative")
    full = _floor(planned * Fraction(multiplier))
    if full >= planned:
        bonus = full - planned
        from_reserve = min(bonus, reserve_available)
        return TrancheSizing(
            released=planned + from_reserve,
            from_committed=planned,
            from_reserve=from_reserve,
            returned_to_pool=0,
            bonus_cut=bonus - from_reserve,
        )
    return TrancheSizing(
        released=full,
        from_committed=full,
        from_reserve=0,
        returned_to_pool=planned - full,
    )


def split_by_budget(
    released: int, budget_by_org: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Split a side's released amount over its organisations by budget share (§5, §8).

    ``budget_by_org`` is ``[(organisation_id, budget), ...]``; the answer keeps that order.
    Largest remainder: the parts sum exactly to ``released``, ties go to the organisation
    listed first.
    """
    org_ids = [org_id for org_id, _budget in budget_by_org]
    if len(set(org_ids)) != len(org_ids):
        raise ValueError("an organisation is listed twice")
    parts = largest_remainder_split(released, [budget for _org, budget in budget_by_org])
    return list(zip(org_ids, parts, strict=True))


def extension_allowed(extensions_so_far: int, months: int, policy: GatePolicy) -> tuple[bool, str]:
    """May the stage be extended by ``months`` once more (§8)? With the reason if not."""
    _whole(extensions_so_far, "extensions_so_far")
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        return False, _("An extension lasts at least one month.")
    if extensions_so_far >= policy.max_extensions:
        return False, _(
            "This call allows %(n)d extension(s) of a stage, and this stage has had %(done)d."
        ) % {"n": policy.max_extensions, "done": extensions_so_far}
    if months > policy.max_extension_months:
        return False, _("An extension may last at most %(n)d months.") % {
            "n": policy.max_extension_months
        }
    return True, ""


# --------------------------------------------------------------------------- anomaly flags

# The kinds of anomaly flag (§22), in the order ``anomaly_flags`` lists them.
FLAG_LATE_DECISIVE: Final = "late_decisive"
FLAG_AT_TARGET: Final = "at_target"
FLAG_JUMP: Final = "jump"
FLAG_REENTERED: Final = "reentered_after_rejection"
FLAG_SHARED_EVIDENCE: Final = "shared_evidence"
FLAG_KINDS: Final = (
    FLAG_LATE_DECISIVE,
    FLAG_AT_TARGET,
    FLAG_JUMP,
    FLAG_REENTERED,
    FLAG_SHARED_EVIDENCE,
)

# Entered within this time before the cutoff (the cutoff itself included): a late entry.
LATE_ENTRY: Final = timedelta(days=7)
# A value is compared with the KPI's earlier series once that series holds this many values:
# the median absolute deviation of fewer says little about the spread.
JUMP_MIN_SERIES: Final = 5
# A jump is a deviation from the earlier series' median of more than this many MADs.
JUMP_MADS: Final = 3


@dataclass(frozen=True)
class KpiSeries:
    """One KPI's measurements as the anomaly flags read them (§22).

    ``ids``, ``values`` and ``created_at`` are parallel: the measurements the gate counted,
    in the order of the series (``measured_at``, then id). ``created_at`` is when each was
    entered; ``None`` stands for "long before the cutoff" (a caller may leave out what
    cannot matter). ``rejected`` are the KPI's rejected measurements as ``(id, value,
    rejected_at)``; ``shared`` the evidence files of counted measurements that a
    measurement of another KPI also carries, as ``(id, sha256, other id, other KPI id)``.

    ``units``, when given, is ``(units, places)``: the same values as integer units of the
    ``places``-th decimal place (``values[i] == unit_decimal(units[i], places)``, digits and
    exponent; ``values`` may then be a ``ScaledValues``), which the flags compare and add
    as integers, making decimals only of what they report. The flags are the same either
    way.
    """

    ids: Sequence[int]
    values: Sequence[Decimal]
    created_at: Sequence[datetime | None]
    rejected: Sequence[tuple[int, Decimal, datetime]] = ()
    shared: Sequence[tuple[int, str, int, int]] = ()
    units: tuple[Sequence[int], int] | None = None


@dataclass(frozen=True)
class AnomalyFlag:
    """One anomaly of a KPI at a gate (§22), with the measurements behind it; ``detail``
    holds JSON-ready facts (decimals and times as text) for the reader."""

    kind: str
    kpi_id: int
    measurement_ids: tuple[int, ...]
    detail: dict[str, object]

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "kpi_id": self.kpi_id,
            "measurement_ids": list(self.measurement_ids),
            "detail": self.detail,
        }


def _aggregate_series(aggregation: str, values: Sequence[Decimal]) -> Decimal | None:
    """``aggregate`` of values already in series order (``latest`` is the last)."""
    if not values:
        return None
    if aggregation == LATEST:
        return values[-1]
    if aggregation == MAX:
        return max(values)
    if aggregation == MIN:
        return min(values)
    if aggregation == SUM:
        return _total(values)
    if aggregation == MEAN:
        return mean(values)
    raise ValueError(f"unknown aggregation {aggregation!r}")


def _aggregate_units(aggregation: str, units: Sequence[int], places: int) -> Decimal | None:
    """``_aggregate_series`` of the values whose units these are (``ScaledValues``), the
    same ``Decimal``, on integers: one value made a decimal for ``latest``, ``max`` and
    ``min``, their exact sum for ``sum`` and ``mean`` (``_units_total``)."""
    if not units:
        return None
    if aggregation == LATEST:
        return unit_decimal(units[-1], places)
    if aggregation == MAX:
        return unit_decimal(max(units), places)
    if aggregation == MIN:
        return unit_decimal(min(units), places)
    if aggregation == SUM:
        total = _units_total(units, places)
        return _total(ScaledValues(units, places)) if total is None else total
    if aggregation == MEAN:
        return mean_of_units(units, places)
    raise ValueError(f"unknown aggregation {aggregation!r}")


def _met(kpi: KpiSpec, value: Decimal | None) -> bool:
    return value is not None and (
        achievement(kpi.direction, value, kpi.baseline, kpi.target) >= MET_AT
    )


def _deciding(kpi: KpiSpec, series: KpiSeries, value: Decimal) -> tuple[int, ...]:
    """The counted measurements that make the KPI's value: the latest one, those holding the
    maximum or minimum, or all of them for ``sum`` and ``mean``."""
    if kpi.aggregation == LATEST:
        return (series.ids[-1],)
    if kpi.aggregation in (MAX, MIN):
        if series.units is not None:
            units = series.units[0]
            unit = max(units) if kpi.aggregation == MAX else min(units)
            return tuple(sorted(i for i, u in zip(series.ids, units, strict=True) if u == unit))
        return tuple(
            sorted(i for i, v in zip(series.ids, series.values, strict=True) if v == value)
        )
    return tuple(sorted(series.ids))


def _late_decisive(
    kpi: KpiSpec, series: KpiSeries, value: Decimal | None, cutoff: datetime
) -> AnomalyFlag | None:
    """Values entered in the last 7 days before the cutoff that decide the KPI's ``met``:
    met with them, not met without them."""
    entered = series.created_at
    if entered.count(None) == len(entered):  # the usual case: nothing entered lately
        return None
    since = cutoff - LATE_ENTRY
    late = {
        i
        for i, at in zip(series.ids, entered, strict=True)
        if at is not None and since <= at <= cutoff
    }
    if not late or not _met(kpi, value):
        return None
    if series.units is not None:
        units, places = series.units
        without = _aggregate_units(
            kpi.aggregation,
            [u for i, u in zip(series.ids, units, strict=True) if i not in late],
            places,
        )
    else:
        without = _aggregate_series(
            kpi.aggregation,
            [v for i, v in zip(series.ids, series.values, strict=True) if i not in late],
        )
    if _met(kpi, without):
        return None
    return AnomalyFlag(
        FLAG_LATE_DECISIVE,
        kpi.kpi_id,
        tuple(sorted(late)),
        {
            "entered_since": since.isoformat(),
            "value": str(value),
            "value_without": None if without is None else str(without),
        },
    )


def _scaled(values: Sequence[Decimal]) -> tuple[list[int], int]:
    """The values as integers in units of their finest decimal place, and that place.

    Read off the values' text (``str`` of a ``Decimal`` is exact and fast, where
    ``as_tuple`` builds a tuple of digits): ``-12.34`` is 1234 hundredths, negated. Text in
    exponent notation (``1E+2``) is read off the tuple instead."""
    texts = list(map(str, values))
    if texts:
        # The usual case, read with ``map`` alone: every text has its point as many places
        # from its end as the first one has (a database column's scale); the digits without
        # the point are the units. The first text without a point fails the check (it is
        # too short), and exponent notation fails ``int``: both are read the general way.
        first = texts[0]
        places = len(first) - 1 - first.find(".")
        try:
            if set(map(itemgetter(-places - 1), texts)) == {"."}:
                return list(map(int, map(str.replace, texts, repeat("."), repeat("")))), places
        except (IndexError, ValueError):
            pass
    if any("E" in text for text in texts):
        places = 0
        for value in values:
            exponent = value.as_tuple().exponent
            assert isinstance(exponent, int)  # finite: ``_decimal`` refused the others
            places = max(places, -exponent)
        return [int(v.scaleb(places, _UNITS_CONTEXT)) for v in values], places
    own = [len(text) - 1 - text.find(".") if "." in text else 0 for text in texts]
    places = max(own, default=0)
    if min(own, default=0) == places:  # every value has the same places (whole numbers)
        return [int(text.replace(".", "", 1)) for text in texts], places
    return [
        int(text.replace(".", "", 1)) * 10 ** (places - mine)
        for text, mine in zip(texts, own, strict=True)
    ], places


def _shown(value: Decimal, places: int) -> str:
    """``value`` as text with the values' own decimal places when that is exact."""
    quantized = value.quantize(Decimal(1).scaleb(-places, _UNITS_CONTEXT), context=_UNITS_CONTEXT)
    return str(quantized if quantized == value else value.normalize(_UNITS_CONTEXT))


def _kth_deviation(ordered: Sequence[int], center2: int, k: int) -> int:
    """The ``k``-th smallest (from 0) of ``|2u − center2|`` over the ascending ``ordered``.

    The deviations of the values below the centre ascend leftwards from it, those of the
    others rightwards: two ascending runs, and the ``k``-th of their merge is found by
    bisecting how many of the first ``k + 1`` come from the left run, in O(log n) steps
    without building either run.
    """
    split = bisect.bisect_left(ordered, -(-center2 // 2))  # values u with 2u < center2
    right_count = len(ordered) - split
    low, high = max(0, k + 1 - right_count), min(k + 1, split)
    # The fewest ``taken`` from the left such that the left run's next deviation is no
    # smaller than the right run's last taken one: then the first k + 1 are exactly those.
    while low < high:
        taken = (low + high) // 2
        if center2 - 2 * ordered[split - 1 - taken] >= 2 * ordered[split + k - taken] - center2:
            high = taken
        else:
            low = taken + 1
    left = center2 - 2 * ordered[split - low] if low else -1
    right = 2 * ordered[split + k - low] - center2 if k >= low else -1
    return max(left, right)


def _jumps(kpi: KpiSpec, series: KpiSeries) -> list[AnomalyFlag]:
    """Values more than 3 MADs from the median of the KPI's earlier series (§22).

    Each counted value is compared with the values before it in the series once there are
    ``JUMP_MIN_SERIES`` of them. When the earlier values' MAD is 0 (at least half of them
    equal), the mean absolute deviation from the median stands in for it; when that is 0
    too (every earlier value the same), any other value is a jump. Exact: the values are
    scaled to integers, and medians kept doubled so that no division happens.

    Incremental: the earlier values are kept sorted (``bisect.insort``), their median read
    off the middle and their MAD selected from the deviations around it
    (``_kth_deviation``) without sorting them, so a series of n values costs
    O(n log n) comparisons rather than a sort per value.
    """
    if len(series.values) <= JUMP_MIN_SERIES:
        return []
    units, places = _scaled(series.values) if series.units is None else series.units
    flags: list[AnomalyFlag] = []
    earlier = sorted(units[:JUMP_MIN_SERIES])
    # The median's two middle positions in ``earlier``, (n − 1) // 2 and n // 2 for its n
    # values, moved on as it grows; a single middle while n is odd.
    lower = upper = (JUMP_MIN_SERIES - 1) >> 1
    # Bound to locals: this loop runs for every counted value of every KPI of a batch.
    bisect_left, insort = bisect.bisect_left, bisect.insort
    for unit in units[JUMP_MIN_SERIES:]:
        median2 = earlier[lower] + earlier[upper]  # twice the median
        deviation2 = 2 * unit - median2  # twice the value's deviation
        if deviation2 < 0:
            deviation2 = -deviation2
        # Most values are no jump, and most of those are told apart by counting: if at
        # most ``lower`` earlier values u lie within a third of the value's deviation of
        # the median (3·|2u − median2| < deviation2, i.e. 3·median2 − deviation2 < 6u <
        # 3·median2 + deviation2), the MAD's lower middle is at least that third, so
        # 3 MADs reach the value: no jump, with no MAD computed. They are more than
        # ``lower`` when the first one above the interval's low end (one bisection) and
        # the ``lower`` after it all lie below its high end.
        median6 = 3 * median2
        last = bisect_left(earlier, (median6 - deviation2) // 6 + 1) + lower
        if last < len(earlier) and 6 * earlier[last] < median6 + deviation2:
            flag = _jump(kpi, series, earlier, median2, deviation2, places)
            if flag is not None:
                flags.append(flag)
        insort(earlier, unit)
        if lower == upper:
            upper += 1
        else:
            lower = upper
    return flags


def _jump(
    kpi: KpiSpec,
    series: KpiSeries,
    earlier: list[int],
    median2: int,
    deviation2: int,
    places: int,
) -> AnomalyFlag | None:
    """The jump flag of the series' next value after the sorted ``earlier`` (in units of
    ``places``), twice their median and twice the value's deviation from it given, or
    ``None`` when the value is within 3 MADs (``_jumps``)."""
    n = len(earlier)  # the value's index in the series
    lower, upper = (n - 1) >> 1, n >> 1
    mad2 = _kth_deviation(earlier, median2, lower)  # twice the MAD's lower middle
    # four times the MAD
    mad4 = 2 * mad2 if lower == upper else mad2 + _kth_deviation(earlier, median2, upper)
    if mad4:
        if 2 * deviation2 <= JUMP_MADS * mad4:
            return None
        spread: dict[str, object] = {
            "mad": _shown(Decimal(mad4 * 25).scaleb(-places - 2, _UNITS_CONTEXT), places)
        }
    else:
        total2 = sum(abs(2 * u - median2) for u in earlier)  # twice the deviations' sum
        if n * deviation2 <= JUMP_MADS * total2:
            return None
        spread = {
            "mad": "0",
            "mean_deviation": _shown(
                _MEAN_CONTEXT.divide(
                    Decimal(total2).scaleb(-places, _UNITS_CONTEXT), Decimal(2 * n)
                ),
                places,
            ),
        }
    return AnomalyFlag(
        FLAG_JUMP,
        kpi.kpi_id,
        (series.ids[n],),
        {
            "value": str(series.values[n]),
            "median": _shown(Decimal(median2 * 5).scaleb(-places - 1, _UNITS_CONTEXT), places),
            **spread,
            "earlier": n,
        },
    )


# Above this many comparisons ``values_among`` hashes instead.
_COMPARED_AT_MOST: Final = 400

_Compared = TypeVar("_Compared", Decimal, int)


def values_among(candidates: Sequence[_Compared], values: Sequence[_Compared]) -> list[_Compared]:
    """The candidates equal to one of ``values`` (``==``, as a set would match them):
    decimals, or the integer units of values of one decimal place (``ScaledValues``).

    Compared rather than hashed while there are few of both: a KPI has a rejected value or
    two against its ~20 counted ones, and a decimal's first hash costs ~0.6 µs where a
    comparison costs ~0.05 µs."""
    if len(candidates) * len(values) > _COMPARED_AT_MOST:
        among = set(values)
        return [candidate for candidate in candidates if candidate in among]
    return [candidate for candidate in candidates if candidate in values]


def units_of(value: Decimal, places: int) -> int | None:
    """``value`` as integer units of the ``places``-th decimal place, or ``None`` when it
    has a finer digit (then it equals no value held in such units)."""
    scaled = value.scaleb(places, _UNITS_CONTEXT)
    unit = int(scaled)
    return unit if unit == scaled else None


def _reentered(kpi: KpiSpec, series: KpiSeries) -> list[AnomalyFlag]:
    """Counted values equal to a rejected measurement's value and entered after that
    rejection (§22); each with the rejected measurement first."""
    flags: list[AnomalyFlag] = []
    if not series.rejected:
        return flags
    if series.units is not None:
        return _reentered_units(kpi, series, *series.units)
    again = values_among([value for _id, value, _at in series.rejected], series.values)
    if not again:  # the usual case: no counted value was rejected
        return flags
    rejected = sorted(series.rejected)
    for measurement_id, value, created in zip(
        series.ids, series.values, series.created_at, strict=True
    ):
        if created is None or value not in again:
            continue
        for rejected_id, rejected_value, rejected_at in rejected:
            if value == rejected_value and created > rejected_at:
                flags.append(
                    AnomalyFlag(
                        FLAG_REENTERED,
                        kpi.kpi_id,
                        (rejected_id, measurement_id),
                        {"value": str(value), "rejected_at": rejected_at.isoformat()},
                    )
                )
                break
    return flags


def _reentered_units(
    kpi: KpiSpec, series: KpiSeries, units: Sequence[int], places: int
) -> list[AnomalyFlag]:
    """``_reentered`` of a series given in units: the rejected values made units of the
    same place (one with a finer digit equals no counted value) and compared as integers."""
    flags: list[AnomalyFlag] = []
    rejected = [
        (rejected_id, unit, rejected_at)
        for rejected_id, value, rejected_at in sorted(series.rejected)
        if (unit := units_of(value, places)) is not None
    ]
    again = values_among([unit for _id, unit, _at in rejected], units)
    if not again:  # the usual case: no counted value was rejected
        return flags
    for index, (measurement_id, unit, created) in enumerate(
        zip(series.ids, units, series.created_at, strict=True)
    ):
        if created is None or unit not in again:
            continue
        for rejected_id, rejected_unit, rejected_at in rejected:
            if unit == rejected_unit and created > rejected_at:
                flags.append(
                    AnomalyFlag(
                        FLAG_REENTERED,
                        kpi.kpi_id,
                        (rejected_id, measurement_id),
                        {
                            "value": str(series.values[index]),
                            "rejected_at": rejected_at.isoformat(),
                        },
                    )
                )
                break
    return flags


def _shared(kpi: KpiSpec, series: KpiSeries) -> list[AnomalyFlag]:
    """Evidence files of counted measurements that a measurement of another KPI carries
    too (same SHA-256), one flag per file: this KPI's measurements, then the others'."""
    if not series.shared:
        return []
    counted = set(series.ids)
    by_hash: dict[str, tuple[set[int], set[int], set[int]]] = {}
    for measurement_id, sha256, other_id, other_kpi_id in series.shared:
        if measurement_id not in counted or other_kpi_id == kpi.kpi_id:
            continue
        own, others, kpis = by_hash.setdefault(sha256, (set(), set(), set()))
        own.add(measurement_id)
        others.add(other_id)
        kpis.add(other_kpi_id)
    return [
        AnomalyFlag(
            FLAG_SHARED_EVIDENCE,
            kpi.kpi_id,
            (*sorted(own), *sorted(others - own)),
            {"sha256": sha256, "other_kpi_ids": sorted(kpis)},
        )
        for sha256, (own, others, kpis) in sorted(by_hash.items())
    ]


def anomaly_flags(kpi: KpiSpec, series: KpiSeries, *, cutoff: datetime) -> list[AnomalyFlag]:
    """The anomaly flags of one KPI at a gate with window end ``cutoff`` (§22).

    - ``late_decisive``: measurements entered (``created_at``) in the 7 days up to the
      cutoff that decide the KPI's ``met``: it is met with them and would not be without
      them (entries after the cutoff are not in those 7 days);
    - ``at_target``: the value that decides the KPI (its aggregate) is exactly the target;
      the flag names the measurements that make that value (a counted value at target that
      the aggregate does not take, e.g. an earlier one under ``latest``, is no flag);
    - ``jump``: a counted value more than 3 MADs from the median of the values before it
      in the series (``_jumps``: at least ``JUMP_MIN_SERIES`` earlier values; a MAD of 0);
    - ``reentered_after_rejection``: a counted value equal to a rejected measurement's
      value of the same KPI, entered after that rejection;
    - ``shared_evidence``: an evidence file of a counted measurement that a measurement of
      another KPI carries too.

    Listed in ``FLAG_KINDS`` order; none when nothing counts.
    """
    _aware(cutoff, "cutoff")
    if not (len(series.ids) == len(series.values) == len(series.created_at)):
        raise ValueError("ids, values and created_at must be parallel")
    if series.units is not None and len(series.units[0]) != len(series.ids):
        raise ValueError("units must be parallel to the values")
    if not series.ids:
        return []
    value = (
        _aggregate_series(kpi.aggregation, series.values)
        if series.units is None
        else _aggregate_units(kpi.aggregation, *series.units)
    )
    assert value is not None
    flags: list[AnomalyFlag] = []
    late = _late_decisive(kpi, series, value, cutoff)
    if late is not None:
        flags.append(late)
    if value == kpi.target:
        flags.append(
            AnomalyFlag(
                FLAG_AT_TARGET,
                kpi.kpi_id,
                _deciding(kpi, series, value),
                {"value": str(value), "target": str(kpi.target)},
            )
        )
    flags.extend(_jumps(kpi, series))
    if series.rejected:
        flags.extend(_reentered(kpi, series))
    if series.shared:
        flags.extend(_shared(kpi, series))
    return flags
