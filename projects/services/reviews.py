"""Review services (§6): start review, assign reviewers, declare conflicts, submit scores.

Each function runs in one transaction, locks the row it changes first (the proposal for
panel changes, the assignment for a reviewer's own steps), checks who may act and what
state allows, and writes an audit event beside the change. A refused change raises a
``DomainError`` with field-level messages and leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import Membership, Role, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.problems import Problems
from fundapp.notifications.outbox import event_record
from fundapp.notifications.services import notify
from projects.events import assignment_data
from projects.models import (
    AssignmentState,
    ConsortiumMember,
    Project,
    ProjectPerson,
    ProjectState,
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
from projects.services.proposals import _lock, _transition

SCORE_MIN = 1
SCORE_MAX = 5
FOUR_PLACES = Decimal("0.0001")


def _url(name: str, *args: Any) -> str:
    """A page's path for a notification link, or "" where the page is not routed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def weighted_score(pairs: Iterable[tuple[Decimal, int]]) -> Decimal:
    """Σ w·s / Σ w over (weight, score) pairs, rounded to 4 decimals, half up (§6)."""
    pairs = list(pairs)
    total_weight = sum((Decimal(w) for w, _s in pairs), Decimal(0))
    if total_weight <= 0:
        raise ValueError("weighted_score needs at least one positive weight")
    weighted = sum((Decimal(w) * s for w, s in pairs), Decimal(0))
    return (weighted / total_weight).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------- start review


def proposal_start_review(*, proposal: Proposal, actor: Actor) -> Proposal:
    """A fund officer opens the review of an eligible proposal (eligible → under_review).

    Locks the proposal row; checks the transition table; audits. Starting the review of a
    proposal already under review answers 409 and changes nothing.
    """
    _require(selectors.can_manage_reviews(actor))
    with transaction.atomic():
        locked = _lock(proposal)
        before = _transition(locked, ProposalState.UNDER_REVIEW, actor=actor)
        locked.updated_at = timezone.now()
        locked.save(update_fields=["state", "updated_at"])
        audit_record(
            actor=actor,
            action="proposal.under_review",
            obj=locked,
            before={"state": before},
            after={"state": locked.state},
        )
    return locked


# --------------------------------------------------------------------------- assignment


def exclusion_reasons(proposal: Proposal, reviewer: User) -> list[str]:
    """Why a reviewer may not review this proposal (§6), each in the current language:
    they belong to a consortium organisation, or they share an active project with one of
    the consortium's named people. Empty when nothing excludes them."""
    reasons: list[str] = []
    consortium_orgs = ConsortiumMember.objects.filter(proposal=proposal).values("organisation")
    memberships = Membership.objects.filter(
        user=reviewer, organisation__in=consortium_orgs
    ).select_related("organisation")
    for membership in memberships.order_by("organisation__code"):
        reasons.append(
            _("The reviewer is a member of %(org)s, an organisation of the consortium.")
            % {"org": membership.organisation.name}
        )
    people = ProposalPerson.objects.filter(proposal=proposal).exclude(user=reviewer).values("user")
    shared = (
        Project.objects.filter(state=ProjectState.ACTIVE, people__user=reviewer)
        .filter(pk__in=ProjectPerson.objects.filter(user__in=people).values("project"))
        .distinct()
        .order_by("pk")
    )
    for project in shared:
        partners = ", ".join(
            str(person.user)
            for person in ProjectPerson.objects.filter(project=project, user__in=people)
            .select_related("user")
            .order_by("user__username")
        )
        reasons.append(
            _(
                "The reviewer shares the active project “%(project)s” with %(people)s of the "
                "consortium."
            )
            % {"project": project.title, "people": partners}
        )
    return reasons


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
    if not isinstance(actor, User):  # fund officers are people; can_manage_reviews says so
        raise PermissionDenied(_("Only fund officers may manage the review of proposals."))
    if not isinstance(reviewer, User) or reviewer.role != Role.REVIEWER or not reviewer.is_active:
        message = _("Choose a person with the reviewer role.")
        raise ValidationFailed(message, errors={"reviewer": [message]})
    with transaction.atomic():
        locked = _lock(proposal)
        existing = ReviewerAssignment.objects.filter(proposal=locked, reviewer=reviewer).first()
        if existing is not None:
            return existing
        if locked.state not in selectors.ASSIGNABLE_STATES:
            raise Conflict(
                _("Reviewers can be assigned only to an eligible proposal or one under review."),
                code="invalid_state",
            )
        reasons = exclusion_reasons(locked, reviewer)
        assignment = ReviewerAssignment.objects.create(
            proposal=locked,
            reviewer=reviewer,
            assigned_by=actor,
            state=AssignmentState.EXCLUDED if reasons else AssignmentState.AWAITING_DECLARATION,
            exclusion_reason="\n".join(reasons),
        )
        audit_record(
            actor=actor,
            action="review.assigned",
            obj=assignment,
            after={
                "proposal": locked.pk,
                "reviewer": reviewer.pk,
                "state": assignment.state,
                "exclusion_reason": assignment.exclusion_reason,
            },
        )
        # Who reviews a proposal is for fund staff only: no organisation's partner system
        # is told (§6, §13.3).
        event_record(
            kind="review.assigned",
            obj=assignment,
            organisation_ids=[],
            payload=assignment_data(assignment),
        )
        if not reasons:
            notify(
                users=[reviewer],
                message="review.assigned",
                params={"call": locked.call_id},
                url=_url("reviews:assignment", assignment.pk),
            )
    return assignment


