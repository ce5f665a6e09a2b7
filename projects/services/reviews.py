"""Review services (§6): start review, assign reviewers, declare conflicts, submit scores.

Each function runs in one transaction, locks the row it changes first (the proposal for
panel changes, the assignment for a reviewer's own steps), checks who may act and what
state allows, and writes an audit event beside the change. A refused change raises a
``DomainError`` with field-level messages and leaves the database as it was.

The steps are the kernel's review component (``fundapp.kernel.reviews``), shared with the
review of visit applications; this module is the proposals' adapter: their models, their
conflict rules, their messages, events and notices (``PANEL``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fundapp.accounts.models import User
from fundapp.actors import Actor
from fundapp.errors import Conflict
from fundapp.kernel import reviews as kernel
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.notices import page_url as _url
from fundapp.kernel.reviews import FOUR_PLACES, SCORE_MAX, SCORE_MIN, weighted_score
from fundapp.notifications.outbox import event_record
from fundapp.notifications.services import notify
from projects.events import assignment_data
from projects.models import (
    AssignmentState,
    ConsortiumMember,
    Proposal,
    ProposalPerson,
    ProposalState,
    Recommendation,
    Review,
    ReviewCriterion,
    ReviewerAssignment,
    ReviewScore,
)
from projects.selectors import reviews as selectors
from projects.selectors.conflicts import conflict_reasons
from projects.services.proposals import _lock, _transition

__all__ = [
    "FOUR_PLACES",
    "SCORE_MAX",
    "SCORE_MIN",
    "assignment_declare",
    "exclusion_reasons",
    "proposal_start_review",
    "review_submit",
    "reviewer_assign",
    "weighted_score",
]


ASSIGNMENT_STATES = kernel.AssignmentStates(
    awaiting_declaration=AssignmentState.AWAITING_DECLARATION,
    active=AssignmentState.ACTIVE,
    conflicted=AssignmentState.CONFLICTED,
    submitted=AssignmentState.SUBMITTED,
    excluded=AssignmentState.EXCLUDED,
)


# --------------------------------------------------------------------------- start review


def proposal_start_review(*, proposal: Proposal, actor: Actor) -> Proposal:
    """A fund officer opens the review of an eligible proposal (eligible → under_review).

    Locks the proposal row; checks the transition table; audits. Starting the review of a
    proposal already under review answers 409 and changes nothing.
    """
    _require(selectors.can_manage_reviews(actor))
    return kernel.review_start(
        subject=proposal,
        actor=actor,
        lock=_lock,
        move=lambda locked: _transition(locked, ProposalState.UNDER_REVIEW, actor=actor),
        audit_action="proposal.under_review",
    )


# --------------------------------------------------------------------------- assignment


def exclusion_reasons(proposal: Proposal, reviewer: User) -> list[str]:
    """Why a reviewer may not review this proposal (§6), each in the current language:
    they belong to a consortium organisation, or they share an active project with one of
    the consortium's named people. Empty when nothing excludes them."""
    return conflict_reasons(
        person=reviewer,
        consortium=ConsortiumMember.objects.filter(proposal=proposal),
        named_people=ProposalPerson.objects.filter(proposal=proposal),
        member_message=_("The reviewer is a member of %(org)s, an organisation of the consortium."),
        shares_message=_(
            "The reviewer shares the active project “%(project)s” with %(people)s of the "
            "consortium."
        ),
    )


def reviewer_assign(*, proposal: Proposal, reviewer: User, actor: Actor) -> ReviewerAssignment:
    """A fund officer assigns a reviewer to an eligible or under-review proposal.

    Guarantees: idempotent per (proposal, reviewer) — a repeated assignment returns the one
    already made, unchanged; the proposal row is locked so two officers assigning the same
    reviewer at once make one assignment. A reviewer from a consortium organisation, or who
    shares an active project with a consortium member, is recorded as ``excluded`` with the
    reason (so officers see why); otherwise the assignment awaits the reviewer's conflict
    declaration and the reviewer is notified.
    """
    _require(selectors.can_manage_reviews(actor))
    officer = kernel.require_assignable_reviewer(PANEL, actor, reviewer)
    return kernel.reviewer_assignment_make(
        PANEL, subject=proposal, reviewer=reviewer, actor=officer
    )


