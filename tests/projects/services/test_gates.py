"""gate_evaluate (§8): the snapshot, its window, re-evaluation and what it refuses."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, InternalError, ProgrammingError, transaction
from django.utils import timezone

from fundapp.accounts.models import Role, Scope
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, NotFound, PermissionDenied
from projects.models import (
    DecisionState,
    GateDecision,
    GateDecisionKind,
    GateEvaluation,
    GateState,
    Measurement,
    ProjectState,
    StageState,
)
from projects.rules.gates import gate_cutoff, stage_window_start
from projects.selectors.gates import evaluation_history, latest_evaluation
from projects.services.gates import gate_evaluate
from projects.services.verification import measurement_attest, verifier_designate
from tests.factories import UserFactory
from tests.factories.gates import api_key, build_project, measure, tokyo
from tests.workflow_states import force_state

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("no_automatic_decision"),
    pytest.mark.usefixtures("private_media", "axes_off"),
]

AS_OF = date(2026, 7, 1)


def test_the_snapshot_records_inputs_results_policy_and_window(no_automatic_decision):
    built = build_project()
    gate, stage = built.gates[0], built.stages[0]
    a1 = measure(built.kpis["K1A"], "15", tokyo(date(2026, 3, 1)))
    a2 = measure(built.kpis["K1A"], "21", tokyo(date(2026, 6, 1)))  # latest: met

    evaluation = gate_evaluate(gate=gate, actor=built.officer, as_of=AS_OF)

    # K1A: (21-10)/10 = 1.1 → met; K1B missing → 0. S = (1×1.1 + 2×0) / 3 = 0.3667.
    assert evaluation.score == Decimal("0.3667")
    assert evaluation.outcome == "fail"
    assert evaluation.round == 1
    assert evaluation.as_of == AS_OF
    assert stage.started_on is not None
    assert evaluation.window_start == stage_window_start(stage.started_on)
    assert evaluation.cutoff == gate_cutoff(gate.due_on)
    assert evaluation.evaluated_by == built.officer
    assert evaluation.policy["pass_threshold"] == "1.0000"
    assert evaluation.policy["auto_release_on_pass"] is True
    recorded = evaluation.counted_measurements()
    assert [(m["id"], m["kpi_id"], m["value"]) for m in recorded] == [
        (a1.pk, a1.kpi_id, "15.000000"),
        (a2.pk, a2.kpi_id, "21.000000"),
    ]
    assert [datetime.fromisoformat(m["measured_at"]) for m in recorded] == [
        a1.measured_at,
        a2.measured_at,
    ]
    assert [m["measured_at"] for m in recorded] == [
        a1.measured_at.astimezone(UTC).isoformat(),
        a2.measured_at.astimezone(UTC).isoformat(),
    ]
    assert [k["code"] for k in evaluation.inputs["kpis"]] == ["K1A", "K1B"]
    assert evaluation.kpi_results == [
        {
            "kpi_id": built.kpis["K1A"].pk,
            "code": "K1A",
            "value": "21.000000",
            "achievement": "1.1000",
            "met": True,
            "missing": False,
            "weight": "1.0000",
            "mandatory": True,
            "measurement_ids": [a1.pk, a2.pk],
        },
        {
            "kpi_id": built.kpis["K1B"].pk,
            "code": "K1B",
            "value": None,
            "achievement": "0.0000",
            "met": False,
            "missing": True,
            "weight": "2.0000",
            "mandatory": False,
            "measurement_ids": [],
        },
    ]
    # Stored per KPI as parallel arrays (ids ascending), as the database wrote them, the
    # times as microseconds since the epoch.
    stored = GateEvaluation.objects.get(pk=evaluation.pk).inputs
    assert [k["measurements"] for k in stored["kpis"]] == [
        {
            "ids": [a1.pk, a2.pk],
            "values": ["15.000000", "21.000000"],
            "measured_at_us": [_us(a1.measured_at), _us(a2.measured_at)],
        },
        {"ids": [], "values": [], "measured_at_us": []},
    ]
    assert "measurements" not in stored
    stage.refresh_from_db()
    gate.refresh_from_db()
    assert stage.state == StageState.GATE_PENDING
    assert gate.state == GateState.EVALUATED
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["stage.gate_pending", "gate.evaluated"]
    event = AuditEvent.objects.get(action="gate.evaluated")
    assert event.after is not None and event.after["evaluation"] == evaluation.pk
    assert no_automatic_decision == [evaluation]


def test_the_database_refuses_to_change_or_delete_a_snapshot():
    built = build_project()
    evaluation = gate_evaluate(gate=built.gates[0], as_of=AS_OF)
    errors = (InternalError, IntegrityError, ProgrammingError)
    with pytest.raises(errors), transaction.atomic():
        GateEvaluation.objects.filter(pk=evaluation.pk).update(score=Decimal("1.5"))
    with pytest.raises(errors), transaction.atomic():
        GateEvaluation.objects.filter(pk=evaluation.pk).delete()
    evaluation.refresh_from_db()
    assert evaluation.score == Decimal("0")


def test_window_boundaries_start_and_cutoff_are_included_one_microsecond_later_is_not():
    built = build_project()
    gate, stage = built.gates[0], built.stages[0]
    k = built.kpis["K1A"]
    assert stage.started_on is not None
    before_start = measure(
        k, "30", stage_window_start(stage.started_on) - timedelta(microseconds=1)
    )
    at_start = measure(k, "11", stage_window_start(stage.started_on))
    at_cutoff = measure(k, "20", gate_cutoff(gate.due_on))
    after_cutoff = measure(k, "12", gate_cutoff(gate.due_on) + timedelta(microseconds=1))

    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)

    ids = [m["id"] for m in evaluation.counted_measurements()]
    assert ids == [at_start.pk, at_cutoff.pk]
    assert before_start.pk not in ids and after_cutoff.pk not in ids
    assert evaluation.kpi_results[0]["value"] == "20.000000"  # the one at the cutoff is latest
    assert evaluation.kpi_results[0]["met"] is True


def test_cutoff_is_the_end_of_the_gate_day_in_tokyo_not_utc():
    built = build_project()
    gate = built.gates[0]
    # 23:30 JST on the gate day is 14:30 UTC: still inside.
    late = measure(built.kpis["K1A"], "20", tokyo(gate.due_on, 23, 30))
    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    assert [m["id"] for m in evaluation.counted_measurements()] == [late.pk]


def test_rejected_measurements_do_not_count():
    from projects.services.measurements import measurement_reject

    built = build_project()
    good = measure(built.kpis["K1A"], "14", tokyo(date(2026, 3, 1)))
    bad = measure(built.kpis["K1A"], "25", tokyo(date(2026, 4, 1)))
    measurement_reject(measurement=bad, actor=built.officer, reason="Wrong unit")

    evaluation = gate_evaluate(gate=built.gates[0], as_of=AS_OF)

    assert [m["id"] for m in evaluation.counted_measurements()] == [good.pk]
    assert evaluation.kpi_results[0]["achievement"] == "0.4000"


def test_re_evaluating_before_a_decision_makes_a_new_snapshot_the_latest():
    built = build_project()
    gate = built.gates[0]
    first = gate_evaluate(gate=gate, as_of=AS_OF)
    measure(built.kpis["K1A"], "20", tokyo(date(2026, 6, 1)))
    measure(built.kpis["K1B"], "20", tokyo(date(2026, 6, 1)))

    second = gate_evaluate(gate=gate, as_of=AS_OF)

    assert second.pk != first.pk
    assert (first.score, first.outcome) == (Decimal("0"), "fail")
    assert (second.score, second.outcome) == (Decimal("1.0000"), "pass")
    assert latest_evaluation(gate) == second
    assert list(evaluation_history(gate)) == [second, first]
    first.refresh_from_db()
    assert first.score == Decimal("0")  # the old snapshot is untouched
    assert built.stages[0].__class__.objects.get(pk=built.stages[0].pk).state == "gate_pending"


def test_a_decided_gate_or_one_with_a_live_decision_is_refused():
    built = build_project()
    gate = built.gates[0]
    evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
    GateDecision.objects.create(
        gate=gate,
        round=1,
        evaluation=evaluation,
        kind=GateDecisionKind.EXTEND,
        state=DecisionState.PENDING,
        first_officer=built.officer,
        first_side="JP",
    )
    with pytest.raises(Conflict) as pending:
        gate_evaluate(gate=gate, as_of=AS_OF)
    assert pending.value.code == "decision_pending"

    gate.state = GateState.DECIDED
    gate.save()
    with pytest.raises(Conflict) as decided:
        gate_evaluate(gate=gate, as_of=AS_OF)
    assert decided.value.code == "already_decided"
    assert GateEvaluation.objects.count() == 1


def test_a_gate_is_evaluated_from_its_day_on():
    built = build_project()
    gate = built.gates[0]
    with pytest.raises(Conflict) as early:
        gate_evaluate(gate=gate, as_of=gate.due_on - timedelta(days=1))
    assert early.value.code == "not_due"
    assert gate_evaluate(gate=gate, as_of=gate.due_on)


def test_as_of_defaults_to_today_in_tokyo():
    today = timezone.now().astimezone(tokyo(date(2026, 1, 1)).tzinfo).date()
    built = build_project(started_on=today - timedelta(days=30), gate_day=today)
    evaluation = gate_evaluate(gate=built.gates[0])
    assert evaluation.as_of == today


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda b: setattr(b.project, "state", ProjectState.SUSPENDED), "project_not_active"),
        (lambda b: None, "stage_not_running"),
    ],
)
def test_stopped_projects_and_planned_stages_are_refused(change, code):
    planned = code == "stage_not_running"
    built = build_project(first_stage_state=StageState.PLANNED if planned else StageState.ACTIVE)
    change(built)
    built.project.save()
    built.stages[0].save()
    with pytest.raises(Conflict) as info:
        gate_evaluate(gate=built.gates[0], as_of=AS_OF)
    assert info.value.code == code


def test_an_extended_stage_is_evaluated_again_with_its_new_cutoff():
    built = build_project()
    gate, stage = built.gates[0], built.stages[0]
    force_state(stage, StageState.EXTENDED)
    gate.round = 2
    gate.due_on = date(2026, 9, 30)
    gate.save()
    late = measure(built.kpis["K1A"], "20", tokyo(date(2026, 8, 1)))

    evaluation = gate_evaluate(gate=gate, as_of=date(2026, 10, 1))

    assert evaluation.round == 2
    assert [m["id"] for m in evaluation.counted_measurements()] == [late.pk]
    stage.refresh_from_db()
    assert stage.state == StageState.GATE_PENDING


def test_who_may_evaluate():
    built = build_project()
    gate = built.gates[0]
    with pytest.raises(NotFound):
        gate_evaluate(gate=gate, actor=built.stranger, as_of=AS_OF)
    with pytest.raises(PermissionDenied):
        gate_evaluate(gate=gate, actor=built.researcher, as_of=AS_OF)
    with pytest.raises(PermissionDenied):
        gate_evaluate(gate=gate, actor=api_key(built.extra["jp"], [Scope.GATES_READ]), as_of=AS_OF)
    key = api_key(built.extra["kr"], [Scope.GATES_WRITE])
    assert gate_evaluate(gate=gate, actor=key, as_of=AS_OF).evaluated_by_api_key == key


def _evaluate_counting(django_assert_num_queries, measurements_per_kpi: int) -> int:
    built = build_project()
    for i in range(measurements_per_kpi):
        measure(built.kpis["K1A"], str(11 + i % 9), tokyo(date(2026, 3, 1), 0, i))
        measure(built.kpis["K1B"], str(12 + i % 7), tokyo(date(2026, 4, 1), 0, i))
    with django_assert_num_queries(QUERIES) as counted:
        evaluation = gate_evaluate(gate=built.gates[0], as_of=AS_OF)
    assert len(evaluation.counted_measurements()) == 2 * measurements_per_kpi
    return len(counted.captured_queries)


def test_query_count_does_not_grow_with_measurements(django_assert_num_queries):
    assert _evaluate_counting(django_assert_num_queries, 1) == _evaluate_counting(
        django_assert_num_queries, 60
    )


# The batch of one: a savepoint pair, three locks (gate, project, stage; the stage's lock
# reads its project's last stage number), live decisions and previous rounds, the KPIs, the
# measurements (one query aggregating every KPI's window; the snapshot's insert adds the
# inputs itself), the evidence files shared between KPIs (§22's anomaly flags), the PIs with
# the organisations, the snapshot (its id from the sequence, then its COPY), and one
# statement for the rest (the stage and gate updates, the audit events, the notifications
# and the outbox event) — pinned so a per-row or per-KPI query cannot slip in.
QUERIES = 14


def test_a_snapshot_stored_as_one_list_of_measurements_still_reads():
    """Snapshots written before the per-KPI arrays hold every counted measurement as one
    list under ``inputs.measurements``; they read back the same."""
    built = build_project()
    listed = [
        {"id": 7, "kpi_id": 3, "value": "1.500000", "measured_at": "2026-03-01T00:00:00+00:00"}
    ]
    evaluation = GateEvaluation.objects.create(
        gate=built.gates[0],
        round=1,
        as_of=AS_OF,
        window_start=timezone.now(),
        cutoff=timezone.now(),
        score=Decimal("0"),
        outcome="fail",
        policy={},
        inputs={"kpis": [{"id": 3, "code": "K"}], "measurements": listed},
        kpi_results=[],
    )

    assert evaluation.counted_measurements() == listed
    assert evaluation.published_inputs == {
        "kpis": [{"id": 3, "code": "K"}],
        "measurements": listed,
        "excluded": [],
    }


def _us(at: datetime) -> int:
    """``at`` as snapshots store it: integer microseconds since the epoch."""
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _stored_with_iso_times(inputs: dict, time_zone: str) -> dict:
    """``inputs`` of a snapshot as snapshots were stored before their times were
    microseconds: each time the JSON text PostgreSQL wrote for the measurement's
    ``measured_at`` (``array_to_json(array_agg(measured_at))`` for the counted ones,
    ``json_build_object(…, 'measured_at', measured_at, …)`` for those left out), in a
    session of ``time_zone``."""
    from django.db import connection

    kpis = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [time_zone])
        for kpi in inputs["kpis"]:
            counted = kpi["measurements"]
            cursor.execute(
                "SELECT array_to_json(array_agg(m.measured_at ORDER BY m.id))::text "
                "FROM projects_measurement m WHERE m.id = ANY(%s)",
                [counted["ids"]],
            )
            (times,) = cursor.fetchone()
            excluded = []
            for left_out in kpi["excluded"]:
                cursor.execute(
                    "SELECT json_build_object('id', m.id, 'value', m.value::text, "
                    "'measured_at', m.measured_at, 'reason', %s::text)::text "
                    "FROM projects_measurement m WHERE m.id = %s",
                    [left_out["reason"], left_out["id"]],
                )
                excluded.append(json.loads(cursor.fetchone()[0]))
            kpis.append(
                {
                    **kpi,
                    "measurements": {
                        "ids": counted["ids"],
                        "values": counted["values"],
                        "measured_at": json.loads(times or "[]"),
                    },
                    "excluded": excluded,
                }
            )
        cursor.execute("SELECT set_config('TimeZone', 'UTC', true)")
    return {"kpis": kpis}


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Tokyo"])
def test_snapshots_with_times_as_iso_text_or_as_microseconds_read_back_the_same(time_zone):
    """Snapshots store their times as microseconds since the epoch; those written before
    hold PostgreSQL's ISO 8601 text of them (the session's offset, the fraction's trailing
    zeros dropped). Both read back as the same lists, with the same UTC ISO 8601 times."""
    built = build_project()
    gate, k1a, k1b = built.gates[0], built.kpis["K1A"], built.kpis["K1B"]
    whole = measure(k1a, "15", tokyo(date(2026, 3, 1)))
    tenths = measure(k1a, "21.5", tokyo(date(2026, 6, 1)) + timedelta(microseconds=120000))
    tiny = measure(k1b, "12", tokyo(date(2026, 2, 1), 9, 30, 15) + timedelta(microseconds=1))
    same_time = measure(k1b, "13", tiny.measured_at)
    rejected = measure(k1b, "14", tokyo(date(2026, 4, 1)) + timedelta(microseconds=999999))
    Measurement.objects.filter(pk=rejected.pk).update(rejected_at=timezone.now())
    late = measure(k1a, "30", gate_cutoff(gate.due_on) + timedelta(microseconds=1))

    evaluation = gate_evaluate(gate=gate, actor=built.officer, as_of=AS_OF)

    new = GateEvaluation.objects.get(pk=evaluation.pk)
    assert '"measured_at"' not in json.dumps(new.inputs)
    old_inputs = _stored_with_iso_times(new.inputs, time_zone)
    offset = "+00:00" if time_zone == "UTC" else "+09:00"
    assert old_inputs["kpis"][0]["measurements"]["measured_at"][0] == (
        f"2026-03-01T{'03' if time_zone == 'UTC' else '12'}:00:00{offset}"
    )
    GateEvaluation.objects.create(
        gate=gate,
        round=2,
        as_of=AS_OF,
        window_start=evaluation.window_start,
        cutoff=evaluation.cutoff,
        score=evaluation.score,
        outcome=evaluation.outcome,
        policy=new.policy,
        inputs=old_inputs,
        kpi_results=new.kpi_results,
    )
    old = GateEvaluation.objects.get(gate=gate, round=2)

    def iso(measurement: Measurement) -> str:
        return measurement.measured_at.astimezone(UTC).isoformat()

    counted = [tiny, same_time, whole, tenths]
    assert new.counted_measurements() == [
        {"id": m.pk, "kpi_id": m.kpi_id, "value": f"{m.value:.6f}", "measured_at": iso(m)}
        for m in counted
    ]
    assert new.excluded_measurements() == [
        {
            "id": m.pk,
            "kpi_id": m.kpi_id,
            "value": f"{m.value:.6f}",
            "measured_at": iso(m),
            "reason": reason,
        }
        for m, reason in ((rejected, "rejected"), (late, "outside_window"))
    ]
    assert old.counted_measurements() == new.counted_measurements()
    assert old.excluded_measurements() == new.excluded_measurements()
    assert old.published_inputs == new.published_inputs
    # The KPIs' keys in the order the API has always shown them (``jsonb``'s).
    for evaluated in (new, old):
        assert [list(kpi) for kpi in evaluated.published_inputs["kpis"]] == [
            [
                "id",
                "code",
                "target",
                "weight",
                "baseline",
                "evidence",
                "direction",
                "mandatory",
                "aggregation",
            ]
        ] * 2


def test_measurements_of_several_kpis_read_back_in_time_order():
    built = build_project()
    gate = built.gates[0]
    late_a = measure(built.kpis["K1A"], "30", tokyo(date(2026, 6, 2)))
    early_b = measure(built.kpis["K1B"], "5", tokyo(date(2026, 2, 1)))
    early_a = measure(built.kpis["K1A"], "12.25", tokyo(date(2026, 3, 1)))

    evaluation = gate_evaluate(gate=gate, actor=built.officer, as_of=AS_OF)

    assert [(m["id"], m["kpi_id"], m["value"]) for m in evaluation.counted_measurements()] == [
        (early_b.pk, early_b.kpi_id, "5.000000"),
        (early_a.pk, early_a.kpi_id, "12.250000"),
        (late_a.pk, late_a.kpi_id, "30.000000"),
    ]
    published = evaluation.published_inputs
    assert [k["code"] for k in published["kpis"]] == ["K1A", "K1B"]
    assert all("measurements" not in k for k in published["kpis"])
    assert [m["id"] for m in published["measurements"]] == [early_b.pk, early_a.pk, late_a.pk]


def test_snapshots_are_compressed_with_lz4():
    """The snapshot's JSON is compressed with lz4 (cheaper to write than pglz, §19); this
    server has lz4, so the migration set it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attcompression FROM pg_attribute "
            "WHERE attrelid = 'projects_gateevaluation'::regclass "
            "AND attname IN ('inputs', 'kpi_results') ORDER BY attname"
        )
        assert cursor.fetchall() == [("inputs", "l"), ("kpi_results", "l")]