# --------------------------------------------------------------------------- declaration


def _lock_assignment(assignment: ReviewerAssignment) -> ReviewerAssignment:
    return (
        ReviewerAssignment.objects.select_for_update(of=("self",))
        .select_related("proposal__call")
        .get(pk=assignment.pk)
    )


def assignment_declare(
    *, assignment: ReviewerAssignment, actor: Actor, conflict: bool, note: str = ""
) -> ReviewerAssignment:
    """The reviewer declares whether they have a conflict of interest.

    A conflict blocks the assignment (``conflicted``, with the note as the reason); no
    conflict makes it ``active``, and only then may the reviewer read and score the
    proposal. Locks the assignment row; declared once; audited.
    """
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
        allowed, reason = selectors.can_declare(actor, locked)
        if not allowed:
            raise Conflict(reason, code="invalid_state")
        if locked.proposal.state not in selectors.ASSIGNABLE_STATES:
            raise Conflict(
                _("The review of this proposal is over."),
                code="invalid_state",
            )
        if problems:
            raise ValidationFailed(
                _("The declaration has errors; see the fields."), errors=problems.as_dict()
            )
        before = ReviewerAssignment.workflow.move(
            locked,
            AssignmentState.CONFLICTED if conflict else AssignmentState.ACTIVE,
            actor=actor,
        )
        locked.conflict_note = note
        locked.declared_at = timezone.now()
        locked.save(update_fields=["state", "conflict_note", "declared_at"])
        audit_record(
            actor=actor,
            action="review.declared",
            obj=locked,
            before={"state": before},
            after={"state": locked.state, "conflict": conflict, "note": note},
        )
    return locked


# --------------------------------------------------------------------------- scoring


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
    known = {c.pk for c in criteria}
    for unknown in sorted(set(by_id) - known):
        problems.add(f"scores.{unknown}", _("This criterion is not part of the call."))
    cleaned: dict[int, int] = {}
    for criterion in criteria:
        value = inputs.integer(
            problems,
            f"scores.{criterion.pk}",
            by_id.get(criterion.pk),
            minimum=SCORE_MIN,
            maximum=SCORE_MAX,
        )
        if value is not None:
            cleaned[criterion.pk] = value
    return cleaned


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
    with transaction.atomic():
        locked = _lock_assignment(assignment)
        if not isinstance(actor, User) or actor.pk != locked.reviewer_id:
            raise PermissionDenied(_("Only the assigned reviewer may score this proposal."))
        allowed, reason = selectors.can_score(actor, locked)
        if not allowed:
            raise Conflict(reason, code="invalid_state")
        if locked.proposal.state != ProposalState.UNDER_REVIEW:
            raise Conflict(
                _("Reviews are accepted only while the proposal is under review."),
                code="invalid_state",
            )
        criteria = list(ReviewCriterion.objects.filter(call_id=locked.proposal.call_id))
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
        review = Review.objects.create(
            assignment=locked,
            comment=comment,
            recommendation=recommendation,
            weighted_score=score,
        )
        ReviewScore.objects.bulk_create(
            [ReviewScore(review=review, criterion=c, score=cleaned[c.pk]) for c in criteria]
        )
        before = ReviewerAssignment.workflow.move(locked, AssignmentState.SUBMITTED, actor=actor)
        locked.save(update_fields=["state"])
        audit_record(
            actor=actor,
            action="review.submitted",
            obj=locked,
            before={"state": before},
            after={
                "state": locked.state,
                "review": review.pk,
                "weighted_score": score,
                "recommendation": recommendation,
                "scores": {str(k): v for k, v in cleaned.items()},
            },
        )
    return review
