"""Award decisions under the two-person rule (§2, §6), screening (§11), project creation."""

from __future__ import annotations

import pytest

from fundapp.accounts.models import Role
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.notifications.models import Notification
from fundapp.screening.importing import parse_restricted_parties
from fundapp.screening.models import ScreeningCase, ScreeningState
from fundapp.screening.services import restricted_parties_import, screening_case_decide
from projects.models import AwardDecision, DecisionState, Project, ProposalState
from projects.services import awards as svc
from tests.factories import UserFactory, officer
from tests.factories.review import fund_pools, make_officers, proposal_under_review

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls"),
]


@pytest.fixture(autouse=True)
def _eager_celery():
    """The award releases tranche 1 after commit; run such tasks inline."""
    from fundapp.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


def events(obj, action: str):
    return AuditEvent.objects.filter(
        object_type=obj._meta.label_lower, object_id=str(obj.pk), action=action
    )


def screening_case(proposal) -> ScreeningCase | None:
    return (
        ScreeningCase.objects.filter(subject_type="proposal", subject_id=proposal.pk)
        .exclude(state=ScreeningState.SUPERSEDED)
        .first()
    )


def screening_officer():
    return UserFactory.create(role=Role.SCREENING_OFFICER)


# --------------------------------------------------------------------------- two-person rule


def test_the_first_approval_is_pending_and_tells_the_other_side():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)

    decision = svc.award_approve(
        proposal=proposal, actor=officers.jp, outcome="reject", reason="Weak reviews."
    )

    assert decision.state == DecisionState.PENDING
    assert decision.first_officer == officers.jp and decision.first_side == "JP"
    assert decision.second_officer is None
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.UNDER_REVIEW
    assert events(decision, "award.approved").get().after["side"] == "JP"
    told = set(Notification.objects.filter(kind="decision_needed").values_list("user", flat=True))
    assert told == {officers.kr.pk, officers.kr2.pk}


def test_the_same_person_cannot_approve_twice():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    svc.award_approve(proposal=proposal, actor=officers.jp, outcome="reject", reason="Weak.")

    with pytest.raises(PermissionDenied) as refused:
        svc.award_approve(proposal=proposal, actor=officers.jp, outcome="reject", reason="Again.")

    assert str(refused.value.message) == (
        "You have already approved this decision; a fund officer of the other side must complete it."
    )
    assert AwardDecision.objects.get(proposal=proposal).state == DecisionState.PENDING


def test_the_second_approval_must_come_from_the_other_side():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    svc.award_approve(proposal=proposal, actor=officers.jp, outcome="reject", reason="Weak.")

    with pytest.raises(PermissionDenied) as refused:
        svc.award_approve(proposal=proposal, actor=officers.jp2, outcome="reject", reason="Agree.")

    assert "The second approval must come from the other side" in str(refused.value.message)
    assert AwardDecision.objects.get(proposal=proposal).state == DecisionState.PENDING


def test_a_different_outcome_is_refused_until_the_first_officer_cancels():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    pending = svc.award_approve(
        proposal=proposal, actor=officers.jp, outcome="reject", reason="Weak."
    )

    with pytest.raises(Conflict) as refused:
        svc.award_approve(proposal=proposal, actor=officers.kr, outcome="award", reason="Strong.")
    assert refused.value.code == "outcome_differs"
    assert "withdraw" in str(refused.value.message)

    with pytest.raises(PermissionDenied):
        svc.award_decision_cancel(decision=pending, actor=officers.kr)
    cancelled = svc.award_decision_cancel(decision=pending, actor=officers.jp)
    assert cancelled.state == DecisionState.WITHDRAWN
    assert events(pending, "award.withdrawn").count() == 1
    with pytest.raises(Conflict):
        svc.award_decision_cancel(decision=pending, actor=officers.jp)

    # A fresh decision can now be proposed, by either side.
    fresh = svc.award_approve(
        proposal=proposal, actor=officers.kr, outcome="reject", reason="On reflection, weak."
    )
    assert fresh.pk != pending.pk and fresh.first_side == "KR"


def test_the_other_side_completes_a_rejection():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    svc.award_approve(proposal=proposal, actor=officers.kr, outcome="reject", reason="Weak.")

    decision = svc.award_approve(
        proposal=proposal, actor=officers.jp, outcome="reject", reason="Agreed."
    )

    assert decision.state == DecisionState.COMPLETED
    assert (decision.first_side, decision.second_side) == ("KR", "JP")
    assert decision.second_officer == officers.jp
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.REJECTED
    rejected = events(proposal, "proposal.rejected").get()
    assert rejected.after["reason"] == "Weak." and rejected.after["decision"] == decision.pk
    assert events(decision, "award.completed").get().after["second_reason"] == "Agreed."
    assert not Project.objects.filter(proposal=proposal).exists()
    assert Notification.objects.filter(kind="award_decided", user=c.pi_jp).exists()
    with pytest.raises(Conflict):
        svc.award_approve(proposal=proposal, actor=officers.kr2, outcome="reject", reason="x")


