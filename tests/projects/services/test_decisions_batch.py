"""gates_decide_automatically (§8, §19): a batch's automatic decisions, written on sets.

Given gates a batch evaluation has just evaluated, when their decisions are applied, then
every row they move, audit event, outbox event, notification and tranche decision is the
one a write per row would leave, in a fixed number of statements whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fundapp.audit.models import AuditEvent
from fundapp.notifications.models import Notification, OutboxEvent
from ip_licensing.models import IPAsset
from projects.models import (
    Gate,
    GateDecision,
    GateState,
    Project,
    ProjectState,
    Stage,
    StageState,
    Tranche,
    TrancheState,
)
from projects.rules.gates import GATE_TIMEZONE
from projects.services import decisions
from projects.services.gates import gates_evaluate
from tests.factories import CallFactory, MeasurementFactory, officer, running_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

AS_OF = date(2026, 7, 1)
GATE_DAY = date(2026, 6, 30)
# Above the target (20): a value exactly at it is an anomaly (§22) and holds the gate.
PASSING = "21"


def _measure(project: Project, value: str) -> None:
    for kpi in project.kpis.filter(stage__number=1):
        MeasurementFactory.create(
            kpi=kpi,
            value=Decimal(value),
            measured_at=datetime.combine(date(2026, 6, 1), time(12), tzinfo=GATE_TIMEZONE),
        )


def _gate(project: Project, number: int = 1) -> Gate:
    return Gate.objects.get(stage__project=project, stage__number=number)


@pytest.fixture
def officers():
    return [officer("JP"), officer("KR")]


@pytest.fixture
def auto_call():
    return CallFactory.create(auto_release_on_pass=True)


def _world(n: int, call: Any) -> list[int]:
    """``n`` due gates cycling through: a PASS released automatically (the next stage
    starts), a FAIL left to the officers, a PASS on a final gate with its results
    registered (the project completes), a PASS on a final gate without them (left to the
    officers)."""
    ids = []
    for i in range(n):
        kind = i % 4
        days = (GATE_DAY,) if kind >= 2 else (GATE_DAY, date(2026, 12, 31))
        project = running_project(call=call, gate_days=days)
        _measure(project, PASSING if kind != 1 else "12")
        if kind == 2:
            lead = project.organisations.first()
            assert lead is not None
            IPAsset.objects.create(
                kind="patent", title_en="Result", owner=lead.organisation, project=project
            )
        ids.append(_gate(project).pk)
    return ids


def _counting_decisions(monkeypatch, **kwargs: Any) -> list[int]:
    """Count the statements of each ``gates_decide_automatically`` call of the batch
    evaluation (passing ``kwargs`` over what the evaluation passes)."""
    counts: list[int] = []
    decide: Callable[..., Any] = decisions.gates_decide_automatically

    def counted(items, **given):
        with CaptureQueriesContext(connection) as captured:
            result = decide(items, **{**given, **kwargs})
        counts.append(len(captured.captured_queries))
        return result

    monkeypatch.setattr("projects.services.gates.gates_decide_automatically", counted)
    return counts


# --------------------------------------------------------------------------- rows


def test_an_automatic_release_moves_each_row_and_audits_it_as_a_write_per_row_would(
    officers, auto_call, django_capture_on_commit_callbacks
):
    # Three stages of six months whose later gate days are not yet chained to stage 1's.
    project = running_project(
        call=auto_call, gate_days=(GATE_DAY, date(2026, 12, 31), date(2027, 3, 31))
    )
    _measure(project, PASSING)
    first, second, third = (project.stages.get(number=n) for n in (1, 2, 3))
    planned = list(Tranche.objects.filter(stage=second).order_by("pk"))

    with django_capture_on_commit_callbacks() as callbacks:
        result = gates_evaluate(gate_ids=[_gate(project).pk], as_of=AS_OF)

    decision = GateDecision.objects.get()
    assert result.decisions[_gate(project).pk].pk == decision.pk
    assert decision.automatic and decision.multiplier is not None
    first.refresh_from_db()
    second.refresh_from_db()
    third.refresh_from_db()
    project.refresh_from_db()
    assert (first.state, second.state, third.state) == (
        StageState.PASSED,
        StageState.ACTIVE,
        StageState.PLANNED,
    )
    assert second.started_on == date(2026, 7, 1)
    assert project.current_stage_id == second.pk
    assert [_gate(project, n).state for n in (1, 2, 3)] == [
        GateState.DECIDED,
        GateState.PENDING,
        GateState.PENDING,
    ]
    assert [_gate(project, n).due_on for n in (2, 3)] == [date(2027, 1, 1), date(2027, 7, 2)]
    for tranche in planned:
        tranche.refresh_from_db()
        assert (tranche.state, tranche.multiplier, tranche.decision_id) == (
            TrancheState.DECIDED,
            decision.multiplier,
            decision.pk,
        )
        assert tranche.decided_at is not None
    assert not Tranche.objects.filter(stage=third).exclude(state=TrancheState.PLANNED).exists()

    events = list(
        AuditEvent.objects.filter(id__gt=AuditEvent.objects.get(action="gate.evaluated").pk)
        .order_by("id")
        .values_list("action", "object_type", "object_id", "before", "after")
    )
    # As the decision was made (the column keeps ten places).
    automatic = AuditEvent.objects.get(action="gate_decision.automatic").after
    assert automatic is not None
    multiplier = automatic["multiplier"]
    assert Decimal(multiplier) == decision.multiplier
    assert events == [
        (
            "gate_decision.automatic",
            "projects.gatedecision",
            str(decision.pk),
            None,
            {
                "state": "completed",
                "gate": _gate(project).pk,
                "round": 1,
                "evaluation": decision.evaluation_id,
                "kind": "release",
                "automatic": True,
                "override": False,
                "justification": "",
                "extension_months": None,
                "multiplier": multiplier,
                "first_officer": None,
                "first_side": "",
                "second_officer": None,
                "second_side": "",
            },
        ),
        (
            "stage.passed",
            "projects.stage",
            str(first.pk),
            {"state": "gate_pending"},
            {"state": "passed", "decision": decision.pk},
        ),
        (
            "gate.decided",
            "projects.gate",
            str(_gate(project).pk),
            {"state": "evaluated"},
            {"state": "decided", "decision": decision.pk, "kind": "release"},
        ),
        (
            "stage.started",
            "projects.stage",
            str(second.pk),
            {"state": "planned"},
            {
                "state": "active",
                "started_on": "2026-07-01",
                "gate_due_on": "2027-01-01",
                "later_gates_moved": [{"stage": 3, "from": "2027-03-31", "to": "2027-07-02"}],
                "deliverables_moved": [],
            },
        ),
        *(
            (
                "tranche.decided",
                "projects.tranche",
                str(tranche.pk),
                {"state": "planned"},
                {
                    "state": "decided",
                    "multiplier": multiplier,
                    "decision": decision.pk,
                    "planned": tranche.planned,
                    "currency": tranche.currency,
                },
            )
            for tranche in planned
        ),
    ]
    # Each decided tranche's release is asked for after commit, in pk order.
    enqueued = [getattr(c, "tranche_id", None) for c in callbacks]
    assert [pk for pk in enqueued if pk is not None] == [t.pk for t in planned]


def test_an_automatic_decisions_row_holds_what_the_models_defaults_would_write(officers, auto_call):
    # given a PASS decided automatically by the batch
    project = running_project(call=auto_call, gate_days=(GATE_DAY, date(2026, 12, 31)))
    _measure(project, PASSING)

    result = gates_evaluate(gate_ids=[_gate(project).pk], as_of=AS_OF)

    # then the row is the one the model's instance would have been saved as
    decision = result.decisions[_gate(project).pk]
    attnames = [f.attname for f in GateDecision._meta.concrete_fields]
    expected = GateDecision(
        state="completed",
        gate=_gate(project),
        round=1,
        evaluation=decision.evaluation,
        kind="release",
        automatic=True,
        multiplier=decision.multiplier,
        first_at=decision.first_at,
        completed_at=decision.completed_at,
    )
    expected.pk = decision.pk
    stored = GateDecision.objects.filter(pk=decision.pk).values(*attnames).get()
    assert stored == {name: getattr(expected, name) for name in attnames}
    # and the instance returned is as saved, with the batch's own gate and snapshot
    assert {name: getattr(decision, name) for name in attnames} == stored
    assert not decision._state.adding
    assert decision.gate is not None and decision.gate.state == GateState.DECIDED
    assert decision.evaluation is result.evaluations[_gate(project).pk]


def test_the_batch_names_the_tranches_each_decision_decided_as_a_read_would(officers, auto_call):
    # given gates released automatically (the next stage's tranches decided), completed
    # (no next stage) and left to the officers
    ids = _world(8, auto_call)

    result = gates_evaluate(gate_ids=ids, as_of=AS_OF)

    # then each releasing gate names its decision's decided tranches in pk order, and no
    # other gate is named
    read: dict[int, list[int]] = {}
    for tranche_id, decision_id in (
        Tranche.objects.filter(decision__in=list(result.decisions.values()))
        .filter(state=TrancheState.DECIDED)
        .order_by("pk")
        .values_list("pk", "decision_id")
    ):
        gate_id = GateDecision.objects.get(pk=decision_id).gate_id
        read.setdefault(gate_id, []).append(tranche_id)
    assert len(read) == 2
    assert result.tranches == read


# --------------------------------------------------------------------------- statements


def test_a_batchs_decisions_take_a_fixed_number_of_statements(officers, auto_call, monkeypatch):
    counts = _counting_decisions(monkeypatch)

    small = gates_evaluate(gate_ids=_world(4, auto_call), as_of=AS_OF)
    large = gates_evaluate(gate_ids=_world(12, auto_call), as_of=AS_OF)

    assert (len(small.decisions), len(large.decisions)) == (2, 6)
    # The final-gate requirement (one registered), the deliverables held, the decisions'
    # insert, the stages', deliverables' and tranches' locks, the officers and one write
    # (the organisations come with the items, read by the evaluation).
    assert counts == [DECIDE_STATEMENTS, DECIDE_STATEMENTS]
    assert Project.objects.filter(state=ProjectState.COMPLETED).count() == 1 + 3
    assert Notification.objects.filter(message="gate.decision_needed").count() == 2 * (2 + 6)


DECIDE_STATEMENTS = 8


def test_items_without_their_organisations_have_them_read_once(officers, auto_call, monkeypatch):
    # given the evaluation's items stripped of the organisations it read
    counts: list[int] = []
    decide: Callable[..., Any] = decisions.gates_decide_automatically

    def stripped(items, **given):
        with CaptureQueriesContext(connection) as captured:
            result = decide([replace(item, organisation_ids=None) for item in items], **given)
        counts.append(len(captured.captured_queries))
        return result

    monkeypatch.setattr("projects.services.gates.gates_decide_automatically", stripped)

    # when they are decided
    ids = _world(4, auto_call)
    gates_evaluate(gate_ids=ids, as_of=AS_OF)

    # then the organisations are read in one more statement, and every event carries them
    assert counts == [DECIDE_STATEMENTS + 1]
    for gate in Gate.objects.filter(pk__in=ids).select_related("stage"):
        expected = list(
            gate.stage.project.organisations.order_by("order", "id").values_list(
                "organisation_id", flat=True
            )
        )
        events = OutboxEvent.objects.filter(
            kind__in=["gate.decided", "gate.decision_needed"], object_id=str(gate.pk)
        )
        assert [event.organisation_ids for event in events] == [expected]


def test_officers_the_caller_has_read_are_the_ones_told(officers, auto_call, monkeypatch):
    jp, _kr = officers
    counts = _counting_decisions(
        monkeypatch, fund_officers=[(jp.pk, jp.preferred_language, jp.is_active, jp.email)]
    )

    gates_evaluate(gate_ids=_world(4, auto_call), as_of=AS_OF)

    needed = Notification.objects.filter(message="gate.decision_needed")
    assert sorted(needed.values_list("user_id", flat=True)) == [jp.pk, jp.pk]
    assert counts == [DECIDE_STATEMENTS - 1]  # no officers read


def _scans(plan: dict) -> Iterator[tuple[str, str | None]]:
    yield plan["Node Type"], plan.get("Relation Name")
    for child in plan.get("Plans", ()):
        yield from _scans(child)


@pytest.mark.parametrize(
    ("sql", "table", "columns"),
    [
        (decisions._STAGES_SQL, "projects_stage", ("active", date(2026, 4, 1))),
        (decisions._GATES_SQL, "projects_gate", ("pending", date(2026, 9, 30))),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_the_rows_decisions_move_are_found_by_their_primary_key(sql, table, columns, owner_cursor):
    """§19: the stages and gates a batch of decisions moves are probed by id; the arrays
    joined alone were matched by a hash join over a sequential scan of the whole table,
    which the planner estimates cheaper than the probes long after it is slower."""
    project = running_project(call=CallFactory.create())
    stages = Stage.objects.bulk_create(
        Stage(project=project, number=number, title="s", months=6) for number in range(3, 20_003)
    )
    Gate.objects.bulk_create(Gate(stage=stage, due_on=date(2027, 1, 1)) for stage in stages)
    # Committed (``transaction=True``), so the owner's ``ANALYZE`` sees them.
    with owner_cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    # A batch's: 150 of 20,000 (every other one of 300 in a row, as a batch's stages are).
    ids = [stage.pk for stage in stages[1000:1300:2]]
    with connection.cursor() as cursor:
        cursor.execute(
            f"EXPLAIN (FORMAT JSON) {sql}",
            [ids, *([value] * len(ids) for value in columns), ids],
        )
        plan = cursor.fetchone()[0][0]["Plan"]
    scans = set(_scans(plan))
    assert ("Seq Scan", table) not in scans, scans
    assert any(relation == table for _type, relation in scans)


def test_every_update_of_a_batch_of_decisions_names_its_rows_by_id():
    """The projects' updates take the same form as the stages' and gates' above."""
    for sql in (
        decisions._STAGES_SQL,
        decisions._GATES_SQL,
        decisions._PROJECTS_MOVED_SQL,
        decisions._PROJECTS_COMPLETED_SQL,
    ):
        assert sql.rstrip().endswith("WHERE t.id = v.id AND t.id = ANY(%s::bigint[])")
