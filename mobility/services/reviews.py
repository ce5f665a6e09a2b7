"""Review of visit applications (§25, as §6): the officers open the review, assign
reviewers (the conflict rules exclude some at once), reviewers declare their conflicts and
score the call's criteria; the weighted mean ranks the applications of a call."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Avg, Count
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import Membership, Role, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.decisions import require
from fundapp.kernel.problems import Problems
from mobility import permissions
from mobility.models import (
    ApplicationState,
    VisitApplication,
    VisitReview,
    VisitReviewerAssignment,
    VisitReviewScore,
)
from mobility.services.applications import lock, move
from mobility.services.screening import application_screening_open
from projects.models import (
    AssignmentState,
    Project,
    ProjectPerson,
    ProjectState,
    Recommendation,
    ReviewCriterion,
)
from projects.services.reviews import weighted_score

# Reviewers are assigned once the host has endorsed, and while the review runs.
ASSIGNABLE_STATES = (ApplicationState.ENDORSED, ApplicationState.UNDER_REVIEW)


def application_start_review(*, application: VisitApplication, actor: Actor) -> VisitApplication:
    """A fund officer opens the review of an endorsed application (endorsed → under_review)
    and, where §11 asks for it, its screening case is opened in the same transaction.
    Locked; audited ``visit_application.under_review``; a second start answers 409."""
    require(permissions.can_manage_application_reviews(actor))
    with transaction.atomic():
        locked = lock(application)
        before = move(locked, ApplicationState.UNDER_REVIEW, actor=actor)
        locked.updated_at = timezone.now()
        locked.save(update_fields=["state", "updated_at"])
        audit_record(
            actor=actor,
            action="visit_application.under_review",
            obj=locked,
            before={"state": before},
            after={"state": locked.state},
        )
        application_screening_open(application=locked, actor=actor)
    return locked


def exclusion_reasons(application: VisitApplication, reviewer: User) -> list[str]:
    """Why a reviewer may not review this application (§6 for visits), each in the current
    language: they belong to the home or the host organisation, they are the visitor, or
    they share an active project with the visitor. Empty when nothing excludes them."""
    reasons: list[str] = []
    if reviewer.pk == application.visitor_id:
        reasons.append(_("The reviewer is the visitor."))
    memberships = (
        Membership.objects.filter(
            user=reviewer,
            organisation_id__in=[
                application.home_organisation_id,
                application.host_organisation_id,
            ],
        )
        .select_related("organisation")
        .order_by("organisation__code")
    )
    for membership in memberships:
        reasons.append(
            _("The reviewer is a member of %(org)s, the visit's home or host organisation.")
            % {"org": membership.organisation.name}
        )
    shared = (
        Project.objects.filter(state=ProjectState.ACTIVE, people__user=reviewer)
        .filter(
            pk__in=ProjectPerson.objects.filter(user_id=application.visitor_id).values("project")
        )
        .distinct()
        .order_by("pk")
    )
    for project in shared:
        reasons.append(
            _("The reviewer shares the active project “%(project)s” with the visitor.")
            % {"project": project.title}
        )
    return reasons


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
    if not isinstance(actor, User):
        raise PermissionDenied(_("Only fund officers may manage the review of visit applications."))
    if not isinstance(reviewer, User) or reviewer.role != Role.REVIEWER or not reviewer.is_active:
        message = _("Choose a person with the reviewer role.")
        raise ValidationFailed(message, errors={"reviewer": [message]})
    with transaction.atomic():
        locked = lock(application)
        existing = VisitReviewerAssignment.objects.filter(
            application=locked, reviewer=reviewer
        ).first()
        if existing is not None:
            return existing
        if locked.state not in ASSIGNABLE_STATES:
            raise Conflict(
                _("Reviewers can be assigned only to an endorsed application or one under review."),
                code="invalid_state",
            )
        reasons = exclusion_reasons(locked, reviewer)
        assignment = VisitReviewerAssignment.objects.create(
            application=locked,
            reviewer=reviewer,
            assigned_by=actor,
            state=AssignmentState.EXCLUDED if reasons else AssignmentState.AWAITING_DECLARATION,
            exclusion_reason="\n".join(reasons),
        )
        audit_record(
            actor=actor,
            action="visit_review.assigned",
            obj=assignment,
            after={
                "application": locked.pk,
                "reviewer": reviewer.pk,
                "state": assignment.state,
                "exclusion_reason": assignment.exclusion_reason,
            },
        )
    return assignment


def _lock_assignment(assignment: VisitReviewerAssignment) -> VisitReviewerAssignment:
    return (
        VisitReviewerAssignment.objects.select_for_update(of=("self",))
        .select_related("application__call")
        .get(pk=assignment.pk)
    )


def application_assignment_declare(
    *, assignment: VisitReviewerAssignment, actor: Actor, conflict: bool, note: str = ""
) -> VisitReviewerAssignment:
    """The reviewer declares whether they have a conflict of interest: a conflict blocks
    the assignment, none makes it active (only then may they score). Locked; declared
    once; audited ``visit_review.declared``."""
    problems = Problems()
    if not isinstance(conflict, bool):
        problems.add("conflict", _("Say whether you have a conflict of interest."))
    note = inputs.text(problems, "note", note, max_length=4000)
    if conflict is True and not note:
        problems.add("note", _("Describe the conflict of interest."))
    with transaction.atomic():
        locked = _lock_assignment(assignment)
        if not isinstance(actor, User) or actor.pk != locked.reviewer_id:
            raise PermissionDenied(
                _("Only the assigned reviewer may declare their conflicts of interest.")
            )
        if locked.state != AssignmentState.AWAITING_DECLARATION:
            raise Conflict(_("The declaration has already been made."), code="invalid_state")
        if locked.application.state not in ASSIGNABLE_STATES:
            raise Conflict(_("The review of this application is over."), code="invalid_state")
        if problems:
            raise ValidationFailed(
                _("The declaration has errors; see the fields."), errors=problems.as_dict()
            )
        before = VisitReviewerAssignment.workflow.move(
            locked,
            AssignmentState.CONFLICTED if conflict else AssignmentState.ACTIVE,
            actor=actor,
        )
        locked.conflict_note = note
        locked.declared_at = timezone.now()
        locked.save(update_fields=["state", "conflict_note", "declared_at"])
        audit_record(
            actor=actor,
            action="visit_review.declared",
            obj=locked,
            before={"state": before},
            after={"state": locked.state, "conflict": conflict, "note": note},
        )
    return locked


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
    with transaction.atomic():
        locked = _lock_assignment(assignment)
        require(permissions.can_score_application(actor, locked))
        if locked.application.state != ApplicationState.UNDER_REVIEW:
            raise Conflict(
                _("Reviews are accepted only while the application is under review."),
                code="invalid_state",
            )
        criteria = list(ReviewCriterion.objects.filter(call_id=locked.application.call_id))
        problems = Problems()
        if not criteria:
            problems.add("scores", _("This call has no review criteria; ask a fund officer."))
        cleaned = _clean_scores(problems, scores, criteria)
        comment = inputs.text(problems, "comment", comment, max_length=20000, required=True)
        recommendation = inputs.choice(problems, "recommendation", recommendation, Recommendation)
        if problems:
            raise ValidationFailed(
                _("The review has errors; see the fields."), errors=problems.as_dict()
            )
        score = weighted_score((c.weight, cleaned[c.pk]) for c in criteria)
        review = VisitReview.objects.create(
            assignment=locked, comment=comment, recommendation=recommendation, weighted_score=score
        )
        VisitReviewScore.objects.bulk_create(
            VisitReviewScore(review=review, criterion_id=pk, score=value)
            for pk, value in cleaned.items()
        )
        before = VisitReviewerAssignment.workflow.move(
            locked, AssignmentState.SUBMITTED, actor=actor
        )
        locked.save(update_fields=["state"])
        audit_record(
            actor=actor,
            action="visit_review.submitted",
            obj=locked,
            before={"state": before},
            after={
                "state": locked.state,
                "weighted_score": str(score),
                "recommendation": recommendation,
            },
        )
    return review


def _clean_scores(
    problems: Problems, scores: Any, criteria: list[ReviewCriterion]
) -> dict[int, int]:
    if not isinstance(scores, Mapping):
        problems.add("scores", _("Give a score for every criterion."))
        return {}
    by_id: dict[int, Any] = {}
    for key, value in scores.items():
        try:
            by_id[int(str(key))] = value
        except (TypeError, ValueError):
            problems.add(f"scores.{key}", _("Unknown criterion."))
    for unknown in sorted(set(by_id) - {c.pk for c in criteria}):
        problems.add(f"scores.{unknown}", _("This criterion is not part of the call."))
    cleaned: dict[int, int] = {}
    for criterion in criteria:
        value = inputs.integer(
            problems, f"scores.{criterion.pk}", by_id.get(criterion.pk), minimum=1, maximum=5
        )
        if value is not None:
            cleaned[criterion.pk] = value
    return cleaned


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
    ranked = [
        (
            pk,
            None
            if mean is None
            else Decimal(mean).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
            count,
        )
        for pk, mean, count in rows
    ]
    ranked.sort(key=lambda r: (r[1] is None, -(r[1] or 0), r[0]))
    return ranked