def _tell_assigned(proposal: Proposal, assignment: ReviewerAssignment) -> None:
    # Who reviews a proposal is for fund staff only: no organisation's partner system is
    # told (§6, §13.3).
    event_record(
        kind="review.assigned",
        obj=assignment,
        organisation_ids=[],
        payload=assignment_data(assignment),
    )
    if assignment.state == AssignmentState.AWAITING_DECLARATION:
        notify(
            users=[assignment.reviewer],
            message="review.assigned",
            params={"call": proposal.call_id},
            url=_url("reviews:assignment", assignment.pk),
        )


# --------------------------------------------------------------------------- declaration


def _may_declare(reviewer: User, assignment: ReviewerAssignment) -> None:
    allowed, reason = selectors.can_declare(reviewer, assignment)
    if not allowed:
        raise Conflict(reason, code="invalid_state")


def assignment_declare(
    *, assignment: ReviewerAssignment, actor: Actor, conflict: bool, note: str = ""
) -> ReviewerAssignment:
    """The reviewer declares whether they have a conflict of interest.

    A conflict blocks the assignment (``conflicted``, with the note as the reason); no
    conflict makes it ``active``, and only then may the reviewer read and score the
    proposal. Locks the assignment row; declared once; audited.
    """
    return kernel.assignment_declaration_record(
        PANEL, assignment, actor, conflict=conflict, note=note
    )


# --------------------------------------------------------------------------- scoring


def _may_score(actor: Actor, assignment: ReviewerAssignment) -> None:
    reviewer = kernel.require_own_assignment(
        actor, assignment, _("Only the assigned reviewer may score this proposal.")
    )
    allowed, reason = selectors.can_score(reviewer, assignment)
    if not allowed:
        raise Conflict(reason, code="invalid_state")


def _submitted_audit(submitted: kernel.SubmittedReview[Review]) -> dict[str, Any]:
    return {
        "review": submitted.review.pk,
        "weighted_score": submitted.weighted_score,
        "recommendation": submitted.recommendation,
        "scores": {str(k): v for k, v in submitted.scores.items()},
    }


def review_submit(
    *,
    assignment: ReviewerAssignment,
    actor: Actor,
    scores: Mapping[Any, Any],
    comment: str,
    recommendation: str,
) -> Review:
    """The reviewer submits their review: a score of 1–5 for every criterion of the call, a
    comment and a recommendation.

    Guarantees: only the reviewer of an active (conflict-free) assignment of a proposal under
    review; at most once (the assignment row is locked and a review is one-to-one with it);
    the weighted score Σ w·s / Σ w is stored rounded to 4 decimals, half up; the assignment
    becomes ``submitted``; audited.
    """
    return kernel.review_record(
        PANEL, assignment, actor, scores=scores, comment=comment, recommendation=recommendation
    )


# The review of a proposal, as the kernel's steps (fundapp.kernel.reviews) read it.
PANEL = kernel.ReviewPanel[Proposal, ReviewerAssignment, Review](
    subject_field="proposal",
    audit_prefix="review",
    assignment_model=ReviewerAssignment,
    review_model=Review,
    score_model=ReviewScore,
    states=ASSIGNMENT_STATES,
    assignable_states=selectors.ASSIGNABLE_STATES,
    scoring_state=ProposalState.UNDER_REVIEW,
    lock_subject=_lock,
    criteria=lambda proposal: list(ReviewCriterion.objects.filter(call_id=proposal.call_id)),
    recommendations=Recommendation,
    exclusion_reasons=exclusion_reasons,
    may_declare=_may_declare,
    may_score=_may_score,
    audit_submitted=_submitted_audit,
    on_assigned=_tell_assigned,
    not_officer_message=gettext_lazy("Only fund officers may manage the review of proposals."),
    not_assignable_message=gettext_lazy(
        "Reviewers can be assigned only to an eligible proposal or one under review."
    ),
    review_over_message=gettext_lazy("The review of this proposal is over."),
    not_scoring_message=gettext_lazy(
        "Reviews are accepted only while the proposal is under review."
    ),
)