# --------------------------------------------------------------------------- evidence (§22)


def _evidenced_project():
    return build_project(
        kpis=[
            {"code": "DOC", "mandatory": True, "weight": "1", "evidence": "document"},
            {"code": "ATT", "mandatory": False, "weight": "1", "evidence": "attested"},
            {"code": "ANY", "mandatory": False, "weight": "1", "evidence": "none"},
        ]
    )


def test_only_measurements_meeting_the_evidence_level_count_and_the_rest_are_listed_with_why():
    built = _evidenced_project()
    gate = built.gates[0]
    doc, att, any_ = built.kpis["DOC"], built.kpis["ATT"], built.kpis["ANY"]
    filed = measure(doc, "20", tokyo(date(2026, 3, 1)), evidence=True)
    unfiled = measure(doc, "25", tokyo(date(2026, 6, 1)))  # later, but no file
    rejected = measure(doc, "30", tokyo(date(2026, 5, 1)), evidence=True)
    Measurement.objects.filter(pk=rejected.pk).update(rejected_at=timezone.now())
    late = measure(doc, "30", gate_cutoff(gate.due_on) + timedelta(microseconds=1), evidence=True)
    unattested = measure(att, "20", tokyo(date(2026, 4, 1)), evidence=True)
    plain = measure(any_, "15", tokyo(date(2026, 4, 1)))

    evaluation = gate_evaluate(gate=gate, actor=built.officer, as_of=AS_OF)

    results = {k["code"]: k for k in evaluation.kpi_results}
    assert (results["DOC"]["value"], results["DOC"]["measurement_ids"]) == ("20.000000", [filed.pk])
    assert results["DOC"]["met"] is True
    assert results["ATT"]["missing"] is True and results["ATT"]["measurement_ids"] == []
    assert (results["ANY"]["value"], results["ANY"]["measurement_ids"]) == ("15.000000", [plain.pk])
    # DOC a=1, ATT a=0 (missing), ANY a=0.5: S = 1.5 / 3.
    assert (evaluation.score, evaluation.outcome) == (Decimal("0.5000"), "fail")
    assert [(m["id"], m["kpi_id"], m["reason"]) for m in evaluation.excluded_measurements()] == [
        (unattested.pk, att.pk, "not_attested"),
        (rejected.pk, doc.pk, "rejected"),
        (unfiled.pk, doc.pk, "no_evidence"),
        (late.pk, doc.pk, "outside_window"),
    ]
    stored = GateEvaluation.objects.get(pk=evaluation.pk).inputs
    by_code = {k["code"]: k for k in stored["kpis"]}
    assert [k["evidence"] for k in stored["kpis"]] == ["document", "attested", "none"]
    assert by_code["DOC"]["excluded"] == [
        {
            "id": unfiled.pk,
            "value": "25.000000",
            "measured_at_us": _us(unfiled.measured_at),
            "reason": "no_evidence",
        },
        {
            "id": rejected.pk,
            "value": "30.000000",
            "measured_at_us": _us(rejected.measured_at),
            "reason": "rejected",
        },
        {
            "id": late.pk,
            "value": "30.000000",
            "measured_at_us": _us(late.measured_at),
            "reason": "outside_window",
        },
    ]
    assert [m["measured_at"] for m in evaluation.excluded_measurements()] == [
        unattested.measured_at.astimezone(UTC).isoformat(),
        rejected.measured_at.astimezone(UTC).isoformat(),
        unfiled.measured_at.astimezone(UTC).isoformat(),
        late.measured_at.astimezone(UTC).isoformat(),
    ]
    assert by_code["ANY"]["excluded"] == []
    published = evaluation.published_inputs
    assert all("excluded" not in k for k in published["kpis"])
    assert [m["reason"] for m in published["excluded"]] == [
        "not_attested",
        "rejected",
        "no_evidence",
        "outside_window",
    ]


