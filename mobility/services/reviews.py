"""Review of visit applications (§25, as §6): the officers open the review, assign
reviewers (the conflict rules exclude some at once), reviewers declare their conflicts and
score the call's criteria; the weighted mean ranks the applications of a call.

The steps are the kernel's review component (``fundapp.kernel.reviews``), as for
proposals; this module names the applications' models, conflict rules and messages
(``PANEL``)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fundapp.accounts.models import User
from fundapp.actors import Actor
from fundapp.errors import Conflict
from fundapp.kernel import reviews as kernel
from fundapp.kernel.decisions import require
from mobility import permissions
from mobility.models import (
    ApplicationState,
    VisitApplication,
    VisitReview,
    VisitReviewerAssignment,
    VisitReviewScore,
)
from mobility.selectors.reviews import exclusions_for
from mobility.services.applications import lock, move
from mobility.services.screening import application_screening_open
from projects.models import (
    AssignmentState,
    Recommendation,
    ReviewCriterion,
)
from projects.services.reviews import ASSIGNMENT_STATES

# Reviewers are assigned once the host has endorsed, and while the review runs.
ASSIGNABLE_STATES = (ApplicationState.ENDORSED, ApplicationState.UNDER_REVIEW)


def application_start_review(*, application: VisitApplication, actor: Actor) -> VisitApplication:
    """A fund officer opens the review of an endorsed application (endorsed → under_review)
    and, where §11 asks for it, its screening case is opened in the same transaction.
    Locked; audited ``visit_application.under_review``; a second start answers 409."""
    require(permissions.can_manage_application_reviews(actor))
    return kernel.review_start(
        subject=application,
        actor=actor,
        lock=lock,
        move=lambda locked: move(locked, ApplicationState.UNDER_REVIEW, actor=actor),
        audit_action="visit_application.under_review",
        then=lambda locked: application_screening_open(application=locked, actor=actor),
    )


def exclusion_reasons(application: VisitApplication, reviewer: User) -> list[str]:
    """Why a reviewer may not review this application (§6 for visits), each in the current
    language: they belong to the home or the host organisation, they are the visitor, or
    they share an active project with the visitor. Empty when nothing excludes them. The
    one-reviewer case of ``mobility.selectors.reviews.exclusions_for``, which holds the
    rules."""
    return exclusions_for(application, [reviewer]).get(reviewer.pk, [])


def application_reviewer_assign(
    *, application: VisitApplication, reviewer: User, actor: Actor
) -> VisitReviewerAssignment:
    """A fund officer assigns a reviewer to an endorsed application or one under review.

    Guarantees: idempotent per (application, reviewer); the application row is locked so
    two officers assigning the same reviewer at once make one assignment; a reviewer the
    conflict rules exclude is recorded ``excluded`` with the reasons, so officers see why;
    audited ``visit_review.assigned``.
    """
    require(permissions.can_manage_application_reviews(actor))
    officer = kernel.require_assignable_reviewer(PANEL, actor, reviewer)
    return kernel.reviewer_assignment_make(
        PANEL, subject=application, reviewer=reviewer, actor=officer
    )


def _may_declare(reviewer: User, assignment: VisitReviewerAssignment) -> None:
    if assignment.state != AssignmentState.AWAITING_DECLARATION:
        raise Conflict(_("The declaration has already been made."), code="invalid_state")


def application_assignment_declare(
    *, assignment: VisitReviewerAssignment, actor: Actor, conflict: bool, note: str = ""
) -> VisitReviewerAssignment:
    """The reviewer declares whether they have a conflict of interest: a conflict blocks
    the assignment, none makes it active (only then may they score). Locked; declared
    once; audited ``visit_review.declared``."""
    return kernel.assignment_declaration_record(
        PANEL, assignment, actor, conflict=conflict, note=note
    )


def _may_score(actor: Actor, assignment: VisitReviewerAssignment) -> None:
    require(permissions.can_score_application(actor, assignment))


def _submitted_audit(submitted: kernel.SubmittedReview[VisitReview]) -> dict[str, Any]:
    return {
        "weighted_score": str(submitted.weighted_score),
        "recommendation": submitted.recommendation,
    }


def application_review_submit(
    *,
    assignment: VisitReviewerAssignment,
    actor: Actor,
    scores: Mapping[Any, Any],
    comment: str,
    recommendation: str,
) -> VisitReview:
    """The reviewer scores every criterion of the call 1–5, with a comment and a
    recommendation, while the application is under review. At most once (the assignment
    is locked; the review is one-to-one with it); the weighted score is the proposals'
    ``weighted_score`` (Σ w·s / Σ w, 4 decimals, half up); audited
    ``visit_review.submitted``."""
    return kernel.review_record(
        PANEL, assignment, actor, scores=scores, comment=comment, recommendation=recommendation
    )


def ranking_for_call(call_id: int) -> list[tuple[int, Decimal | None, int]]:
    """The applications under review or decided in a call, best first: (application id,
    mean of the submitted reviews' weighted scores rounded half up to 4 decimals or None,
    number of reviews). Two queries whatever the number of applications."""
    rows = (
        VisitApplication.objects.filter(
            call_id=call_id,
            state__in=[
                ApplicationState.UNDER_REVIEW,
                ApplicationState.AWARDED,
                ApplicationState.REJECTED,
            ],
        )
        .annotate(
            mean=Avg("assignments__review__weighted_score"),
            reviews=Count("assignments__review"),
        )
        .values_list("pk", "mean", "reviews")
    )
    return kernel.rank_by_mean(rows)


# The review of a visit application, as the kernel's steps (fundapp.kernel.reviews) read it.
PANEL = kernel.ReviewPanel[VisitApplication, VisitReviewerAssignment, VisitReview](
    subject_field="application",
    audit_prefix="visit_review",
    assignment_model=VisitReviewerAssignment,
    review_model=VisitReview,
    score_model=VisitReviewScore,
    states=ASSIGNMENT_STATES,
    assignable_states=ASSIGNABLE_STATES,
    scoring_state=ApplicationState.UNDER_REVIEW,
    lock_subject=lock,
    criteria=lambda application: list(ReviewCriterion.objects.filter(call_id=application.call_id)),
    recommendations=Recommendation,
    exclusion_reasons=exclusion_reasons,
    may_declare=_may_declare,
    may_score=_may_score,
    audit_submitted=_submitted_audit,
    not_officer_message=gettext_lazy(
        "Only fund officers may manage the review of visit applications."
    ),
    not_assignable_message=gettext_lazy(
        "Reviewers can be assigned only to an endorsed application or one under review."
    ),
    review_over_message=gettext_lazy("The review of this application is over."),
    not_scoring_message=gettext_lazy(
        "Reviews are accepted only while the application is under review."
    ),
)
