"""Anomaly flags at a gate's evaluation (§22), end to end: each flag fires on a minimal
example and not on a near miss; a flagged PASS is never released automatically."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fundapp.notifications.models import Notification, OutboxEvent
from projects.models import (
    KPI,
    Gate,
    GateDecision,
    GateState,
    Measurement,
    MeasurementEvidence,
    MeasurementSource,
    Project,
    Tranche,
    TrancheState,
)
from projects.rules.gates import GATE_TIMEZONE, gate_cutoff
from projects.services.decisions import gate_decide_automatically, gate_decision_approve
from projects.services.gates import gate_evaluate, gates_evaluate
from tests.factories import CallFactory, officer, running_project
from tests.outbox import events_of, the_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

AS_OF = date(2026, 7, 1)
GATE_DAY = date(2026, 6, 30)
CUTOFF = gate_cutoff(GATE_DAY)
LONG_AGO = datetime(2026, 3, 1, 12, tzinfo=GATE_TIMEZONE)


def tokyo(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=GATE_TIMEZONE)


@pytest.fixture
def officers():
    return officer("JP"), officer("KR")


def _project(kpis: list[dict] | None = None) -> tuple[Project, Gate, list[KPI]]:
    project = running_project(call=CallFactory.create(auto_release_on_pass=True), kpis=kpis)
    gate = Gate.objects.get(stage__project=project, stage__number=1)
    return project, gate, list(project.kpis.filter(stage__number=1).order_by("id"))


def _measure(
    kpi: KPI, value: str, *, at: datetime | None = None, entered: datetime = LONG_AGO
) -> Measurement:
    return Measurement.objects.create(
        project=kpi.project,
        kpi=kpi,
        value=Decimal(value),
        measured_at=at or min(entered, tokyo(date(2026, 6, 1))),
        source=MeasurementSource.BROWSER,
        created_at=entered,
    )


def _evidence(measurement: Measurement, sha256: str) -> MeasurementEvidence:
    return MeasurementEvidence.objects.create(
        measurement=measurement,
        name="report.pdf",
        storage=f"evidence/{measurement.pk}.pdf",
        content_type="application/pdf",
        size=10,
        sha256=sha256,
    )


def _kinds(gate: Gate) -> list[str]:
    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    evaluation.refresh_from_db()
    return [flag["kind"] for flag in evaluation.anomaly_flags]


# --------------------------------------------------------------------------- each flag


@pytest.mark.parametrize(("days_before", "flagged"), [(2, True), (8, False)])
def test_a_value_entered_in_the_last_week_that_decides_met(officers, days_before, flagged):
    _project_, gate, (kpi,) = _project()
    _measure(kpi, "12")
    entered = CUTOFF - timedelta(days=days_before)
    late = _measure(kpi, "25", entered=entered, at=entered - timedelta(hours=1))
    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    evaluation.refresh_from_db()
    if flagged:
        assert evaluation.anomaly_flags == [
            {
                "kind": "late_decisive",
                "kpi_id": kpi.pk,
                "measurement_ids": [late.pk],
                "detail": {
                    "entered_since": (CUTOFF - timedelta(days=7)).isoformat(),
                    "value": "25.000000",
                    "value_without": "12.000000",
                },
            }
        ]
    else:
        assert evaluation.anomaly_flags == []


@pytest.mark.parametrize(("value", "flagged"), [("20", True), ("20.000001", False)])
def test_a_value_exactly_at_target(officers, value, flagged):
    _project_, gate, (kpi,) = _project()
    _measure(kpi, value)
    assert _kinds(gate) == (["at_target"] if flagged else [])


@pytest.mark.parametrize(("last", "flagged"), [("19.1", True), ("19", False)])
def test_a_value_that_jumps_from_the_series(officers, last, flagged):
    _project_, gate, (kpi,) = _project([{"aggregation": "max"}])
    for day, value in enumerate(("14", "15", "16", "17", "18"), start=1):
        _measure(kpi, value, at=tokyo(date(2026, 3, day)))
    _measure(kpi, last, at=tokyo(date(2026, 4, 1)))
    # Earlier 14…18: median 16, MAD 1; 19.1 is 3.1 MADs away, 19 exactly 3.
    kinds = _kinds(gate)
    assert ("jump" in kinds) is flagged


@pytest.mark.parametrize(("again", "flagged"), [("23", True), ("23.5", False)])
def test_the_same_value_re_entered_after_a_rejection(officers, again, flagged):
    _project_, gate, (kpi,) = _project()
    rejected = _measure(kpi, "23")
    Measurement.objects.filter(pk=rejected.pk).update(
        rejected_at=tokyo(date(2026, 5, 1)), rejection_reason="wrong instrument"
    )
    reentered = _measure(kpi, again, entered=tokyo(date(2026, 5, 2)))
    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    evaluation.refresh_from_db()
    found = [f for f in evaluation.anomaly_flags if f["kind"] == "reentered_after_rejection"]
    assert [f["measurement_ids"] for f in found] == (
        [[rejected.pk, reentered.pk]] if flagged else []
    )


@pytest.mark.parametrize("same_file", [True, False])
def test_evidence_shared_between_kpis(officers, same_file):
    _project_, gate, (speed, power) = _project([{"code": "SPD"}, {"code": "PWR"}])
    first = _measure(speed, "21")
    second = _measure(power, "22")
    _evidence(first, "a" * 64)
    _evidence(second, "a" * 64 if same_file else "b" * 64)
    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    evaluation.refresh_from_db()
    if same_file:
        assert evaluation.anomaly_flags == [
            {
                "kind": "shared_evidence",
                "kpi_id": speed.pk,
                "measurement_ids": [first.pk, second.pk],
                "detail": {"sha256": "a" * 64, "other_kpi_ids": [power.pk]},
            },
            {
                "kind": "shared_evidence",
                "kpi_id": power.pk,
                "measurement_ids": [second.pk, first.pk],
                "detail": {"sha256": "a" * 64, "other_kpi_ids": [speed.pk]},
            },
        ]
    else:
        assert evaluation.anomaly_flags == []


def test_a_file_shared_with_another_project_is_not_this_gates_flag(officers):
    _project_, gate, (kpi,) = _project()
    _other, _other_gate, (elsewhere,) = _project()
    _evidence(_measure(kpi, "21"), "c" * 64)
    _evidence(_measure(elsewhere, "21"), "c" * 64)
    assert _kinds(gate) == []


# --------------------------------------------------------------------------- entry times
# The evaluation reads entry and rejection times as microseconds since the epoch: to the
# microsecond, and each with its own measurement when the series (measured_at, then id)
# runs against the ids.


@pytest.mark.parametrize(
    ("entered", "flagged"),
    [
        (CUTOFF - timedelta(days=7, microseconds=1), False),
        (CUTOFF - timedelta(days=7), True),
        (CUTOFF, True),
        (CUTOFF + timedelta(microseconds=1), False),
    ],
)
def test_the_last_week_before_the_cutoff_is_read_to_the_microsecond(officers, entered, flagged):
    _project_, gate, (kpi,) = _project()
    _measure(kpi, "12")
    late = _measure(kpi, "25", entered=entered, at=CUTOFF - timedelta(days=8))
    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    evaluation.refresh_from_db()
    assert [f["measurement_ids"] for f in evaluation.anomaly_flags] == (
        [[late.pk]] if flagged else []
    )


@pytest.mark.parametrize(("after", "flagged"), [(timedelta(microseconds=1), True), (None, False)])
def test_a_re_entry_is_compared_with_its_rejection_to_the_microsecond(officers, after, flagged):
    _project_, gate, (kpi,) = _project()
    rejected = _measure(kpi, "23")
    rejected_at = tokyo(date(2026, 5, 1)) + timedelta(microseconds=123456)
    Measurement.objects.filter(pk=rejected.pk).update(
        rejected_at=rejected_at, rejection_reason="wrong instrument"
    )
    reentered = _measure(kpi, "23", entered=rejected_at + (after or timedelta(0)))
    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    evaluation.refresh_from_db()
    assert evaluation.anomaly_flags == (
        [
            {
                "kind": "reentered_after_rejection",
                "kpi_id": kpi.pk,
                "measurement_ids": [rejected.pk, reentered.pk],
                "detail": {
                    "value": "23.000000",
                    "rejected_at": "2026-05-01T03:00:00.123456+00:00",
                },
            }
        ]
        if flagged
        else []
    )


def test_a_late_entry_keeps_its_time_when_the_series_runs_against_the_ids(officers):
    _project_, gate, (kpi,) = _project()  # latest, 10 → 20
    late = _measure(kpi, "25", at=tokyo(date(2026, 6, 20)), entered=CUTOFF - timedelta(days=2))
    # Entered after it (a greater id), measured before it: first in the series.
    _measure(kpi, "12", at=tokyo(date(2026, 3, 2)))
    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    evaluation.refresh_from_db()
    # Met by 25, the latest; without that late entry the latest is 12.
    assert [(f["kind"], f["measurement_ids"]) for f in evaluation.anomaly_flags] == [
        ("late_decisive", [late.pk])
    ]


def test_a_re_entry_keeps_its_time_when_the_series_runs_against_the_ids(officers):
    _project_, gate, (kpi,) = _project([{"aggregation": "max"}])
    rejected = _measure(kpi, "23", at=tokyo(date(2026, 4, 1)))
    Measurement.objects.filter(pk=rejected.pk).update(
        rejected_at=tokyo(date(2026, 5, 1)), rejection_reason="wrong instrument"
    )
    reentered = _measure(kpi, "23", at=tokyo(date(2026, 6, 10)), entered=tokyo(date(2026, 5, 2)))
    # Entered after it (a greater id) but long before the rejection, measured before it.
    _measure(kpi, "5", at=tokyo(date(2026, 3, 2)))
    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    evaluation.refresh_from_db()
    assert [(f["kind"], f["measurement_ids"]) for f in evaluation.anomaly_flags] == [
        ("reentered_after_rejection", [rejected.pk, reentered.pk])
    ]


# --------------------------------------------------------------------------- the decision


def test_a_flagged_pass_waits_for_the_two_person_decision(officers):
    jp, kr = officers
    project, gate, (kpi,) = _project()
    _measure(kpi, "20")

    result = gates_evaluate(gate_ids=[gate.pk], as_of=AS_OF)

    evaluation = result.evaluations[gate.pk]
    assert evaluation.outcome == "pass"
    assert result.decisions == {}
    assert result.tranches == {}
    assert not GateDecision.objects.filter(gate=gate).exists()
    gate.refresh_from_db()
    assert gate.state == GateState.EVALUATED
    assert set(Tranche.objects.filter(project=project).values_list("state", flat=True)) == {
        TrancheState.PLANNED
    }
    organisations = project.organisations.values_list("organisation_id", flat=True)
    data = the_event("gate.flagged", gate, organisations=organisations)
    assert data["evaluation"] == evaluation.pk
    assert data["flags"] == [
        {
            "kind": "at_target",
            "kpi": kpi.pk,
            "measurement_ids": list(kpi.measurements.values_list("pk", flat=True)),
            "detail": {"value": "20.000000", "target": "20.000000"},
        }
    ]
    assert the_event("gate.decision_needed", gate, organisations=organisations)["outcome"] == (
        "pass"
    )
    flagged = Notification.objects.filter(message="gate.flagged")
    assert sorted(flagged.values_list("user_id", flat=True)) == sorted([jp.pk, kr.pk])
    assert {n.params["count"] for n in flagged} == {1}
    assert {n.params["project"] for n in flagged} == {project.pk}

    # The officers may still release it, both sides agreeing.
    gate_decision_approve(gate=gate, actor=jp, kind="release")
    assert GateDecision.objects.get(gate=gate).state == "pending"
    gate_decision_approve(gate=gate, actor=kr, kind="release")
    assert set(Tranche.objects.filter(project=project).values_list("state", flat=True)) == {
        TrancheState.DECIDED
    }


def test_a_pass_without_flags_is_still_released_automatically(officers):
    project, gate, (kpi,) = _project()
    _measure(kpi, "21")
    result = gates_evaluate(gate_ids=[gate.pk], as_of=AS_OF)
    assert list(result.decisions) == [gate.pk]
    assert events_of("gate.flagged", gate) == []
    assert not Notification.objects.filter(message="gate.flagged").exists()


def test_the_automatic_decision_service_leaves_a_flagged_snapshot_to_the_officers(officers):
    _project_, gate, (kpi,) = _project()
    _measure(kpi, "20")
    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    assert evaluation.anomaly_flags
    assert gate_decide_automatically(evaluation=evaluation) is None
    assert not GateDecision.objects.filter(gate=gate).exists()


# --------------------------------------------------------------------------- queries


def _flagged_world(n: int) -> list[int]:
    """``n`` due gates, each with every kind of flag."""
    ids = []
    for _ in range(n):
        _p, gate, (kpi, other) = _project([{"code": "A"}, {"code": "B"}])
        rejected = _measure(kpi, "20", at=tokyo(date(2026, 2, 1)))
        Measurement.objects.filter(pk=rejected.pk).update(rejected_at=tokyo(date(2026, 2, 2)))
        for day, value in enumerate(("1", "2", "3", "4", "5"), start=1):
            _measure(kpi, value, at=tokyo(date(2026, 3, day)))
        late = _measure(kpi, "20", entered=CUTOFF - timedelta(days=1))
        _evidence(late, f"{late.pk:064d}")
        _evidence(_measure(other, "21"), f"{late.pk:064d}")
        ids.append(gate.pk)
    return ids


def _flag_notices_and_events(gate_ids: list[int]) -> tuple[int, int]:
    """The fund officers' gate.flagged notices about these gates' projects, and the
    gate.flagged events of these gates."""
    projects = Gate.objects.filter(pk__in=gate_ids).values_list("stage__project", flat=True)
    notices = Notification.objects.filter(
        message="gate.flagged", params__project__in=list(projects)
    ).count()
    events = OutboxEvent.objects.filter(
        kind="gate.flagged", object_id__in=[str(pk) for pk in gate_ids]
    ).count()
    return notices, events


def test_flags_take_the_same_queries_for_three_and_thirty_gates(
    officers, django_assert_num_queries
):
    few = _flagged_world(3)
    with CaptureQueriesContext(connection) as small:
        result = gates_evaluate(gate_ids=few, as_of=AS_OF)
    kinds = {f["kind"] for e in result.evaluations.values() for f in e.anomaly_flags}
    assert kinds == {
        "late_decisive",
        "at_target",
        "jump",
        "reentered_after_rejection",
        "shared_evidence",
    }
    # Each flagged gate: a notice to each fund officer and a gate.flagged event, written
    # with the batch's other notices and events (one insert each), whatever their number.
    assert _flag_notices_and_events(few) == (2 * 3, 3)
    many = _flagged_world(30)
    with django_assert_num_queries(len(small.captured_queries)):
        result = gates_evaluate(gate_ids=many, as_of=AS_OF)
    assert len(result.evaluations) == 30
    assert result.decisions == {}
    assert _flag_notices_and_events(many) == (2 * 30, 30)
    assert timezone.now() > CUTOFF
