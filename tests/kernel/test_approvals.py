"""The one two-person approval component (§2), for every kind of two-person decision.

One parametrised suite: the first approval is pending; the same person again and the same
side are refused with the same messages everywhere; an officer of the other side completes
it and the domain's consequence follows; the first approver withdraws; an officer of the
other side declines with a reason; the database refuses a completed decision without two
approvers of different sides; two officers approving at once complete it once (real
threads against real PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from fundapp.accounts.models import User
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel.approvals import DecisionState, TwoPersonDecision
from fundapp.notifications.models import Notification
from ip_licensing.models import AllocationChange, LicenceApproval, LicenceState
from ip_licensing.services import allocation as allocation_svc
from ip_licensing.services import licences as licence_svc
from ip_licensing.services.allocation import current_table
from projects.models import (
    AwardDecision,
    GateDecision,
    GateState,
    Proposal,
    ProposalState,
)
from projects.services import awards as award_svc
from projects.services import decisions as gate_svc
from tests.concurrency import run_at_once
from tests.factories import officer

SAME_PERSON = (
    "You have already approved this decision; a fund officer of the other side must complete it."
)


@dataclass
class Case:
    """One decision subject with its officers and the domain's calls."""

    jp: User
    kr: User
    jp2: User
    # Each domain's concrete decision model (AwardDecision, GateDecision, …).
    approve: Callable[[User], Any]
    withdraw: Callable[[Any, User], Any]
    decline: Callable[[Any, User, Any], Any]
    decisions: Callable[[], Any]  # the subject's decisions, a queryset
    consequence: Callable[[], bool]  # has the domain's consequence happened?


def award_case() -> Case:
    from tests.factories.review import fund_pools, make_officers, proposal_under_review

    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    fund_pools(c.call, officers.jp)
    pk = proposal.pk
    return Case(
        jp=officers.jp,
        kr=officers.kr,
        jp2=officers.jp2,
        approve=lambda actor: award_svc.award_approve(
            proposal=Proposal.objects.get(pk=pk), actor=actor, outcome="reject", reason="Weak."
        ),
        withdraw=lambda d, actor: award_svc.award_decision_withdraw(decision=d, actor=actor),
        decline=lambda d, actor, reason: award_svc.award_decision_decline(
            decision=d, actor=actor, reason=reason
        ),
        decisions=lambda: AwardDecision.objects.filter(proposal_id=pk),
        consequence=lambda: Proposal.objects.get(pk=pk).state == ProposalState.REJECTED,
    )


def _gate_case(*, outcome: str, kind: str, justification: str = "") -> Case:
    from tests.factories.engine import (
        award,
        engine_proposal,
        fund_pools,
        gate_of,
        make_staff,
        record_evaluation,
    )

    staff = make_staff()
    fund_pools(staff)
    proposal, _c = engine_proposal()
    project = award(proposal, staff, started_on=date(2026, 4, 1))
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome=outcome, score="0.9000" if outcome != "fail" else "0.2000")
    gate_pk = gate.pk

    def approve(actor: User) -> GateDecision:
        return gate_svc.gate_decision_approve(
            gate=type(gate).objects.get(pk=gate_pk),
            actor=actor,
            kind=kind,
            justification=justification,
        )

    return Case(
        jp=staff.jp,
        kr=staff.kr,
        jp2=staff.jp2,
        approve=approve,
        withdraw=lambda d, actor: gate_svc.gate_decision_withdraw(decision=d, actor=actor),
        decline=lambda d, actor, reason: gate_svc.gate_decision_decline(
            decision=d, actor=actor, reason=reason
        ),
        decisions=lambda: GateDecision.objects.filter(gate_id=gate_pk),
        consequence=lambda: type(gate).objects.get(pk=gate_pk).state == GateState.DECIDED,
    )


def gate_case() -> Case:
    return _gate_case(outcome="conditional", kind="release_reduced")


def gate_override_case() -> Case:
    return _gate_case(
        outcome="fail", kind="release_reduced", justification="The delay was the foundry's."
    )


