"""The gate batch reads values as bigint units of the column's scale (§8, §19); a value too
large for a bigint is read as the stored decimal, and the gate's result and flags are the
same as the rule's on the decimals."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest

from projects.models import KPI, Gate, Measurement, MeasurementSource
from projects.rules import gates as rules
from projects.rules.gates import GATE_TIMEZONE, gate_cutoff, stage_window_start
from projects.services import gates
from projects.services.gates import gate_evaluate
from tests.factories import CallFactory, running_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

AS_OF = date(2026, 7, 1)
STARTED = date(2026, 1, 5)
GATE_DAY = date(2026, 6, 30)
LONG_AGO = datetime(2026, 3, 1, 12, tzinfo=GATE_TIMEZONE)
REJECTED_AT = datetime(2026, 5, 1, 12, tzinfo=GATE_TIMEZONE)
# The largest value whose millionths a bigint holds for certain, and the first that is read
# as a decimal.
FITS = "9223372036853.999999"
TOO_LARGE = "9223372036854"
LARGEST = "99999999999999.999999"


def tokyo(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=GATE_TIMEZONE)


def _measure(kpi: KPI, value: str, day: int, *, entered: datetime = LONG_AGO) -> Measurement:
    return Measurement.objects.create(
        project=kpi.project,
        kpi=kpi,
        value=Decimal(value),
        measured_at=tokyo(date(2026, 4, day)),
        source=MeasurementSource.BROWSER,
        created_at=entered,
    )


def _reject(measurement: Measurement) -> None:
    Measurement.objects.filter(pk=measurement.pk).update(
        rejected_at=REJECTED_AT, rejection_reason="wrong instrument"
    )


@pytest.fixture
def world():
    """KPIs of every aggregation with values too large for bigint units among theirs, and
    rejected values (one too large) re-entered after their rejection."""
    project = running_project(
        call=CallFactory.create(auto_release_on_pass=True),
        kpis=[
            {"code": "A", "aggregation": "max"},
            {"code": "B", "aggregation": "sum"},
            {"code": "C", "aggregation": "latest"},
            {"code": "D", "aggregation": "mean"},
            {"code": "E", "aggregation": "min"},
        ],
    )
    a, b, c, d, e = project.kpis.filter(stage__number=1).order_by("code")
    for day, value in enumerate(["1", "12345678901234.5", "-5"], start=1):
        _measure(a, value, day)
    _measure(b, FITS, 1)
    _measure(b, TOO_LARGE, 2)
    # C: counted values that fit, rejected ones of which one does not; "8" re-entered.
    _measure(c, "7", 1)
    _reject(_measure(c, "8", 2))
    _reject(_measure(c, LARGEST, 3))
    _measure(c, "8", 4, entered=REJECTED_AT + timedelta(days=1))
    # D: counted values too large, the largest rejected and re-entered; measured out of id
    # order, so the series is reordered.
    _measure(d, f"-{LARGEST}", 5)
    _measure(d, "3", 1)
    _reject(_measure(d, LARGEST, 2))
    _measure(d, LARGEST, 3, entered=REJECTED_AT + timedelta(days=1))
    # E: only values that fit, around the bound.
    _measure(e, FITS, 1)
    _measure(e, f"-{FITS}", 2)
    gate = Gate.objects.get(stage__project=project, stage__number=1)
    return gate, {kpi.code: kpi for kpi in (a, b, c, d, e)}


def test_values_too_large_for_bigint_units_are_read_as_the_stored_decimals(world):
    gate, kpis = world
    window = (gate.stage_id, stage_window_start(STARTED), gate_cutoff(GATE_DAY))

    aggregates, _excluded, series = gates._kpi_aggregates_and_series([window])

    def stored(kpi: KPI) -> list[Decimal]:
        rows = Measurement.objects.filter(kpi=kpi, rejected_at__isnull=True)
        return list(rows.order_by("measured_at", "id").values_list("value", flat=True))

    for code in ("A", "B", "D"):
        found = aggregates[kpis[code].pk]
        assert found.units is None
        assert found.values is not None
        assert [v.as_tuple() for v in found.values] == [v.as_tuple() for v in stored(kpis[code])]
        assert series[kpis[code].pk].units is None
    for code in ("C", "E"):
        found = aggregates[kpis[code].pk]
        assert found.values is None
        assert found.units == [int(v.scaleb(6)) for v in stored(kpis[code])]
        assert series[kpis[code].pk].units == (found.units, 6)
    assert aggregates[kpis["E"].pk].units == [9223372036853999999, -9223372036853999999]
    assert series[kpis["C"].pk].rejected[1][1].as_tuple() == Decimal(LARGEST).as_tuple()


def test_the_gate_with_values_too_large_for_units_is_the_rules_on_the_decimals(world):
    gate, kpis = world
    start, cutoff = stage_window_start(STARTED), gate_cutoff(GATE_DAY)
    points = [
        rules.MeasurementPoint(
            measurement_id=m.pk,
            kpi_id=m.kpi_id,
            value=m.value,
            measured_at=m.measured_at,
            rejected=m.rejected_at is not None,
        )
        for m in Measurement.objects.filter(kpi__stage=gate.stage)
    ]
    (specs,) = gates._stage_kpis([gate.stage_id]).values()
    expected = rules.evaluate_gate(
        specs, points, start=start, cutoff=cutoff, policy=rules.GatePolicy.defaults()
    )

    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    evaluation.refresh_from_db()

    assert [r["value"] for r in evaluation.kpi_results] == [str(r.value) for r in expected.kpis]
    assert [r["value"] for r in evaluation.kpi_results] == [
        "12345678901234.500000",
        "18446744073707.999999",
        "8.000000",
        "1.000000",
        "-9223372036853.999999",
    ]
    assert [r["achievement"] for r in evaluation.kpi_results] == [
        str(r.achievement) for r in expected.kpis
    ]
    assert str(evaluation.score) == str(expected.score)
    reentered = [
        (flag["kpi_id"], flag["detail"]["value"])
        for flag in evaluation.anomaly_flags
        if flag["kind"] == "reentered_after_rejection"
    ]
    assert reentered == [(kpis["C"].pk, "8.000000"), (kpis["D"].pk, LARGEST)]
