"""Scoring (§6): every criterion 1–5, weighted mean rounded half up, once, blind."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from projects.models import AssignmentState, ReviewCriterion, ReviewScore
from projects.selectors import reviews as selectors
from projects.services import reviews as svc
from tests.factories.review import (
    active_assignment,
    add_criteria,
    eligible_proposal,
    make_officers,
    proposal_under_review,
    reviewer,
    scores_for,
    submit_review,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls"),
]


# --------------------------------------------------------------------------- the formula


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("2", 4), ("1", 3), ("1", 3)], "3.5000"),
        ([("1", 1), ("1", 1), ("1", 2)], "1.3333"),
        ([("1", 1), ("1", 2), ("1", 2)], "1.6667"),
        # 33/32 = 1.03125: half up gives 1.0313 (banker's rounding would give 1.0312).
        ([("1", 2), ("31", 1)], "1.0313"),
        ([("0.5", 5)], "5.0000"),
    ],
)
def test_weighted_score_is_rounded_to_four_places_half_up(pairs, expected):
    result = svc.weighted_score((Decimal(w), s) for w, s in pairs)
    assert result == Decimal(expected) and str(result) == expected


def test_the_stored_weighted_score_uses_the_call_weights():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp, weights=None)
    add_criteria(c.call, ("1", "31"))
    review = submit_review(proposal, reviewer(), officers.jp, 2, 1)
    review.refresh_from_db()
    assert review.weighted_score == Decimal("1.0313")
    assert sorted(ReviewScore.objects.filter(review=review).values_list("score", flat=True)) == [
        1,
        2,
    ]


# --------------------------------------------------------------------------- submission


def test_submitting_a_review_stores_it_and_audits():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    expert = reviewer()
    assignment = active_assignment(proposal, expert, officers.jp)

    review = svc.review_submit(
        assignment=assignment,
        actor=expert,
        scores={str(k): v for k, v in scores_for(proposal.call, 4, 3, 3).items()},
        comment="Convincing plan.",
        recommendation="fund_with_changes",
    )

    assert review.weighted_score == Decimal("3.5000")
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.SUBMITTED
    event = AuditEvent.objects.get(action="review.submitted", object_id=str(assignment.pk))
    assert event.after is not None
    assert event.after["weighted_score"] == "3.5000"
    assert event.before == {"state": "active"}


def test_every_criterion_needs_a_score_from_one_to_five():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    expert = reviewer()
    assignment = active_assignment(proposal, expert, officers.jp)
    first, second, third = ReviewCriterion.objects.filter(call=proposal.call)

    with pytest.raises(ValidationFailed) as refused:
        svc.review_submit(
            assignment=assignment,
            actor=expert,
            scores={first.pk: 6, second.pk: 0, 999999: 3},
            comment="",
            recommendation="maybe",
        )

    errors = refused.value.errors
    assert set(errors) == {
        f"scores.{first.pk}",
        f"scores.{second.pk}",
        f"scores.{third.pk}",
        "scores.999999",
        "comment",
        "recommendation",
    }
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.ACTIVE
    assert not hasattr(assignment, "review") or assignment.review is None


def test_a_review_is_submitted_once():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    expert = reviewer()
    review = submit_review(proposal, expert, officers.jp, 4, 4, 4)
    with pytest.raises(Conflict):
        svc.review_submit(
            assignment=review.assignment,
            actor=expert,
            scores=scores_for(proposal.call, 1, 1, 1),
            comment="Second thoughts",
            recommendation="do_not_fund",
        )
    review.refresh_from_db()
    assert review.weighted_score == Decimal("4.0000")


def test_scoring_needs_an_active_assignment_by_the_reviewer_under_review():
    officers = make_officers()
    proposal, c = eligible_proposal()
    add_criteria(c.call)
    expert = reviewer()
    assignment = svc.reviewer_assign(proposal=proposal, reviewer=expert, actor=officers.jp)
    scores = scores_for(proposal.call, 3, 3, 3)

    with pytest.raises(Conflict):  # not declared yet
        svc.review_submit(
            assignment=assignment, actor=expert, scores=scores, comment="x", recommendation="fund"
        )
    assignment = svc.assignment_declare(assignment=assignment, actor=expert, conflict=False)
    with pytest.raises(Conflict):  # the proposal is eligible, not yet under review
        svc.review_submit(
            assignment=assignment, actor=expert, scores=scores, comment="x", recommendation="fund"
        )
    with pytest.raises(PermissionDenied):
        svc.review_submit(
            assignment=assignment,
            actor=officers.jp,
            scores=scores,
            comment="x",
            recommendation="fund",
        )


# --------------------------------------------------------------------------- blind


def test_a_reviewer_sees_no_other_score_before_submitting_their_own():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    early, late = reviewer(), reviewer()
    early_review = submit_review(proposal, early, officers.jp, 5, 5, 5)
    late_assignment = active_assignment(proposal, late, officers.jp)

    assert list(selectors.reviews_visible_to(late)) == []
    assert selectors.proposal_reviews_for(late, proposal) == []
    assert selectors.proposal_reviews_for(early, proposal) == [early_review]

    late_review = svc.review_submit(
        assignment=late_assignment,
        actor=late,
        scores=scores_for(proposal.call, 1, 2, 3),
        comment="Weak plan.",
        recommendation="do_not_fund",
    )

    assert {r.pk for r in selectors.proposal_reviews_for(late, proposal)} == {
        early_review.pk,
        late_review.pk,
    }
    assert {r.pk for r in selectors.proposal_reviews_for(early, proposal)} == {
        early_review.pk,
        late_review.pk,
    }


def test_officers_see_every_review_and_others_see_none():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    review = submit_review(proposal, reviewer(), officers.jp, 3, 3, 3)
    assert list(selectors.reviews_visible_to(officers.kr)) == [review]
    assert list(selectors.reviews_visible_to(c.pi_jp)) == []
    assert list(selectors.reviews_visible_to(reviewer())) == []


def test_a_review_of_another_proposal_does_not_unblind_this_one():
    officers = make_officers()
    one, _c1 = proposal_under_review(officers.jp)
    other, _c2 = proposal_under_review(officers.jp)
    expert, rival = reviewer(), reviewer()
    submit_review(one, rival, officers.jp, 4, 4, 4)
    submit_review(other, expert, officers.jp, 2, 2, 2)
    active_assignment(one, expert, officers.jp)

    assert selectors.proposal_reviews_for(expert, one) == []
