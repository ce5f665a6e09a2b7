"""Anomaly flags of a gate (§22): each fires on a minimal example and not on a near miss."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projects.rules.gates import (
    FLAG_AT_TARGET,
    FLAG_JUMP,
    FLAG_LATE_DECISIVE,
    FLAG_REENTERED,
    FLAG_SHARED_EVIDENCE,
    GATE_TIMEZONE,
    JUMP_MADS,
    JUMP_MIN_SERIES,
    AnomalyFlag,
    KpiSeries,
    KpiSpec,
    anomaly_flags,
    values_among,
)
from projects.rules.gates import _kth_deviation as _kth_deviation
from projects.rules.gates import _scaled as _scaled

CUTOFF = datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=GATE_TIMEZONE)
LONG_AGO = datetime(2026, 3, 1, tzinfo=GATE_TIMEZONE)


def kpi(aggregation: str = "latest", direction: str = "higher_is_better") -> KpiSpec:
    lower = direction == "lower_is_better"
    return KpiSpec(
        kpi_id=1,
        code="K",
        direction=direction,
        baseline=Decimal(20 if lower else 10),
        target=Decimal(10 if lower else 20),
        weight=Decimal(1),
        mandatory=True,
        aggregation=aggregation,
    )


def series(
    *values: str,
    entered: Sequence[datetime | None] | None = None,
    rejected: tuple[tuple[int, Decimal, datetime], ...] = (),
    shared: tuple[tuple[int, str, int, int], ...] = (),
) -> KpiSeries:
    ids = list(range(101, 101 + len(values)))
    return KpiSeries(
        ids=ids,
        values=[Decimal(v) for v in values],
        created_at=entered if entered is not None else [LONG_AGO] * len(values),
        rejected=rejected,
        shared=shared,
    )


def kinds(flags: list[AnomalyFlag]) -> list[str]:
    return [flag.kind for flag in flags]


LATE = CUTOFF - timedelta(days=6, hours=23)
NOT_LATE = CUTOFF - timedelta(days=7, microseconds=1)
AFTER = CUTOFF + timedelta(microseconds=1)


# --------------------------------------------------------------------------- late_decisive


@pytest.mark.parametrize(
    ("aggregation", "values", "entered", "fires"),
    [
        # The late value makes the KPI met: flagged.
        ("latest", ("12", "25"), [LONG_AGO, LATE], True),
        # Seven days before the cutoff to the microsecond is still late.
        ("latest", ("12", "25"), [LONG_AGO, CUTOFF - timedelta(days=7)], True),
        # A microsecond earlier is not.
        ("latest", ("12", "25"), [LONG_AGO, NOT_LATE], False),
        # Entered after the cutoff: not in the 7 days before it.
        ("latest", ("12", "25"), [LONG_AGO, AFTER], False),
        # Met without the late value too: it decides nothing.
        ("max", ("25", "22"), [LONG_AGO, LATE], False),
        # Late, but the KPI is not met with it either.
        ("latest", ("12", "15"), [LONG_AGO, LATE], False),
        # A sum that reaches the target only with the late value.
        ("sum", ("12", "9"), [LONG_AGO, LATE], True),
        # The late value is the only one: without it the KPI is missing.
        ("mean", ("25",), [LATE], True),
    ],
)
def test_late_decisive(aggregation, values, entered, fires):
    flags = anomaly_flags(kpi(aggregation), series(*values, entered=entered), cutoff=CUTOFF)
    assert (FLAG_LATE_DECISIVE in kinds(flags)) is fires
    if fires:
        late = next(f for f in flags if f.kind == FLAG_LATE_DECISIVE)
        assert late.measurement_ids == (100 + len(values),)
        assert late.detail["entered_since"] == (CUTOFF - timedelta(days=7)).isoformat()


def test_late_decisive_says_what_the_kpi_would_be_without():
    flags = anomaly_flags(kpi(), series("12", "25", entered=[LONG_AGO, LATE]), cutoff=CUTOFF)
    assert flags[0].detail == {
        "entered_since": (CUTOFF - timedelta(days=7)).isoformat(),
        "value": "25",
        "value_without": "12",
    }


# --------------------------------------------------------------------------- at_target


@pytest.mark.parametrize(
    ("aggregation", "direction", "values", "ids"),
    [
        ("latest", "higher_is_better", ("15", "20"), (102,)),
        ("latest", "higher_is_better", ("15", "20.000001"), None),  # a near miss
        ("latest", "higher_is_better", ("20", "21"), None),  # an earlier value at target
        ("max", "higher_is_better", ("20", "18", "20"), (101, 103)),
        ("min", "lower_is_better", ("12", "10"), (102,)),
        ("min", "lower_is_better", ("12", "9.999999"), None),
        ("sum", "higher_is_better", ("12", "8"), (101, 102)),
        ("mean", "higher_is_better", ("19", "21"), (101, 102)),
        ("mean", "higher_is_better", ("19", "21.1"), None),
    ],
)
def test_at_target_is_the_value_that_decides_the_kpi(aggregation, direction, values, ids):
    flags = anomaly_flags(kpi(aggregation, direction), series(*values), cutoff=CUTOFF)
    found = [f for f in flags if f.kind == FLAG_AT_TARGET]
    if ids is None:
        assert found == []
    else:
        assert [f.measurement_ids for f in found] == [ids]


# --------------------------------------------------------------------------- jump


@pytest.mark.parametrize(
    ("values", "jumped"),
    [
        # Earlier 10, 11, 12, 13, 14: median 12, MAD 1. 15.1 is 3.1 MADs away.
        (("10", "11", "12", "13", "14", "15.1"), [106]),
        # Exactly 3 MADs is no jump.
        (("10", "11", "12", "13", "14", "15"), []),
        # Below the series as well.
        (("10", "11", "12", "13", "14", "8.9"), [106]),
        # Five values are not compared with anything: the series is too short.
        (("10", "11", "12", "13", "100"), []),
        # MAD 0 (at least half the earlier values equal): the mean absolute deviation from
        # the median stands in: earlier 5, 5, 5, 6, 9: median 5, mean deviation 1.
        (("5", "5", "5", "6", "9", "8.1"), [106]),
        (("5", "5", "5", "6", "9", "8"), []),
        # Every earlier value the same: any other value jumps, the same one does not.
        (("7", "7", "7", "7", "7", "7.000001"), [106]),
        (("7", "7", "7", "7", "7", "7", "7"), []),
        # A steady rise is no jump, however long.
        (tuple(str(v) for v in range(1, 30)), []),
    ],
)
def test_jump(values, jumped):
    flags = anomaly_flags(kpi("sum"), series(*values), cutoff=CUTOFF)
    assert [f.measurement_ids[0] for f in flags if f.kind == FLAG_JUMP] == jumped


def test_a_jump_names_the_median_and_the_mad_of_the_earlier_series():
    (flag,) = [
        f
        for f in anomaly_flags(
            kpi("sum"), series("10", "11", "12", "13", "14", "15.1"), cutoff=CUTOFF
        )
        if f.kind == FLAG_JUMP
    ]
    assert flag.detail == {"value": "15.1", "median": "12.0", "mad": "1.0", "earlier": 5}
    assert JUMP_MIN_SERIES == 5


def _reference_jumps(values: Sequence[Decimal]) -> list[tuple[int, dict[str, object]]]:
    """The jump rule written the plain way, to hold the incremental one to: for each value
    after the first ``JUMP_MIN_SERIES``, sort the earlier values, take their median, sort
    their absolute deviations from it, take the median of those (the MAD), and compare.
    Exact rationals; the detail is written as the rule writes it, with the values' own
    decimal places. Answers ``(index, detail)`` of each jump."""
    places = max(0, *(-v.as_tuple().exponent for v in values))  # type: ignore[operator]

    def shown(value: Fraction) -> str:
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        quantized = exact.quantize(Decimal(1).scaleb(-places))
        return str(quantized if quantized == exact else exact.normalize())

    def median(ordered: list[Fraction]) -> Fraction:
        n = len(ordered)
        return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2

    jumps = []
    for index in range(JUMP_MIN_SERIES, len(values)):
        earlier = sorted(Fraction(v) for v in values[:index])
        middle = median(earlier)
        mad = median(sorted(abs(v - middle) for v in earlier))
        deviation = abs(Fraction(values[index]) - middle)
        detail: dict[str, object] = {"value": str(values[index]), "median": shown(middle)}
        if mad:
            jumped = deviation > JUMP_MADS * mad
            detail["mad"] = shown(mad)
        else:
            spread = sum((abs(v - middle) for v in earlier), Fraction(0)) / len(earlier)
            jumped = deviation > JUMP_MADS * spread
            detail["mad"] = "0"
            with localcontext() as context:
                context.prec = 28
                mean_deviation = Decimal(spread.numerator) / Decimal(spread.denominator)
            quantized = mean_deviation.quantize(Decimal(1).scaleb(-places))
            detail["mean_deviation"] = str(
                quantized if quantized == mean_deviation else mean_deviation.normalize()
            )
        detail["earlier"] = len(earlier)
        if jumped:
            jumps.append((index, detail))
    return jumps


# Values with many ties (MAD 0, equal medians) as well as spread ones, at mixed decimal
# places, negative and positive.
_series_values = st.lists(
    st.one_of(
        st.integers(-3, 3).map(Decimal),
        st.integers(-(10**9), 10**9).map(lambda u: Decimal(u).scaleb(-6)),
        st.decimals(min_value=-100, max_value=100, places=2, allow_nan=False),
        # Written in exponent notation, and zeros of several places.
        st.sampled_from(
            [Decimal("1E+2"), Decimal("-2E+1"), Decimal("5E+3"), Decimal("0E-3"), Decimal("-0.0")]
        ),
    ),
    min_size=0,
    max_size=40,
)


@settings(database=None, max_examples=400, deadline=None)
@given(values=_series_values)
def test_the_incremental_jump_check_flags_what_the_plain_one_flags(values):
    flags = anomaly_flags(kpi("sum"), series(*(str(v) for v in values)), cutoff=CUTOFF)
    jumps = [(f.measurement_ids[0] - 101, f.detail) for f in flags if f.kind == FLAG_JUMP]
    assert jumps == (_reference_jumps(values) if values else [])


@settings(database=None, max_examples=400, deadline=None)
@given(
    values=st.lists(st.integers(-6, 6), min_size=1, max_size=30),
    centre=st.integers(-14, 14),
    data=st.data(),
)
def test_the_kth_deviation_is_the_kth_of_the_sorted_deviations(values, centre, data):
    ordered = sorted(values)
    k = data.draw(st.integers(0, len(ordered) - 1))
    deviations = sorted(abs(2 * u - centre) for u in ordered)
    assert _kth_deviation(ordered, centre, k) == deviations[k]


# --------------------------------------------------------------------------- re-entered


REJECTED_AT = datetime(2026, 5, 1, tzinfo=GATE_TIMEZONE)


@pytest.mark.parametrize(
    ("value", "entered", "fires"),
    [
        ("18", REJECTED_AT + timedelta(seconds=1), True),
        ("18", REJECTED_AT - timedelta(seconds=1), False),  # entered before the rejection
        ("18.000001", REJECTED_AT + timedelta(seconds=1), False),  # another value
        ("18.000", REJECTED_AT + timedelta(seconds=1), True),  # the same number
    ],
)
def test_reentered_after_rejection(value, entered, fires):
    flags = anomaly_flags(
        kpi(),
        series(value, entered=[entered], rejected=((90, Decimal("18"), REJECTED_AT),)),
        cutoff=CUTOFF,
    )
    found = [f for f in flags if f.kind == FLAG_REENTERED]
    assert [f.measurement_ids for f in found] == ([(90, 101)] if fires else [])


# --------------------------------------------------------------------------- shared evidence


def test_shared_evidence_between_kpis():
    sha = "ab" * 32
    flags = anomaly_flags(
        kpi(), series("15", "16", shared=((102, sha, 205, 2), (102, sha, 206, 3))), cutoff=CUTOFF
    )
    assert [f.as_dict() for f in flags] == [
        {
            "kind": FLAG_SHARED_EVIDENCE,
            "kpi_id": 1,
            "measurement_ids": [102, 205, 206],
            "detail": {"sha256": sha, "other_kpi_ids": [2, 3]},
        }
    ]


@pytest.mark.parametrize(
    "shared",
    [
        ((102, "ab" * 32, 205, 1),),  # the same KPI's other measurement: no flag
        ((999, "ab" * 32, 205, 2),),  # a measurement the gate did not count
        (),
    ],
)
def test_shared_evidence_near_misses(shared):
    assert anomaly_flags(kpi(), series("15", "16", shared=shared), cutoff=CUTOFF) == []


# --------------------------------------------------------------------------- together


def test_nothing_counted_flags_nothing():
    assert anomaly_flags(kpi(), series(), cutoff=CUTOFF) == []


def test_flags_come_in_the_order_of_their_kinds():
    flags = anomaly_flags(
        kpi(),
        series(
            "1",
            "1",
            "1",
            "1",
            "1",
            "20",
            entered=[LONG_AGO] * 5 + [LATE],
            rejected=((90, Decimal("20"), REJECTED_AT),),
            shared=((106, "cd" * 32, 300, 2),),
        ),
        cutoff=CUTOFF,
    )
    assert kinds(flags) == [
        FLAG_LATE_DECISIVE,
        FLAG_AT_TARGET,
        FLAG_JUMP,
        FLAG_REENTERED,
        FLAG_SHARED_EVIDENCE,
    ]


def test_the_cutoff_must_be_aware():
    with pytest.raises(ValueError, match="cutoff"):
        anomaly_flags(kpi(), series("15"), cutoff=datetime(2026, 6, 30))  # noqa: DTZ001


# --------------------------------------------------------------------------- against a reference


def _reference_aggregate(aggregation: str, values: Sequence[Decimal]) -> Decimal | None:
    if not values:
        return None
    if aggregation == "latest":
        return values[-1]
    if aggregation == "max":
        return max(values)
    if aggregation == "min":
        return min(values)
    with localcontext() as context:
        context.prec = 28
        context.rounding = ROUND_HALF_EVEN
        total = Decimal(0)
        for value in values:
            total += value
        return total if aggregation == "sum" else total / Decimal(len(values))


def _reference_met(spec: KpiSpec, value: Decimal | None) -> bool:
    if value is None:
        return False
    if spec.direction == "higher_is_better":
        exact = (Fraction(value) - Fraction(spec.baseline)) / (
            Fraction(spec.target) - Fraction(spec.baseline)
        )
    else:
        exact = (Fraction(spec.baseline) - Fraction(value)) / (
            Fraction(spec.baseline) - Fraction(spec.target)
        )
    clamped = min(max(exact, Fraction(0)), Fraction(3, 2))
    return math.floor(clamped * 10_000 + Fraction(1, 2)) >= 10_000


def _reference_flags(spec: KpiSpec, found: KpiSeries, cutoff: datetime) -> list[AnomalyFlag]:
    """Every flag of ``anomaly_flags`` written the plain way: nothing skipped early, the
    rejected measurements sorted for each counted one, jumps by ``_reference_jumps``."""
    ids, values, entered = list(found.ids), list(found.values), list(found.created_at)
    if not ids:
        return []
    value = _reference_aggregate(spec.aggregation, values)
    flags = []
    since = cutoff - timedelta(days=7)
    late = sorted(
        i for i, at in zip(ids, entered, strict=True) if at is not None and since <= at <= cutoff
    )
    if late and _reference_met(spec, value):
        without = _reference_aggregate(
            spec.aggregation, [v for i, v in zip(ids, values, strict=True) if i not in late]
        )
        if not _reference_met(spec, without):
            detail: dict[str, object] = {
                "entered_since": since.isoformat(),
                "value": str(value),
                "value_without": None if without is None else str(without),
            }
            flags.append(AnomalyFlag(FLAG_LATE_DECISIVE, spec.kpi_id, tuple(late), detail))
    if value == spec.target:
        deciding: tuple[int, ...]
        if spec.aggregation == "latest":
            deciding = (ids[-1],)
        elif spec.aggregation in ("max", "min"):
            deciding = tuple(sorted(i for i, v in zip(ids, values, strict=True) if v == value))
        else:
            deciding = tuple(sorted(ids))
        detail = {"value": str(value), "target": str(spec.target)}
        flags.append(AnomalyFlag(FLAG_AT_TARGET, spec.kpi_id, deciding, detail))
    for index, detail in _reference_jumps(values):
        flags.append(AnomalyFlag(FLAG_JUMP, spec.kpi_id, (ids[index],), detail))
    for measurement_id, counted, at in zip(ids, values, entered, strict=True):
        for rejected_id, rejected_value, rejected_at in sorted(found.rejected):
            if counted == rejected_value and at is not None and at > rejected_at:
                detail = {"value": str(counted), "rejected_at": rejected_at.isoformat()}
                flags.append(
                    AnomalyFlag(FLAG_REENTERED, spec.kpi_id, (rejected_id, measurement_id), detail)
                )
                break
    for sha256 in sorted({sha for _m, sha, _o, _k in found.shared}):
        rows = [
            (m, o, k)
            for m, sha, o, k in found.shared
            if sha == sha256 and m in ids and k != spec.kpi_id
        ]
        if rows:
            own = sorted({m for m, _o, _k in rows})
            others = sorted({o for _m, o, _k in rows} - set(own))
            detail = {"sha256": sha256, "other_kpi_ids": sorted({k for _m, _o, k in rows})}
            flags.append(AnomalyFlag(FLAG_SHARED_EVIDENCE, spec.kpi_id, (*own, *others), detail))
    return flags


# When a measurement may have been entered or rejected: long before, around the start of
# the late week, around a rejection, at and after the cutoff; ``None`` is "long before".
_instants = st.sampled_from(
    [
        LONG_AGO,
        CUTOFF - timedelta(days=7),
        NOT_LATE,
        LATE,
        CUTOFF,
        AFTER,
        datetime(2026, 5, 1, tzinfo=GATE_TIMEZONE),
        datetime(2026, 5, 1, 0, 0, 1, tzinfo=GATE_TIMEZONE),
    ]
)
_moments = st.none() | _instants


@st.composite
def _kpis_and_series(draw: st.DrawFn) -> tuple[KpiSpec, KpiSeries]:
    values = draw(_series_values)
    # The counted values at other places too: a rejected value or a target equal to a
    # counted one need not be written alike.
    variants = [v.quantize(Decimal("0.000001")) for v in values if abs(v) < 10**6] + values
    count = len(values)
    ids = draw(st.permutations(range(101, 101 + count)))
    entered = draw(
        st.one_of(
            st.just([None] * count),
            st.lists(_moments, min_size=count, max_size=count),
        )
    )
    rejected_value = (
        st.sampled_from(variants) | _series_values.map(lambda v: v[0] if v else Decimal(0))
        if variants
        else st.just(Decimal("18"))
    )
    rejected = draw(
        st.lists(
            st.tuples(st.integers(1, 99), rejected_value, _instants),
            max_size=4,
            unique_by=lambda r: r[0],
        )
    )
    shared = draw(
        st.lists(
            st.tuples(
                st.sampled_from([*ids, 999]),
                st.sampled_from(["ab" * 32, "cd" * 32]),
                st.integers(200, 203),
                st.integers(1, 3),
            ),
            max_size=5,
        )
    )
    baseline = draw(st.sampled_from([Decimal(0), Decimal("-5.5"), Decimal(10)]))
    target = draw(st.sampled_from(variants) if variants else st.just(Decimal(20)))
    if target == baseline:
        target = baseline + 1
    spec = KpiSpec(
        kpi_id=1,
        code="K",
        direction=draw(st.sampled_from(["higher_is_better", "lower_is_better"])),
        baseline=baseline,
        target=target,
        weight=Decimal(1),
        mandatory=True,
        aggregation=draw(st.sampled_from(["latest", "max", "min", "sum", "mean"])),
    )
    found = KpiSeries(
        ids=ids,
        values=values,
        created_at=entered,
        rejected=tuple(rejected),
        shared=tuple(shared),
    )
    return spec, found


@settings(database=None, max_examples=400, deadline=None)
@given(case=_kpis_and_series())
def test_the_flags_are_those_of_the_plain_reference(case):
    spec, found = case
    flags = anomaly_flags(spec, found, cutoff=CUTOFF)
    # ``repr`` of the dicts: the same keys in the same order, the same text of each value.
    assert repr([f.as_dict() for f in flags]) == repr(
        [f.as_dict() for f in _reference_flags(spec, found, CUTOFF)]
    )


def _reference_scaled(values: Sequence[Decimal]) -> tuple[list[int], int]:
    places = max([0, *(-v.as_tuple().exponent for v in values)])  # type: ignore[operator]
    return [int(v.scaleb(places)) for v in values], places


@pytest.mark.parametrize(
    "values",
    [
        ("12.340000", "-0.500000", "0.000000"),  # one scale: read off the text
        ("12.34", "5.1"),  # mixed places
        ("12", "1.5"),  # the first without a point
        ("1.5", "12"),  # a later one without a point
        ("1.00000", "1.23E+5"),  # exponent notation with its point where the others have it
        ("1E+2", "-2E+1", "3.5"),
        ("1E-7", "0.5"),
        ("-0.0", "0E-3"),
        (),
    ],
)
def test_scaled_reads_every_notation(values):
    decimals = [Decimal(v) for v in values]
    assert _scaled(decimals) == _reference_scaled(decimals)


@settings(database=None, max_examples=400, deadline=None)
@given(values=_series_values)
def test_scaled_is_the_values_at_their_finest_place(values):
    assert _scaled(values) == _reference_scaled(values)


_few_decimals = st.lists(
    st.decimals(min_value=-5, max_value=5, places=2, allow_nan=False, allow_infinity=False)
    | st.sampled_from(
        [Decimal("1"), Decimal("1.0"), Decimal("1.00"), Decimal("-0"), Decimal("0E-3")]
    ),
    max_size=30,
)


@settings(database=None, max_examples=300, deadline=None)
@given(candidates=_few_decimals, values=_few_decimals)
def test_values_among_matches_as_a_set_would(candidates, values):
    """Compared or hashed (beyond ``_COMPARED_AT_MOST`` pairs), the candidates found are
    those a set of the values holds: equal decimals of other notations included."""
    among = set(values)
    assert values_among(candidates, values) == [c for c in candidates if c in among]


def test_values_among_compares_few_and_hashes_many():
    counted = [Decimal(f"{n}.00") for n in range(30)]
    assert values_among([Decimal("3"), Decimal("99")], counted) == [Decimal("3")]
    many = [Decimal(n) for n in range(20)]  # 20 × 30 pairs: hashed
    assert values_among(many, counted) == many
