"""Values given as integer units of a decimal place (``KpiSeries.units``, ``ScaledValues``):
the anomaly flags, the aggregates and the gate's result are those of the same values given
as decimals, digit for digit."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Context, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projects.rules import gates as rules
from projects.rules.gates import (
    AGGREGATIONS,
    DIRECTIONS,
    GATE_TIMEZONE,
    GatePolicy,
    KpiSeries,
    KpiSpec,
    ScaledValues,
    anomaly_flags,
    mean,
    mean_of_units,
    unit_decimal,
    units_of,
)
from projects.rules.gates import _aggregate_series as _aggregate_series
from projects.rules.gates import _aggregate_units as _aggregate_units
from projects.services import gates as service

CUTOFF = datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=GATE_TIMEZONE)
START = datetime(2026, 1, 5, tzinfo=GATE_TIMEZONE)
LONG_AGO = datetime(2026, 3, 1, tzinfo=GATE_TIMEZONE)

# Units as a database column holds them, and beyond: a few values, so that equal ones (ties
# of max and min, values re-entered after a rejection) are common; any bigint; and values
# whose sum does not fit 28 digits (the rule's sum and mean then round, and the units path
# must round the same way).
_units = st.one_of(
    st.integers(-3, 3).map(lambda u: u * 10**6),
    st.integers(-(10**7), 10**7),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(10**29), 10**29),
)
_places = st.sampled_from([0, 2, 6])


def _decimals(units: list[int], places: int) -> list[Decimal]:
    """The values as a database column of scale ``places`` would give them (its text)."""
    return [Decimal(str(unit_decimal(unit, places))) for unit in units]


@settings(database=None, max_examples=300, deadline=None)
@given(unit=_units, places=_places)
def test_a_unit_is_made_the_stored_decimal_digits_and_exponent(unit, places):
    made = unit_decimal(unit, places)
    assert made.as_tuple().exponent == -places
    assert Fraction(made) == Fraction(unit, 10**places)
    if abs(unit) < 10**27:  # what the default context's ``scaleb`` makes without rounding
        assert made.as_tuple() == Decimal(unit).scaleb(-places).as_tuple()
    assert units_of(made, places) == unit
    assert Decimal(str(made)).as_tuple() == made.as_tuple()


def test_units_of_a_value_with_a_finer_digit_are_none():
    assert units_of(Decimal("1.2345675"), 6) is None
    assert units_of(Decimal("1.2E+3"), 2) == 120000
    assert units_of(Decimal("-0.50"), 6) == -500000


@settings(database=None, max_examples=500, deadline=None)
@given(units=st.lists(_units, max_size=30), places=_places)
def test_each_aggregate_of_units_is_the_aggregate_of_the_decimals(units, places):
    values = _decimals(units, places)
    for aggregation in AGGREGATIONS:
        expected = _aggregate_series(aggregation, values)
        found = _aggregate_units(aggregation, units, places)
        if expected is None:
            assert found is None
        else:
            assert found is not None
            assert found.as_tuple() == expected.as_tuple(), aggregation
    if units:
        assert mean_of_units(units, places).as_tuple() == mean(values).as_tuple()


def test_a_sum_too_long_for_28_digits_is_rounded_as_the_decimals_are():
    # Ten values of 10²⁷ units and one unit: the exact sum has 29 digits, the rule's 28.
    units = [10**27] * 10 + [1]
    values = _decimals(units, 6)
    assert _aggregate_units("sum", units, 6) == _aggregate_series("sum", values)
    assert _aggregate_units("sum", units, 6) != unit_decimal(sum(units), 6)
    assert mean_of_units(units, 6).as_tuple() == mean(values).as_tuple()


def test_scaled_values_read_as_decimals():
    values = ScaledValues([1500000, -3, 0], 6)
    assert len(values) == 3
    assert [str(v) for v in values] == ["1.500000", "-0.000003", "0.000000"]
    assert values[-1].as_tuple() == Decimal("0.000000").as_tuple()
    assert values[1:] == [Decimal("-0.000003"), Decimal("0")]
    assert Decimal("1.5") in values
    with pytest.raises(ValueError, match="places"):
        ScaledValues([1], -1)


# When a measurement may have been entered or rejected: long before, around the start of
# the late week, at and after the cutoff; ``None`` is "long before".
_instants = st.sampled_from(
    [
        LONG_AGO,
        CUTOFF - timedelta(days=7),
        CUTOFF - timedelta(days=7, microseconds=1),
        CUTOFF - timedelta(days=3),
        CUTOFF,
        CUTOFF + timedelta(microseconds=1),
        datetime(2026, 5, 1, tzinfo=GATE_TIMEZONE),
        datetime(2026, 5, 1, 0, 0, 1, tzinfo=GATE_TIMEZONE),
    ]
)


@st.composite
def _kpis_and_series(draw: st.DrawFn) -> tuple[KpiSpec, list[int], int, KpiSeries]:
    """A KPI and its series given as decimals; the test gives it as units too."""
    places = draw(_places)
    units = draw(st.lists(_units, max_size=25))
    values = _decimals(units, places)
    count = len(units)
    ids = draw(st.permutations(range(101, 101 + count)))
    entered = draw(
        st.one_of(
            st.just([None] * count),
            st.lists(st.none() | _instants, min_size=count, max_size=count),
        )
    )
    # Rejected values and targets: counted values (written alike, or normalised), values
    # with a digit finer than the column's (equal to no counted one), and others.
    variants = [*values, *(v.normalize() for v in values)]
    finer = [v + Decimal(1).scaleb(-places - 1) for v in values[:3]]
    others = [Decimal("18"), Decimal("-2.5"), Decimal("0")]
    candidates = st.sampled_from([*variants, *finer, *others])
    rejected = draw(
        st.lists(
            st.tuples(st.integers(1, 99), candidates, _instants),
            max_size=4,
            unique_by=lambda r: r[0],
        )
    )
    baseline = draw(st.sampled_from([Decimal(0), Decimal("-5.5"), Decimal(10)]))
    target = draw(candidates)
    if target == baseline:
        target = baseline + 1
    spec = KpiSpec(
        kpi_id=1,
        code="K",
        direction=draw(st.sampled_from(DIRECTIONS)),
        baseline=baseline,
        target=target,
        weight=Decimal(1),
        mandatory=True,
        aggregation=draw(st.sampled_from(AGGREGATIONS)),
    )
    found = KpiSeries(ids=ids, values=values, created_at=entered, rejected=tuple(rejected))
    return spec, units, places, found


@settings(database=None, max_examples=600, deadline=None)
@given(case=_kpis_and_series())
def test_the_flags_of_units_are_those_of_the_decimals(case):
    spec, units, places, found = case
    scaled = KpiSeries(
        ids=found.ids,
        values=ScaledValues(units, places),
        created_at=found.created_at,
        rejected=found.rejected,
        units=(units, places),
    )
    expected = anomaly_flags(spec, found, cutoff=CUTOFF)
    # ``repr`` of the dicts: the same keys in the same order, the same text of each value.
    assert repr([f.as_dict() for f in anomaly_flags(spec, scaled, cutoff=CUTOFF)]) == repr(
        [f.as_dict() for f in expected]
    )


def test_units_must_be_parallel_to_the_values():
    spec = KpiSpec(
        kpi_id=1,
        code="K",
        direction="higher_is_better",
        baseline=Decimal(0),
        target=Decimal(1),
        weight=Decimal(1),
        mandatory=True,
        aggregation="latest",
    )
    found = KpiSeries(ids=[1], values=[Decimal(1)], created_at=[None], units=([1, 2], 0))
    with pytest.raises(ValueError, match="parallel"):
        anomaly_flags(spec, found, cutoff=CUTOFF)


# --------------------------------------------------------------------------- the gate


_stored_units = st.one_of(
    st.integers(-3, 3).map(lambda u: u * 10**6),
    st.integers(-(10**8), 10**8),
    st.integers(-(2**63), 2**63 - 1),
)


@st.composite
def _stage(draw: st.DrawFn) -> tuple[list[KpiSpec], dict[int, list[int]]]:
    """A stage of KPIs of every aggregation and direction, with their counted values as a
    ``numeric(20, 6)`` column's units (what fits a bigint)."""
    kpis = []
    counted: dict[int, list[int]] = {}
    for kpi_id, aggregation in enumerate(AGGREGATIONS, start=1):
        units = draw(st.lists(_stored_units, max_size=12))
        if units:
            counted[kpi_id] = units
        baseline = unit_decimal(draw(_stored_units), 6)
        target = unit_decimal(draw(_stored_units), 6)
        if target == baseline:
            target += 1
        kpis.append(
            KpiSpec(
                kpi_id=kpi_id,
                code=f"K{kpi_id}",
                direction=draw(st.sampled_from(DIRECTIONS)),
                baseline=baseline,
                target=target,
                weight=Decimal(draw(st.integers(1, 5))),
                mandatory=draw(st.booleans()),
                aggregation=aggregation,
            )
        )
    return kpis, counted