def licence_case() -> Case:
    from tests.factories.licences import days, make_world, pending

    world = make_world()
    # Starting later: approval completes without activation (no upfront fee posted here).
    licence = pending(world, start_on=days(10).isoformat(), end_on=days(100).isoformat())
    pk = licence.pk

    def approve(actor: User) -> LicenceApproval:
        licence_svc.licence_approve(licence=type(licence).objects.get(pk=pk), actor=actor)
        approval = LicenceApproval.objects.filter(licence_id=pk).order_by("-id").first()
        assert approval is not None
        return approval

    return Case(
        jp=world.jp,
        kr=world.kr,
        jp2=world.jp2,
        approve=approve,
        withdraw=lambda d, actor: licence_svc.licence_approval_withdraw(approval=d, actor=actor),
        decline=lambda d, actor, reason: licence_svc.licence_approval_decline(
            approval=d, actor=actor, reason=reason
        ),
        decisions=lambda: LicenceApproval.objects.filter(licence_id=pk),
        consequence=lambda: type(licence).objects.get(pk=pk).state == LicenceState.APPROVED,
    )


def allocation_case() -> Case:
    from tests.factories.licensing import make_project_world

    pw = make_project_world()
    table = [[pw.partner_jp.pk, 2500], [pw.partner_kr.pk, 7500]]

    return Case(
        jp=pw.jp,
        kr=pw.kr,
        jp2=officer("JP"),
        approve=lambda actor: allocation_svc.allocation_change_approve(
            project=pw.project, actor=actor, table=table, reason="The KR partner manufactures."
        ),
        withdraw=lambda d, actor: allocation_svc.allocation_change_withdraw(change=d, actor=actor),
        decline=lambda d, actor, reason: allocation_svc.allocation_change_decline(
            change=d, actor=actor, reason=reason
        ),
        decisions=lambda: AllocationChange.objects.filter(project=pw.project),
        consequence=lambda: (
            sorted(current_table(pw.project))
            == sorted([(pw.partner_jp.pk, 2500), (pw.partner_kr.pk, 7500)])
        ),
    )


CASES = {
    "award": award_case,
    "gate_decision": gate_case,
    "gate_override": gate_override_case,
    "licence_approval": licence_case,
    "allocation_change": allocation_case,
}
AUDIT_KIND = {
    "award": "award",
    "gate_decision": "gate_decision",
    "gate_override": "gate_decision",
    "licence_approval": "licence_approval",
    "allocation_change": "allocation_change",
}


@pytest.fixture(autouse=True)
def _eager_celery_and_private_media(settings, tmp_path):
    from fundapp.celery import app

    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture(params=list(CASES))
def kind(request) -> str:
    return request.param


@pytest.fixture
def case(kind, db) -> Case:
    return CASES[kind]()