def _verdicts(built, measurement, verdicts: str | None) -> None:
    """Verifiers' verdicts on ``measurement``: None, "attested", "disputed", or "both" (one
    verifier attests, another disputes)."""
    if verdicts is None:
        return
    wanted = ["attested", "disputed"] if verdicts == "both" else [verdicts]
    for verdict in wanted:
        person = UserFactory.create(role=Role.REVIEWER)
        verifier_designate(project=built.project, actor=built.officer, verifier=person)
        measurement_attest(measurement=measurement, actor=person, verdict=verdict, note="seen")


@pytest.mark.parametrize(
    ("level", "with_file", "rejected", "verdicts", "counts", "reason"),
    [
        ("none", False, False, None, True, None),
        ("none", True, False, None, True, None),
        ("none", True, True, None, False, "rejected"),
        # A dispute matters only where the level asks for an attestation.
        ("none", False, False, "disputed", True, None),
        ("document", False, False, None, False, "no_evidence"),
        ("document", True, False, None, True, None),
        ("document", True, True, None, False, "rejected"),
        ("document", False, True, None, False, "rejected"),
        ("document", True, False, "disputed", True, None),
        # An attestation is not a file.
        ("document", False, False, "attested", False, "no_evidence"),
        ("attested", False, False, None, False, "not_attested"),
        ("attested", True, False, None, False, "not_attested"),
        ("attested", True, True, None, False, "rejected"),
        ("attested", False, False, "attested", True, None),
        ("attested", True, False, "attested", True, None),
        ("attested", True, False, "disputed", False, "disputed"),
        # Any dispute wins over attestations.
        ("attested", True, False, "both", False, "disputed"),
        # Rejected after it was attested.
        ("attested", True, True, "attested", False, "rejected"),
    ],
)
def test_each_evidence_level_with_and_without_a_file(
    level, with_file, rejected, verdicts, counts, reason
):
    built = build_project(
        kpis=[{"code": "K", "mandatory": False, "weight": "1", "evidence": level}]
    )
    m = measure(built.kpis["K"], "20", tokyo(date(2026, 3, 1)), evidence=with_file)
    _verdicts(built, m, verdicts)
    if rejected:
        Measurement.objects.filter(pk=m.pk).update(rejected_at=timezone.now(), rejection_reason="x")

    evaluation = gate_evaluate(gate=built.gates[0], actor=built.officer, as_of=AS_OF)

    (result,) = evaluation.kpi_results
    assert result["measurement_ids"] == ([m.pk] if counts else [])
    assert result["met"] is counts and result["missing"] is not counts
    assert [(e["id"], e["reason"]) for e in evaluation.excluded_measurements()] == (
        [] if reason is None else [(m.pk, reason)]
    )