def _aggregate(units: list[int], *, as_units: bool) -> service._Aggregate:
    return service._Aggregate(
        latest_id=len(units),
        latest_us=1_780_000_000_000_000 + len(units),
        units=units if as_units else None,
        values=None if as_units else _decimals(units, 6),
        ids_json="[]",
        values_json="[]",
        measured_at_us_json="[]",
    )


@settings(database=None, max_examples=300, deadline=None)
@given(stage=_stage())
def test_the_gate_result_from_units_is_the_one_from_decimals(stage):
    kpis, counted = stage
    policy = GatePolicy.defaults()
    results = [
        service._rule_result(
            kpis,
            {kpi_id: _aggregate(units, as_units=as_units) for kpi_id, units in counted.items()},
            START,
            CUTOFF,
            policy,
        )
        for as_units in (True, False)
    ]
    assert repr(results[0]) == repr(results[1])
    # ``repr`` shows each decimal's digits: the values are the stored ones, unchanged.
    for kpi_result in results[0].kpis:
        if kpi_result.value is not None and kpi_result.kpi_id in counted:
            spec = kpis[kpi_result.kpi_id - 1]
            if spec.aggregation in (rules.LATEST, rules.MAX, rules.MIN, rules.SUM):
                assert kpi_result.value.as_tuple().exponent == -6