def actions(decision: TwoPersonDecision) -> list[str]:
    return list(
        AuditEvent.objects.filter(
            object_type=decision._meta.label_lower, object_id=str(decision.pk)
        )
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_the_first_approval_is_pending(case, kind):
    decision = case.approve(case.jp)

    assert decision.state == DecisionState.PENDING
    assert (decision.first_officer_id, decision.first_side) == (case.jp.pk, "JP")
    assert decision.needed_side == "KR"
    assert actions(decision) == [f"{AUDIT_KIND[kind]}.approved"]
    assert not case.consequence()


def test_the_same_person_again_is_refused(case):
    case.approve(case.jp)

    with pytest.raises(PermissionDenied) as refused:
        case.approve(case.jp)

    assert (refused.value.code, str(refused.value.message)) == ("same_person", SAME_PERSON)
    assert list(case.decisions().values_list("state", flat=True)) == ["pending"]


def test_the_same_side_is_refused(case):
    first = case.approve(case.jp)

    with pytest.raises(PermissionDenied) as refused:
        case.approve(case.jp2)

    assert refused.value.code == "same_side"
    assert str(refused.value.message) == (
        f"The second approval must come from the other side: {first.first_officer} approved "
        "for the Japan side; an officer of the Korea side must complete or decline it."
    )
    assert list(case.decisions().values_list("state", flat=True)) == ["pending"]
    assert not case.consequence()


def test_the_other_side_completes_it_and_the_consequence_follows(case, kind):
    first = case.approve(case.jp)

    done = case.approve(case.kr)

    assert done.pk == first.pk
    done.refresh_from_db()
    assert done.state == DecisionState.COMPLETED
    assert (done.second_officer_id, done.second_side) == (case.kr.pk, "KR")
    assert done.second_at is not None
    assert actions(done) == [f"{AUDIT_KIND[kind]}.approved", f"{AUDIT_KIND[kind]}.completed"]
    assert case.consequence()


def test_the_first_approver_withdraws_and_a_new_decision_can_start(case, kind):
    first = case.approve(case.jp)

    with pytest.raises(PermissionDenied) as refused:
        case.withdraw(first, case.kr)
    assert str(refused.value.message) == (
        "Only the officer who approved first may withdraw this approval."
    )

    withdrawn = case.withdraw(first, case.jp)

    assert withdrawn.state == DecisionState.WITHDRAWN
    assert withdrawn.withdrawn_at is not None
    assert actions(first)[-1] == f"{AUDIT_KIND[kind]}.withdrawn"
    with pytest.raises(Conflict):
        case.withdraw(first, case.jp)
    # Ended: an officer of either side may start a new one.
    again = case.approve(case.kr)
    assert again.pk != first.pk and again.state == DecisionState.PENDING
    assert not case.consequence()


def test_the_other_side_declines_with_a_reason(case, kind):
    first = case.approve(case.jp)

    for actor in (case.jp, case.jp2):
        with pytest.raises(PermissionDenied):
            case.decline(first, actor, "No.")
    with pytest.raises(ValidationFailed) as missing:
        case.decline(first, case.kr, "  ")
    assert "reason" in missing.value.errors
    first.refresh_from_db()
    assert first.state == DecisionState.PENDING

    declined = case.decline(first, case.kr, "The evidence does not support it.")

    declined.refresh_from_db()
    assert declined.state == DecisionState.DECLINED
    assert (declined.declined_by_id, declined.declined_side) == (case.kr.pk, "KR")
    assert declined.decline_reason == "The evidence does not support it."
    assert actions(first)[-1] == f"{AUDIT_KIND[kind]}.declined"
    told = Notification.objects.filter(kind="decision_needed", user=case.jp).latest("id")
    assert told.shown_body == "The evidence does not support it."
    assert not case.consequence()
    with pytest.raises(Conflict):
        case.withdraw(first, case.jp)
    again = case.approve(case.jp)
    assert again.pk != first.pk and again.state == DecisionState.PENDING


def test_the_database_refuses_a_completed_decision_without_two_sides(case):
    first = case.approve(case.jp)
    rows = type(first).objects.filter(pk=first.pk)

    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(state=DecisionState.COMPLETED)
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(state=DecisionState.DECLINED)
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(state="maybe")
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(second_officer=case.jp2, second_side="JP")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", list(CASES))
def test_officers_of_both_sides_at_once_complete_it_once(name):
    case = CASES[name]()
    actors = [case.jp, case.kr]

    _results, errors = run_at_once(lambda index: case.approve(actors[index]), threads=2)

    assert errors == [None, None]
    decision = case.decisions().get()
    assert decision.state == DecisionState.COMPLETED
    assert {decision.first_side, decision.second_side} == {"JP", "KR"}
    assert actions(decision).count(f"{AUDIT_KIND[name]}.completed") == 1
    assert case.consequence()


@pytest.mark.parametrize(
    ("app", "module", "function", "kind"),
    [
        (
            "projects",
            "0008_two_person_decisions",
            "award_cancellations_are_withdrawals",
            "award",
        ),
        (
            "ip_licensing",
            "0004_two_person_decisions",
            "allocation_cancellations_are_withdrawals",
            "allocation_change",
        ),
    ],
)
def test_existing_cancellations_by_the_first_approver_become_withdrawals(
    app, module, function, kind, db
):
    import importlib

    from django.apps import apps

    case = CASES[kind]()
    decision = case.approve(case.jp)
    type(decision).objects.filter(pk=decision.pk).update(state="cancelled")

    getattr(importlib.import_module(f"{app}.migrations.{module}"), function)(apps, None)

    decision.refresh_from_db()
    assert (decision.state, decision.withdrawn_at) == ("withdrawn", decision.first_at)