@pytest.mark.parametrize("who", ["researcher", "reviewer", "finance", "screening", "sideless"])
def test_only_fund_officers_with_a_side_decide(who):
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    actor = {
        "researcher": c.pi_jp,
        "reviewer": UserFactory.create(role=Role.REVIEWER),
        "finance": UserFactory.create(role=Role.FINANCE_OFFICER, side="JP"),
        "screening": screening_officer(),
        "sideless": officer(side=""),
    }[who]
    with pytest.raises(PermissionDenied):
        svc.award_approve(proposal=proposal, actor=actor, outcome="reject", reason="x")
    assert not AwardDecision.objects.filter(proposal=proposal).exists()


def test_a_reason_and_a_known_outcome_are_required():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    with pytest.raises(ValidationFailed) as refused:
        svc.award_approve(proposal=proposal, actor=officers.jp, outcome="maybe", reason="  ")
    assert set(refused.value.errors) == {"outcome", "reason"}


def test_only_a_proposal_under_review_can_be_decided():
    from tests.factories.review import eligible_proposal

    officers = make_officers()
    proposal, _c = eligible_proposal()
    with pytest.raises(Conflict):
        svc.award_approve(proposal=proposal, actor=officers.jp, outcome="reject", reason="x")


# --------------------------------------------------------------------------- award → project


def test_an_award_without_screening_reasons_creates_the_project():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    fund_pools(c.call, officers.jp)

    first = svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")
    assert svc.proposal_screening_clearance(proposal) == "not_required"
    assert screening_case(proposal) is None
    decision = svc.award_approve(
        proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed."
    )

    assert decision.pk == first.pk and decision.state == DecisionState.COMPLETED
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.AWARDED
    project = Project.objects.get(proposal=proposal)
    assert events(proposal, "proposal.awarded").get().after["project"] == project.pk
    assert events(project, "project.created").count() == 1


def test_an_over_committed_pool_rolls_the_award_back_and_keeps_it_pending():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    fund_pools(c.call, officers.jp, jp=1_000, kr=10**11)  # the JP side cannot cover 100M JPY
    svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")

    with pytest.raises(Conflict) as refused:
        svc.award_approve(proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed.")

    assert refused.value.code == "pool_insufficient"
    decision = AwardDecision.objects.get(proposal=proposal)
    assert decision.state == DecisionState.PENDING and decision.second_officer is None
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.UNDER_REVIEW
    assert not Project.objects.filter(proposal=proposal).exists()
    assert not events(decision, "award.completed").exists()


# --------------------------------------------------------------------------- screening gate


def test_a_dual_use_award_waits_for_screening_clearance():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp, dual_use=True)
    fund_pools(c.call, officers.jp)

    svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")
    case = screening_case(proposal)
    assert case is not None and case.state == ScreeningState.OPEN  # opened at the first approval
    assert [r["code"] for r in case.reasons] == ["dual_use"]
    assert {p["organisation_id"] for p in case.parties} == {c.jp.pk, c.kr.pk}

    with pytest.raises(Conflict) as refused:
        svc.award_approve(proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed.")
    assert refused.value.code == "screening_pending"
    assert "waits for screening clearance" in str(refused.value.message)
    assert AwardDecision.objects.get(proposal=proposal).state == DecisionState.PENDING
    assert not Project.objects.filter(proposal=proposal).exists()

    screening_case_decide(
        case=case, actor=screening_officer(), decision="clear", reason="Civil use only."
    )
    decision = svc.award_approve(
        proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed."
    )

    assert decision.state == DecisionState.COMPLETED
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.AWARDED
    assert Project.objects.filter(proposal=proposal).exists()


def test_a_blocked_screening_refuses_the_award_for_good():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp, dual_use=True)
    fund_pools(c.call, officers.jp)
    svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")
    case = screening_case(proposal)
    assert case is not None
    screening_case_decide(
        case=case,
        actor=screening_officer(),
        decision="block",
        reason="Controlled end use.",
    )
    with pytest.raises(Conflict) as refused:
        svc.award_approve(proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed.")
    assert refused.value.code == "screening_blocked"
    assert not Project.objects.filter(proposal=proposal).exists()


def test_a_restricted_party_match_on_the_korean_name_holds_an_otherwise_clean_award():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    fund_pools(c.call, officers.jp)
    parsed = parse_restricted_parties(
        f"name,aliases,country,source\n{c.kr.name_ko},,KR,TEST-LIST\n".encode()
    )
    assert parsed.ok, parsed.errors
    restricted_parties_import(rows=parsed.rows)

    svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")

    case = screening_case(proposal)
    assert case is not None and case.matches
    assert [r["code"] for r in case.reasons] == ["restricted_party_match"]
    with pytest.raises(Conflict) as refused:
        svc.award_approve(proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed.")
    assert refused.value.code == "screening_pending"


def test_a_list_imported_after_the_first_approval_is_matched_at_completion():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    fund_pools(c.call, officers.jp)
    svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")
    assert screening_case(proposal) is None
    parsed = parse_restricted_parties(
        f"name,aliases,country,source\n{c.jp.name_en},,JP,TEST-LIST\n".encode()
    )
    restricted_parties_import(rows=parsed.rows)

    with pytest.raises(Conflict):
        svc.award_approve(proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed.")

    # The refused completion keeps the case it opened, so screening officers see it.
    case = screening_case(proposal)
    assert case is not None and case.state == ScreeningState.OPEN and case.matches
