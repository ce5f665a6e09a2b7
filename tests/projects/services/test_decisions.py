"""Gate decisions (§8) under the two-person rule (§2): automatic, approved, refused, applied."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from projects.models import (
    DecisionState,
    GateDecision,
    GateState,
    ProjectState,
    StageState,
    TrancheState,
)
from projects.selectors.decisions import gate_pending_approval
from projects.services.decisions import (
    final_gate_requirements_met,
    gate_decide_automatically,
    gate_decision_approve,
)
from tests.factories import UserFactory, officer
from tests.factories.engine import (
    award,
    committed,
    engine_proposal,
    evaluate,
    fund_pools,
    gate_of,
    make_staff,
    record_evaluation,
    stage,
    tranche,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

START = date(2026, 4, 1)


@pytest.fixture
def staff():
    return make_staff()


@pytest.fixture
def project(staff):
    fund_pools(staff)
    proposal, _c = engine_proposal()
    return award(proposal, staff, started_on=START)


def test_a_pass_is_decided_automatically_and_starts_the_next_stage_the_day_after_the_gate(
    project, django_capture_on_commit_callbacks
):
    gate = gate_of(project, 1)
    assert gate.due_on == date(2027, 4, 1)

    with django_capture_on_commit_callbacks() as callbacks:
        decision = evaluate(gate, outcome="pass", score="1.0500")

    assert decision.state == DecisionState.COMPLETED
    assert (decision.automatic, decision.first_officer, decision.override) == (True, None, False)
    assert decision.multiplier == Decimal("1.025")
    s1, s2 = stage(project, 1), stage(project, 2)
    assert s1.state == StageState.PASSED
    assert gate_of(project, 1).state == GateState.DECIDED
    assert (s2.state, s2.started_on) == (StageState.ACTIVE, date(2027, 4, 2))
    assert s2.gate.due_on == date(2028, 4, 2)
    project.refresh_from_db()
    assert project.current_stage_id == s2.pk
    t2 = tranche(project, 2, "JP")
    assert (t2.state, t2.multiplier, t2.decision_id) == (
        TrancheState.DECIDED,
        Decimal("1.025"),
        decision.pk,
    )
    assert len([c for c in callbacks if "tranche_enqueue_release" in c.__qualname__]) == 2
    assert AuditEvent.objects.filter(action="gate_decision.automatic").count() == 1
    # A second call for the same round decides nothing more.
    assert gate_decide_automatically(evaluation=decision.evaluation) is None


@pytest.mark.parametrize("outcome", ["conditional", "fail"])
def test_anything_but_a_pass_waits_for_officers(project, outcome):
    assert evaluate(gate_of(project, 1), outcome=outcome, score="0.8500") is None

    assert stage(project, 1).state == StageState.GATE_PENDING
    assert gate_of(project, 1).state == GateState.EVALUATED
    assert not GateDecision.objects.exists()


def test_a_pass_without_auto_release_is_released_by_two_officers_with_the_bonus(staff):
    fund_pools(staff, jp_reserve=100_000_000)
    proposal, _c = engine_proposal()
    proposal.call.auto_release_on_pass = False
    proposal.call.save(update_fields=["auto_release_on_pass"])
    project = award(proposal, staff)
    gate = gate_of(project, 1)
    assert evaluate(gate, outcome="pass", score="1.1000") is None

    pending = gate_decision_approve(gate=gate, actor=staff.jp, kind="release")
    shown = gate_pending_approval(gate)
    done = gate_decision_approve(gate=gate, actor=staff.kr, kind="release")

    assert pending.state == DecisionState.PENDING
    assert shown is not None
    assert (shown.first_officer_id, shown.first_side, shown.needed_side) == (
        staff.jp.pk,
        "JP",
        "KR",
    )
    assert shown.kind == "release" and not shown.stale
    assert done.pk == pending.pk and done.state == DecisionState.COMPLETED
    assert (done.first_officer, done.second_officer) == (staff.jp, staff.kr)
    assert done.multiplier == Decimal("1.05")
    assert gate_pending_approval(gate_of(project, 1)) is None
    assert tranche(project, 2, "KR").state == TrancheState.DECIDED
    assert AuditEvent.objects.filter(action="gate_decision.completed").count() == 1


def test_the_same_officer_cannot_approve_twice(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="conditional", score="0.9000")
    gate_decision_approve(gate=gate, actor=staff.jp, kind="release_reduced")

    with pytest.raises(PermissionDenied, match="already approved"):
        gate_decision_approve(gate=gate, actor=staff.jp, kind="release_reduced")


def test_the_second_approval_must_come_from_the_other_side(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="conditional", score="0.9000")
    gate_decision_approve(gate=gate, actor=staff.jp, kind="release_reduced")

    with pytest.raises(PermissionDenied, match="Korea side"):
        gate_decision_approve(gate=gate, actor=staff.jp2, kind="release_reduced")
    assert GateDecision.objects.get().state == DecisionState.PENDING


def test_the_second_approval_must_be_for_the_same_kind(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="conditional", score="0.9000")
    gate_decision_approve(gate=gate, actor=staff.jp, kind="release_reduced")

    with pytest.raises(Conflict) as refused:
        gate_decision_approve(gate=gate, actor=staff.kr, kind="extend", extension_months=3)

    assert refused.value.code == "decision_mismatch"
    assert GateDecision.objects.get().state == DecisionState.PENDING


def test_the_database_refuses_one_person_or_one_side_completing_a_decision(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="conditional", score="0.9000")
    pending = gate_decision_approve(gate=gate, actor=staff.jp, kind="release_reduced")

    for second, side in ((staff.jp, "KR"), (staff.jp2, "JP")):
        with pytest.raises(IntegrityError), transaction.atomic():
            GateDecision.objects.filter(pk=pending.pk).update(
                state=DecisionState.COMPLETED, second_officer=second, second_side=side
            )


def test_non_officers_and_officers_without_a_side_cannot_decide(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="conditional", score="0.9000")

    with pytest.raises(PermissionDenied):
        gate_decision_approve(gate=gate, actor=staff.finance_jp, kind="release_reduced")
    with pytest.raises(PermissionDenied, match="no side"):
        gate_decision_approve(gate=gate, actor=officer(side=""), kind="release_reduced")
    with pytest.raises(PermissionDenied):
        gate_decision_approve(gate=gate, actor=UserFactory.create(), kind="release_reduced")


def test_an_override_needs_a_written_justification(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="fail", score="0.5000")

    with pytest.raises(ValidationFailed) as refused:
        gate_decision_approve(gate=gate, actor=staff.jp, kind="release")
    assert "justification" in refused.value.errors
    with pytest.raises(ValidationFailed):
        gate_decision_approve(gate=gate, actor=staff.jp, kind="release", justification="   ")

    gate_decision_approve(
        gate=gate, actor=staff.jp, kind="release", justification="The KPI data feed failed."
    )
    done = gate_decision_approve(gate=gate, actor=staff.kr, kind="release")

    assert (done.override, done.justification) == (True, "The KPI data feed failed.")
    assert done.multiplier == Decimal(1)  # an overriding release pays the plan, no bonus
    assert tranche(project, 2, "JP").multiplier == 1


def test_terminating_a_pass_is_an_override(staff):
    fund_pools(staff)
    proposal, _c = engine_proposal()
    proposal.call.auto_release_on_pass = False
    proposal.call.save(update_fields=["auto_release_on_pass"])
    project = award(proposal, staff)
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="pass", score="1.0000")

    with pytest.raises(ValidationFailed):
        gate_decision_approve(gate=gate, actor=staff.kr, kind="terminate")
    first = gate_decision_approve(
        gate=gate, actor=staff.kr, kind="terminate", justification="Misconduct found."
    )

    assert first.override is True


def test_release_only_on_a_pass_and_release_reduced_only_on_a_conditional(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="conditional", score="0.9000")

    # A full release on a conditional outcome overrides it: refused without justification.
    with pytest.raises(ValidationFailed):
        gate_decision_approve(gate=gate, actor=staff.jp, kind="release")
    with pytest.raises(ValidationFailed):
        gate_decision_approve(gate=gate, actor=staff.jp, kind="promote")


def test_an_extension_moves_the_gate_and_opens_a_new_round_within_the_calls_limits(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="fail", score="0.5000")

    with pytest.raises(ValidationFailed) as too_long:
        gate_decision_approve(gate=gate, actor=staff.jp, kind="extend", extension_months=7)
    assert "extension_months" in too_long.value.errors
    with pytest.raises(ValidationFailed):
        gate_decision_approve(gate=gate, actor=staff.jp, kind="extend")
    gate_decision_approve(gate=gate, actor=staff.jp, kind="extend", extension_months=6)
    with pytest.raises(Conflict):
        gate_decision_approve(gate=gate, actor=staff.kr, kind="extend", extension_months=5)
    done = gate_decision_approve(gate=gate, actor=staff.kr, kind="extend")

    assert done.extension_months == 6
    gate.refresh_from_db()
    s1, s2 = stage(project, 1), stage(project, 2)
    assert (gate.state, gate.round, gate.due_on) == (GateState.PENDING, 2, date(2027, 10, 1))
    assert (s1.state, s1.extensions_used) == (StageState.EXTENDED, 1)
    assert s2.gate.due_on == date(2028, 10, 2)  # the provisional gate moved along
    # Round 2: evaluated again; the call allows one extension only.
    record_evaluation(gate, outcome="fail", score="0.5000")
    with pytest.raises(ValidationFailed, match="1 extension"):
        gate_decision_approve(gate=gate, actor=staff.jp, kind="extend", extension_months=1)
    assert stage(project, 1).state == StageState.EXTENDED  # a refusal changes nothing


def test_terminating_at_a_gate_fails_the_stage_and_returns_the_commitment(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="fail", score="0.4000")

    gate_decision_approve(gate=gate, actor=staff.kr, kind="terminate")
    gate_decision_approve(gate=gate, actor=staff.jp, kind="terminate")

    project.refresh_from_db()
    assert project.state == ProjectState.TERMINATED
    assert stage(project, 1).state == StageState.FAILED
    assert gate_of(project, 1).state == GateState.DECIDED
    assert tranche(project, 2, "JP").state == TrancheState.CANCELLED
    assert committed(project, "JP") == 0
    assert "stage 1" in project.end_reason
    call_command("check_ledger")


def test_passing_the_last_gate_completes_the_project(project, staff):
    from ip_licensing.services.assets import asset_register

    evaluate(gate_of(project, 1), outcome="pass", score="1.0000")
    # The final gate needs the project's results registered, each with one owner (§7, §10.1).
    owner = project.organisations.order_by("order").first().organisation
    asset_register(
        actor=staff.jp,
        data={
            "kind": "software",
            "title_en": "Inference runtime",
            "owner": owner.code,
            "project": project.pk,
        },
    )

    decision = evaluate(gate_of(project, 2), outcome="pass", score="1.0000")

    project.refresh_from_db()
    assert decision is not None
    assert project.state == ProjectState.COMPLETED
    assert project.ended_at is not None
    assert stage(project, 2).state == StageState.PASSED
    assert final_gate_requirements_met(project) == (True, "")
    with pytest.raises(Conflict):
        gate_decision_approve(gate=gate_of(project, 2), actor=staff.jp, kind="release")


def test_the_final_gate_waits_for_officers_when_its_requirements_are_not_met(
    project, staff, monkeypatch
):
    evaluate(gate_of(project, 1), outcome="pass", score="1.0000")
    monkeypatch.setattr(
        "projects.services.decisions.final_gate_requirements_met",
        lambda project: (False, "Register the results as IP assets."),
    )

    assert evaluate(gate_of(project, 2), outcome="pass", score="1.0000") is None
    with pytest.raises(Conflict, match="Register the results"):
        gate_decision_approve(gate=gate_of(project, 2), actor=staff.jp, kind="release")
    project.refresh_from_db()
    assert project.state == ProjectState.ACTIVE


def test_re_evaluating_after_a_first_approval_cancels_it(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="conditional", score="0.9000")
    stale = gate_decision_approve(gate=gate, actor=staff.jp, kind="release_reduced")
    later = record_evaluation(gate, outcome="fail", score="0.6000")
    shown = gate_pending_approval(gate)
    assert shown is not None and shown.stale is True

    fresh = gate_decision_approve(gate=gate, actor=staff.kr, kind="terminate")

    stale.refresh_from_db()
    assert stale.state == DecisionState.CANCELLED
    assert (fresh.state, fresh.first_officer, fresh.evaluation) == (
        DecisionState.PENDING,
        staff.kr,
        later,
    )


def test_a_decision_needs_an_evaluation(project, staff):
    with pytest.raises(Conflict) as refused:
        gate_decision_approve(gate=gate_of(project, 1), actor=staff.jp, kind="terminate")

    assert refused.value.code == "not_evaluated"


def test_a_stale_evaluation_of_an_earlier_round_decides_nothing(project, staff):
    gate = gate_of(project, 1)
    old = record_evaluation(gate, outcome="fail", score="0.5000")
    gate_decision_approve(gate=gate, actor=staff.jp, kind="extend", extension_months=2)
    gate_decision_approve(gate=gate, actor=staff.kr, kind="extend", extension_months=2)

    assert gate_decide_automatically(evaluation=old) is None
    assert stage(project, 1).state == StageState.EXTENDED
    assert gate_of(project, 1).due_on == date(2027, 6, 1)
