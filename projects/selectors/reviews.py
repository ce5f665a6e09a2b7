"""Reading review and award data, filtered in SQL (§2, §6, §15).

Who sees what:

- fund officers (and admins) see every assignment, review and award decision;
- a reviewer sees their own assignments, and their own review; the other reviews of a
  proposal only once they have submitted their own (blind scoring);
- everyone else, and every API key, sees none of it.

The ``can_*`` questions decide actions on an object the actor can already see, with a
reason; the services ask them again under their locks.
"""

from __future__ import annotations

from django.db.models import (
    Avg,
    Count,
    DecimalField,
    F,
    QuerySet,
)
from django.db.models.functions import Cast

from fundapp.accounts.models import Role, User
from fundapp.actors import Actor, is_fund_officer
from fundapp.errors import NotFound
from fundapp.kernel.approvals import LIVE_STATES
from projects.models import (
    AssignmentState,
    AwardDecision,
    Call,
    Proposal,
    ProposalState,
    Review,
    ReviewerAssignment,
)
from projects.permissions import can_decide_award as can_decide_award
from projects.permissions import can_declare as can_declare
from projects.permissions import can_manage_reviews as can_manage_reviews
from projects.permissions import can_score as can_score

# States in which a proposal's reviewer panel may still change.
ASSIGNABLE_STATES = (ProposalState.ELIGIBLE, ProposalState.UNDER_REVIEW)
# Assignments whose reviewer may read the proposal (declared free of conflicts).
CONFLICT_FREE_STATES = (AssignmentState.ACTIVE, AssignmentState.SUBMITTED)


def _user(actor: Actor | None) -> User | None:
    if isinstance(actor, User) and actor.is_authenticated and actor.is_active:
        return actor
    return None


def sees_all_reviews(actor: Actor | None) -> bool:
    """Fund officers and admins see every assignment, score and decision."""
    user = _user(actor)
    return user is not None and (is_fund_officer(user) or user.role == Role.ADMIN)


# --------------------------------------------------------------------------- assignments


def assignments_visible_to(actor: Actor | None) -> QuerySet[ReviewerAssignment]:
    qs = ReviewerAssignment.objects.all()
    user = _user(actor)
    if user is None:
        return qs.none()
    if sees_all_reviews(user):
        return qs
    return qs.filter(reviewer=user)


def get_assignment_for_actor(actor: Actor | None, pk: object) -> ReviewerAssignment:
    """Fetch and authorise in one step: missing and not-yours give the same 404."""
    try:
        pk_int = int(str(pk))
    except (TypeError, ValueError):
        raise NotFound() from None
    assignment = (
        assignments_visible_to(actor)
        .select_related("proposal__call", "reviewer", "assigned_by")
        .filter(pk=pk_int)
        .first()
    )
    if assignment is None:
        raise NotFound()
    return assignment


def reviewer_queue(actor: Actor | None) -> QuerySet[ReviewerAssignment]:
    """The reviewer's own assignments, newest first, with what the list shows (one query)."""
    user = _user(actor)
    if user is None:
        return ReviewerAssignment.objects.none()
    return (
        ReviewerAssignment.objects.filter(reviewer=user)
        .select_related("proposal__call", "review")
        .order_by("-assigned_at", "-id")
    )


def proposal_assignments(proposal: Proposal) -> QuerySet[ReviewerAssignment]:
    """Every assignment of a proposal with its reviewer and review (officers' panel)."""
    return (
        ReviewerAssignment.objects.filter(proposal=proposal)
        .select_related("reviewer", "assigned_by", "review")
        .order_by("assigned_at", "id")
    )


def reviewer_candidates() -> QuerySet[User]:
    return User.objects.filter(role=Role.REVIEWER, is_active=True).order_by("username")


# --------------------------------------------------------------------------- reviews


def reviews_visible_to(actor: Actor | None) -> QuerySet[Review]:
    """Reviews the actor may read, blind for reviewers: their own, and the others of a
    proposal once their own review of it is in."""
    qs = Review.objects.all()
    user = _user(actor)
    if user is None:
        return qs.none()
    if sees_all_reviews(user):
        return qs
    # "Their own" is contained in "of a proposal they reviewed", so one semi-join over the
    # proposals of the reviewer's own reviews answers both (no OR of EXISTS).
    reviewed_proposals = (
        Review.objects.filter(assignment__reviewer=user)
        .values("assignment__proposal_id")
        .order_by()
    )
    return qs.filter(assignment__proposal_id__in=reviewed_proposals)


def proposal_reviews_for(actor: Actor | None, proposal: Proposal) -> list[Review]:
    """The reviews of one proposal the actor may read, with their scores and criteria."""
    return list(
        reviews_visible_to(actor)
        .filter(assignment__proposal=proposal)
        .select_related("assignment__reviewer")
        .prefetch_related("scores__criterion")
        .order_by("submitted_at", "id")
    )


# --------------------------------------------------------------------------- ranking


def ranking(call: Call, *, states: tuple[str, ...] = (ProposalState.UNDER_REVIEW,)):
    """Proposals of the call with the mean of their weighted scores (rounded to 4 decimals,
    half up, by PostgreSQL's numeric cast) and their number of reviews, best first.

    One query. Proposals without a review come last.
    """
    return (
        Proposal.objects.filter(call=call, state__in=states)
        .select_related("research_area")
        .annotate(
            review_count=Count("assignments__review"),
            mean_score=Cast(
                Avg("assignments__review__weighted_score"),
                DecimalField(max_digits=6, decimal_places=4),
            ),
        )
        .order_by(F("mean_score").desc(nulls_last=True), "-review_count", "id")
    )


# --------------------------------------------------------------------------- award decisions


def award_decisions_visible_to(actor: Actor | None) -> QuerySet[AwardDecision]:
    if not sees_all_reviews(actor):
        return AwardDecision.objects.none()
    return AwardDecision.objects.all()


def live_award_decision(proposal: Proposal) -> AwardDecision | None:
    """The pending or completed decision of a proposal (at most one, by a constraint)."""
    return (
        AwardDecision.objects.filter(proposal=proposal)
        .filter(state__in=LIVE_STATES)
        .select_related("first_officer", "second_officer")
        .first()
    )


def get_award_decision_for_actor(actor: Actor | None, pk: object) -> AwardDecision:
    try:
        pk_int = int(str(pk))
    except (TypeError, ValueError):
        raise NotFound() from None
    decision = (
        award_decisions_visible_to(actor)
        .select_related("proposal", "first_officer", "second_officer")
        .filter(pk=pk_int)
        .first()
    )
    if decision is None:
        raise NotFound()
    return decision