@pytest.mark.parametrize(("files", "counts"), [(0, False), (1, True), (2, True)])
def test_a_document_kpi_counts_a_measurement_once_whatever_its_number_of_files(files, counts):
    built = build_project(
        kpis=[{"code": "K", "mandatory": False, "weight": "1", "evidence": "document"}]
    )
    m = measure(built.kpis["K"], "20", tokyo(date(2026, 3, 1)), evidence=files)
    other = measure(built.kpis["K"], "5", tokyo(date(2026, 2, 1)), evidence=files)

    evaluation = gate_evaluate(gate=built.gates[0], actor=built.officer, as_of=AS_OF)

    (result,) = evaluation.kpi_results
    assert result["measurement_ids"] == ([m.pk, other.pk] if counts else [])
    assert result["value"] == ("20.000000" if counts else None)
    assert sorted((e["id"], e["reason"]) for e in evaluation.excluded_measurements()) == (
        [] if counts else [(m.pk, "no_evidence"), (other.pk, "no_evidence")]
    )


def test_a_snapshot_written_before_evidence_levels_lists_nothing_left_out():
    built = build_project()
    evaluation = GateEvaluation.objects.create(
        gate=built.gates[0],
        round=1,
        as_of=AS_OF,
        window_start=timezone.now(),
        cutoff=timezone.now(),
        score=Decimal("0"),
        outcome="fail",
        policy={},
        inputs={"kpis": [{"id": 3, "code": "K", "measurements": {}}]},
        kpi_results=[],
    )
    assert evaluation.excluded_measurements() == []