# A thread's decimal context the rule must not depend on: 3 digits, rounded down.
_HOSTILE = Context(prec=3, rounding=ROUND_DOWN)


@settings(database=None, max_examples=300, deadline=None)
@given(case=_kpis_and_series())
def test_the_flags_do_not_depend_on_the_threads_decimal_context(case):
    """Every rounding in the rule is named where it happens (§8): the flags and their
    details are the same under a thread context of 3 digits rounded down."""
    spec, _units, _places, found = case
    expected = repr([f.as_dict() for f in anomaly_flags(spec, found, cutoff=CUTOFF)])
    with localcontext(_HOSTILE):
        got = repr([f.as_dict() for f in anomaly_flags(spec, found, cutoff=CUTOFF)])
    assert got == expected


@settings(database=None, max_examples=300, deadline=None)
@given(stage=_stage(), as_units=st.booleans())
def test_the_gate_result_does_not_depend_on_the_threads_decimal_context(stage, as_units):
    """The score, achievements and aggregates are the same under a thread context of 3
    digits rounded down (§8: 4 decimals, half up, on the exact value)."""
    kpis, counted = stage
    aggregates = {kpi_id: _aggregate(units, as_units=as_units) for kpi_id, units in counted.items()}
    policy = GatePolicy.defaults()
    expected = repr(service._rule_result(kpis, aggregates, START, CUTOFF, policy))
    with localcontext(_HOSTILE):
        got = repr(service._rule_result(kpis, aggregates, START, CUTOFF, policy))
    assert got == expected
