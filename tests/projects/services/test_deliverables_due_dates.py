"""Deliverable due dates follow their stage (§24): re-dated in the transaction that moves
the stage — a stage started later than planned, a planned stage re-chained behind a later
gate, a gate extension — never for an accepted deliverable."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fundapp.audit.models import AuditEvent
from projects.models import Deliverable, StageState
from projects.rules.schedule import deliverable_due_after_extension
from projects.services.decisions import gate_decision_approve
from projects.services.deliverables import (
    StageDates,
    deliverable_accept,
    deliverable_submit,
    deliverables_follow_stages,
)
from projects.services.projects import stage_start
from tests.factories.engine import (
    award,
    deliverable,
    engine_proposal,
    fund_pools,
    gate_of,
    make_staff,
    record_evaluation,
    stage,
)
from tests.factories.proposals import MINIMAL_PDF
from tests.workflow_states import force_state

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

# Two stages of 12 months: stage 1 runs 2026-04-01 → gate 2027-04-01, stage 2 is planned
# from 2027-04-02 → gate 2028-04-02.
START = date(2026, 4, 1)


@pytest.fixture
def staff():
    return make_staff()


@pytest.fixture
def world(staff):
    fund_pools(staff)
    proposal, c = engine_proposal(
        deliverables={
            1: [
                deliverable("Test-chip report", due_month=6),
                deliverable("Benchmark dataset", kind="dataset", mandatory=False),
            ],
            2: [
                deliverable("Interim design", due_month=3),
                deliverable("Prototype", kind="prototype"),
            ],
        }
    )
    return award(proposal, staff, started_on=START), c


def moves(event: AuditEvent) -> list[dict]:
    assert event.after is not None
    return event.after["deliverables_moved"]


def due(project, title: str) -> date:
    return Deliverable.objects.get(project=project, title_en=title).due_on


def accept(project, title: str, c, staff) -> None:
    target = Deliverable.objects.get(project=project, title_en=title)
    upload = SimpleUploadedFile("r.pdf", MINIMAL_PDF, content_type="application/pdf")
    deliverable_submit(deliverable=target, actor=c.pi_jp, files=[upload])
    deliverable_accept(deliverable=target, actor=staff.kr)


def extend(project, staff, months: int) -> None:
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="fail", score="0.2000")
    for officer in (staff.jp, staff.kr):
        gate_decision_approve(gate=gate, actor=officer, kind="extend", extension_months=months)


def test_the_award_dates_them_from_the_planned_starts(world):
    project, _c = world
    assert due(project, "Test-chip report") == date(2026, 10, 1)
    assert due(project, "Benchmark dataset") == date(2027, 4, 1)
    assert due(project, "Interim design") == date(2027, 7, 2)
    assert due(project, "Prototype") == date(2028, 4, 2)


def test_a_gate_extension_moves_the_outstanding_deliverables_and_the_later_stages(world, staff):
    project, c = world
    accept(project, "Test-chip report", c, staff)

    extend(project, staff, 3)

    assert gate_of(project, 1).due_on == date(2027, 7, 1)
    # The accepted one keeps its date; the outstanding one moves by the three months, to
    # the new gate day.
    assert due(project, "Test-chip report") == date(2026, 10, 1)
    assert due(project, "Benchmark dataset") == date(2027, 7, 1)
    # Stage 2 now starts on 2027-07-02: its deliverables are due from that start.
    assert due(project, "Interim design") == date(2027, 10, 2)
    assert due(project, "Prototype") == date(2028, 7, 2)
    extended = AuditEvent.objects.filter(action="gate.extended").latest("id")
    moved = {m["deliverable"]: (m["from"], m["to"]) for m in moves(extended)}
    benchmark = Deliverable.objects.get(project=project, title_en="Benchmark dataset")
    assert moved[benchmark.pk] == ("2027-04-01", "2027-07-01")
    assert len(moved) == 3


def test_an_extension_never_moves_a_deliverable_past_the_new_gate_day():
    assert deliverable_due_after_extension(date(2027, 3, 31), 1, date(2027, 4, 15)) == date(
        2027, 4, 15
    )
    assert deliverable_due_after_extension(date(2027, 1, 31), 1, date(2027, 7, 1)) == date(
        2027, 2, 28
    )


def test_a_stage_started_later_than_planned_takes_its_deliverables_along(world, staff):
    project, _c = world
    force_state(stage(project, 1), StageState.PASSED)
    second = stage(project, 2)

    stage_start(stage=second, started_on=date(2027, 6, 1), actor=staff.jp)

    assert gate_of(project, 2).due_on == date(2028, 6, 1)
    assert due(project, "Interim design") == date(2027, 9, 1)
    assert due(project, "Prototype") == date(2028, 6, 1)
    started = AuditEvent.objects.filter(action="stage.started", object_id=str(second.pk)).latest(
        "id"
    )
    assert {(m["from"], m["to"]) for m in moves(started)} == {
        ("2027-07-02", "2027-09-01"),
        ("2028-04-02", "2028-06-01"),
    }


def test_the_release_starts_the_next_stage_and_dates_its_deliverables_from_that_day(world, staff):
    project, c = world
    accept(project, "Test-chip report", c, staff)
    # A date the plan no longer matches (as after a change of the stage's months).
    Deliverable.objects.filter(project=project, title_en="Interim design").update(
        due_on=date(2027, 5, 5)
    )
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="pass", score="1.0000")
    for officer in (staff.jp, staff.kr):
        gate_decision_approve(gate=gate, actor=officer, kind="release")

    assert stage(project, 2).started_on == date(2027, 4, 2)
    assert due(project, "Interim design") == date(2027, 7, 2)
    started = AuditEvent.objects.filter(
        action="stage.started", object_id=str(stage(project, 2).pk)
    ).latest("id")
    assert [(m["from"], m["to"]) for m in moves(started)] == [("2027-05-05", "2027-07-02")]


def test_re_dating_is_two_queries_whatever_the_number_of_stages(
    world, staff, django_assert_num_queries
):
    project, _c = world
    one = [StageDates(stage(project, 2).pk, date(2027, 5, 1), date(2028, 5, 1))]
    both = [
        StageDates(stage(project, 1).pk, date(2026, 5, 1), date(2027, 5, 1)),
        StageDates(stage(project, 2).pk, date(2027, 6, 1), date(2028, 6, 1)),
    ]
    with django_assert_num_queries(2):
        deliverables_follow_stages(stages=one)
    with django_assert_num_queries(2):
        deliverables_follow_stages(stages=both)
    with django_assert_num_queries(0):
        assert deliverables_follow_stages(stages=[]) == []
    assert due(project, "Test-chip report") == date(2026, 11, 1)
