"""Proposal, review and award events reach the outbox with the change (§13.2): exactly one
event of the right type, with the resource's data and the organisations allowed to see
it; a change that rolls back writes none."""

from __future__ import annotations

import pytest
from django.db import transaction

from projects.models import ProposalState
from projects.services import awards as award_svc
from projects.services import proposals as proposal_svc
from projects.services import reviews as review_svc
from tests.factories.proposals import complete_proposal, submitted_proposal
from tests.factories.review import eligible_proposal, make_officers, proposal_under_review, reviewer
from tests.outbox import events_of, the_event

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls"),
]


def test_submitting_a_proposal_writes_proposal_submitted_for_its_consortium():
    proposal, c = submitted_proposal()

    data = the_event("proposal.submitted", proposal, organisations=[c.jp.pk, c.kr.pk])

    assert data["id"] == proposal.pk and data["state"] == "submitted"
    assert data["call"] == c.call.pk and data["title_en"] == proposal.title_en


def test_a_submission_that_rolls_back_writes_no_event():
    draft, c = complete_proposal()
    with pytest.raises(RuntimeError), transaction.atomic():
        proposal_svc.proposal_submit(proposal=draft, actor=c.pi_jp)
        assert events_of("proposal.submitted")
        raise RuntimeError("after the submission")
    assert events_of("proposal.submitted") == []


def test_the_last_endorsement_writes_proposal_eligibility_decided():
    proposal, c = eligible_proposal()

    data = the_event("proposal.eligibility_decided", proposal, organisations=[c.jp.pk, c.kr.pk])

    assert data["state"] == "eligible" and data["eligibility_reasons"] == []


def test_withdrawing_writes_proposal_withdrawn():
    proposal, c = submitted_proposal()

    proposal_svc.proposal_withdraw(proposal=proposal, actor=c.pi_jp, reason="Changed plans")

    data = the_event("proposal.withdrawn", proposal, organisations=[c.jp.pk, c.kr.pk])
    assert data["state"] == ProposalState.WITHDRAWN


def test_assigning_a_reviewer_writes_review_assigned_for_fund_staff_only():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    who = reviewer()

    assignment = review_svc.reviewer_assign(proposal=proposal, reviewer=who, actor=officers.jp)

    # Who reviews a proposal is not told to any organisation's partner system.
    data = the_event("review.assigned", assignment, organisations=[])
    assert (data["proposal"], data["reviewer"], data["assigned_by"]) == (
        proposal.pk,
        who.pk,
        officers.jp.pk,
    )


def test_only_the_completed_award_decision_writes_award_decided():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)

    first = award_svc.award_approve(
        proposal=proposal, actor=officers.jp, outcome="reject", reason="Weak reviews."
    )
    assert events_of("award.decided") == []
    decision = award_svc.award_approve(
        proposal=proposal, actor=officers.kr, outcome="reject", reason="Agreed."
    )

    assert decision.pk == first.pk
    data = the_event("award.decided", decision, organisations=[c.jp.pk, c.kr.pk])
    assert (data["outcome"], data["state"], data["project"]) == ("reject", "completed", None)
