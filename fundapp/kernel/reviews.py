"""The review of a subject (§6 for proposals, §25 for visit applications), in one place.

A *subject* is what reviewers score: a proposal, a visit application. Each domain keeps
its models, its permission functions, its own messages and its audit events, and
describes them once in a :class:`ReviewPanel`; the steps below are the same for every
subject:

- the pure rules: the scores of a review cleaned against the call's criteria
  (:func:`clean_scores`), the weighted mean ``Σ w·s / Σ w`` (:func:`weighted_score`), the
  rounding both use (:func:`round_half_up_4`) and the ranking of subjects by the mean of
  their reviews (:func:`rank_by_mean`);
- the service steps, each in one transaction with the row it changes locked first:
  opening the review (:func:`review_start`), assigning a reviewer
  (:func:`reviewer_assignment_make`, the domain's exclusion rules deciding), the
  reviewer's conflict declaration (:func:`assignment_declaration_record`) and the review
  itself (:func:`review_record`).

The assignment follows one transition table (the assignment model's ``workflow``); a
refused step raises a ``DomainError`` with field-level messages and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Generic, Protocol, TypeVar

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import Role, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.problems import Problems

# A criterion is scored in whole marks from 1 to 5 (§6).
SCORE_MIN = 1
SCORE_MAX = 5
FOUR_PLACES = Decimal("0.0001")

S = TypeVar("S", bound=models.Model)  # the subject: a proposal, a visit application
A = TypeVar("A", bound=models.Model)  # the subject's reviewer assignment
R = TypeVar("R", bound=models.Model)  # a submitted review


class Criterion(Protocol):
    """A review criterion of a call, as the rules read it."""

    @property
    def pk(self) -> Any: ...

    @property
    def weight(self) -> Decimal: ...


# --------------------------------------------------------------------------- pure rules


def round_half_up_4(value: Decimal) -> Decimal:
    """A score as it is stored and shown: four decimals, half up (§6)."""
    return Decimal(value).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def weighted_score(pairs: Iterable[tuple[Decimal, int]]) -> Decimal:
    """Σ w·s / Σ w over (weight, score) pairs, rounded to 4 decimals, half up (§6)."""
    pairs = list(pairs)
    total_weight = sum((Decimal(w) for w, _s in pairs), Decimal(0))
    if total_weight <= 0:
        raise ValueError("weighted_score needs at least one positive weight")
    weighted = sum((Decimal(w) * s for w, s in pairs), Decimal(0))
    return round_half_up_4(weighted / total_weight)


def clean_scores(problems: Problems, scores: Any, criterion_ids: Sequence[int]) -> dict[int, int]:
    """The marks of a review, criterion id → mark, for every criterion of the call in the
    order given: a whole mark from ``SCORE_MIN`` to ``SCORE_MAX`` each. Keys that are no
    criterion of the call, a missing mark and a mark out of range are problems at
    ``scores.<id>``; anything but a mapping is one problem at ``scores``."""
    if not isinstance(scores, Mapping):
        problems.add("scores", _("Give a score for every criterion."))
        return {}
    by_id: dict[int, Any] = {}
    for key, value in scores.items():
        try:
            by_id[int(str(key))] = value
        except (TypeError, ValueError):
            problems.add(f"scores.{key}", _("Unknown criterion."))
    for unknown in sorted(set(by_id) - set(criterion_ids)):
        problems.add(f"scores.{unknown}", _("This criterion is not part of the call."))
    cleaned: dict[int, int] = {}
    for criterion_id in criterion_ids:
        value = inputs.integer(
            problems,
            f"scores.{criterion_id}",
            by_id.get(criterion_id),
            minimum=SCORE_MIN,
            maximum=SCORE_MAX,
        )
        if value is not None:
            cleaned[criterion_id] = value
    return cleaned


RankRow = tuple[int, Decimal | None, int]


def rank_by_mean(rows: Iterable[tuple[int, Any, int]]) -> list[RankRow]:
    """Subjects best first from (id, mean of the reviews' weighted scores or None, number
    of reviews): the mean rounded half up to 4 decimals; subjects without a review last;
    equal means by id."""
    ranked: list[RankRow] = [
        (pk, None if mean is None else round_half_up_4(Decimal(mean)), count)
        for pk, mean, count in rows
    ]
    ranked.sort(key=lambda r: (r[1] is None, -(r[1] or 0), r[0]))
    return ranked


# --------------------------------------------------------------------------- the panel


@dataclass(frozen=True)
class AssignmentStates:
    """The states of a reviewer assignment the steps move it to (the domain's choices)."""

    awaiting_declaration: str
    active: str
    conflicted: str
    submitted: str
    excluded: str


@dataclass(frozen=True)
class SubmittedReview(Generic[R]):
    """A review as it was recorded, for the domain's audit payload."""

    review: R
    weighted_score: Decimal
    recommendation: str
    scores: dict[int, int]


@dataclass(frozen=True)
class ReviewPanel(Generic[S, A, R]):
    """One domain's review, as the shared steps need it.

    ``subject_field`` names the assignment's foreign key to the subject (and the key of the
    subject in the audit payloads); ``audit_prefix`` is the first word of the assignment's
    audit actions (``<prefix>.assigned``, ``.declared``, ``.submitted``). The messages are
    the domain's own (lazily translated), because they name the subject.
    """

    subject_field: str
    audit_prefix: str
    assignment_model: type[A]
    review_model: type[R]
    score_model: type[models.Model]
    states: AssignmentStates
    # The subject's states in which reviewers are assigned and declare, and the one in
    # which they score.
    assignable_states: tuple[str, ...]
    scoring_state: str
    lock_subject: Callable[[S], S]
    # The call's criteria for the subject, in the order their marks are stored.
    criteria: Callable[[S], list[Criterion]]
    recommendations: type[models.TextChoices]
    # Why a reviewer may not review a subject (the domain's conflict rules), one sentence
    # a reason, in the current language; empty when nothing excludes them.
    exclusion_reasons: Callable[[S, User], list[str]]
    # Refuse (raise) a declaration the domain does not allow, e.g. a second one.
    may_declare: Callable[[User, A], object]
    # Refuse (raise) anyone but the reviewer of an active assignment.
    may_score: Callable[[Actor, A], object]
    # The domain's part of the ``<prefix>.submitted`` audit payload.
    audit_submitted: Callable[[SubmittedReview[R]], Mapping[str, Any]]
    not_officer_message: Any
    not_assignable_message: Any
    review_over_message: Any
    not_scoring_message: Any
    # The domain's events and notices of a new assignment, in its transaction.
    on_assigned: Callable[[S, A], object] | None = None

    def lock_assignment(self, assignment: A) -> A:
        """The assignment's row, locked, with its subject and the subject's call."""
        return (
            self.assignment_model._default_manager.select_for_update(of=("self",))
            .select_related(f"{self.subject_field}__call")
            .get(pk=assignment.pk)
        )

    def subject_of(self, assignment: A) -> S:
        subject: S = getattr(assignment, self.subject_field)
        return subject

    def move(self, assignment: A, target: str, *, actor: Actor) -> str:
        before: str = self.assignment_model.workflow.move(  # type: ignore[attr-defined]
            assignment, target, actor=actor
        )
        return before


# --------------------------------------------------------------------------- start review


def review_start(
    *,
    subject: S,
    actor: Actor,
    lock: Callable[[S], S],
    move: Callable[[S], str],
    audit_action: str,
    then: Callable[[S], object] | None = None,
) -> S:
    """Open the review of ``subject``: in one transaction, lock its row, ``move`` it along
    its transition table (which refuses a second start), save it, audit ``audit_action``
    and run ``then`` (the domain's own step, e.g. its screening case) on the locked row."""
    with transaction.atomic():
        locked = lock(subject)
        before = move(locked)
        locked.updated_at = timezone.now()  # type: ignore[attr-defined]
        locked.save(update_fields=["state", "updated_at"])
        audit_record(
            actor=actor,
            action=audit_action,
            obj=locked,
            before={"state": before},
            after={"state": locked.state},  # type: ignore[attr-defined]
        )
        if then is not None:
            then(locked)
    return locked


# --------------------------------------------------------------------------- assignment


def require_assignable_reviewer(
    panel: ReviewPanel[Any, Any, Any], actor: Actor, reviewer: Any
) -> User:
    """The officer who assigns (a person) and the reviewer (an active person with the
    reviewer role, else 422 on ``reviewer``)."""
    if not isinstance(actor, User):
        raise PermissionDenied(str(panel.not_officer_message))
    if not isinstance(reviewer, User) or reviewer.role != Role.REVIEWER or not reviewer.is_active:
        message = _("Choose a person with the reviewer role.")
        raise ValidationFailed(message, errors={"reviewer": [message]})
    return actor


def reviewer_assignment_make(
    panel: ReviewPanel[S, A, R],
    *,
    subject: S,
    reviewer: User,
    actor: Actor,
) -> A:
    """Assign ``reviewer`` to ``subject`` (the officer and the reviewer checked by
    :func:`require_assignable_reviewer`).

    Guarantees: idempotent per (subject, reviewer), a repeated assignment returning the one
    already made, unchanged; the subject's row is locked first, so two officers assigning
    the same reviewer at once make one assignment; refused (409 ``invalid_state``) unless
    the subject is in an assignable state; a reviewer whom the panel's
    ``exclusion_reasons`` exclude is recorded ``excluded`` with the reasons, one a line,
    so officers see why; audited ``<prefix>.assigned``; the panel's ``on_assigned`` (the
    domain's events and notices) runs in the same transaction for a new assignment.
    """
    with transaction.atomic():
        locked = panel.lock_subject(subject)
        existing = panel.assignment_model._default_manager.filter(
            **{panel.subject_field: locked, "reviewer": reviewer}
        ).first()
        if existing is not None:
            return existing
        if locked.state not in panel.assignable_states:  # type: ignore[attr-defined]
            raise Conflict(str(panel.not_assignable_message), code="invalid_state")
        reasons = panel.exclusion_reasons(locked, reviewer)
        states = panel.states
        assignment = panel.assignment_model._default_manager.create(
            **{panel.subject_field: locked},
            reviewer=reviewer,
            assigned_by=actor,
            state=states.excluded if reasons else states.awaiting_declaration,
            exclusion_reason="\n".join(reasons),
        )
        audit_record(
            actor=actor,
            action=f"{panel.audit_prefix}.assigned",
            obj=assignment,
            after={
                panel.subject_field: locked.pk,
                "reviewer": reviewer.pk,
                "state": assignment.state,  # type: ignore[attr-defined]
                "exclusion_reason": assignment.exclusion_reason,  # type: ignore[attr-defined]
            },
        )
        if panel.on_assigned is not None:
            panel.on_assigned(locked, assignment)
    return assignment


def require_own_assignment(actor: Actor, assignment: Any, message: Any) -> User:
    """Only the assigned reviewer acts on an assignment (403 with ``message``)."""
    if not isinstance(actor, User) or actor.pk != assignment.reviewer_id:
        raise PermissionDenied(str(message))
    return actor


# --------------------------------------------------------------------------- declaration


def assignment_declaration_record(
    panel: ReviewPanel[S, A, R], assignment: A, actor: Actor, *, conflict: Any, note: Any
) -> A:
    """The reviewer declares whether they have a conflict of interest: a conflict blocks
    the assignment (``conflicted``, the note its reason, required); none makes it
    ``active``, and only then may they score.

    The input is checked before anything is locked, its problems raised (422) only after
    the checks of who and when: the assignment's row is locked; only its reviewer (403);
    the panel's ``may_declare`` (the domain's refusal of a second declaration); only while
    the subject is assignable (409). Declared once; audited ``<prefix>.declared``.
    """
    problems = Problems()
    if not isinstance(conflict, bool):
        problems.add("conflict", _("Say whether you have a conflict of interest."))
    note = inputs.text(problems, "note", note, max_length=4000)
    if conflict is True and not note:
        problems.add("note", _("Describe the conflict of interest."))
    with transaction.atomic():
        locked = panel.lock_assignment(assignment)
        reviewer = require_own_assignment(
            actor, locked, _("Only the assigned reviewer may declare their conflicts of interest.")
        )
        panel.may_declare(reviewer, locked)
        subject = panel.subject_of(locked)
        if subject.state not in panel.assignable_states:  # type: ignore[attr-defined]
            raise Conflict(str(panel.review_over_message), code="invalid_state")
        if problems:
            raise ValidationFailed(
                _("The declaration has errors; see the fields."), errors=problems.as_dict()
            )
        states = panel.states
        before = panel.move(
            locked, states.conflicted if conflict else states.active, actor=reviewer
        )
        locked.conflict_note = note  # type: ignore[attr-defined]
        locked.declared_at = timezone.now()  # type: ignore[attr-defined]
        locked.save(update_fields=["state", "conflict_note", "declared_at"])
        audit_record(
            actor=actor,
            action=f"{panel.audit_prefix}.declared",
            obj=locked,
            before={"state": before},
            after={
                "state": locked.state,  # type: ignore[attr-defined]
                "conflict": conflict,
                "note": note,
            },
        )
    return locked


# --------------------------------------------------------------------------- scoring


def review_record(
    panel: ReviewPanel[S, A, R],
    assignment: A,
    actor: Actor,
    *,
    scores: Any,
    comment: Any,
    recommendation: Any,
) -> R:
    """The reviewer submits their review: a mark for every criterion of the call, a
    comment and a recommendation.

    Guarantees: the assignment's row is locked first; the panel's ``may_score`` refuses
    anyone but the reviewer of an active (conflict-free) assignment; only while the subject
    is in its scoring state (409); at most once (the lock, and a review is one-to-one with its
    assignment); 422 with field-level problems for the marks (:func:`clean_scores`), the
    comment and the recommendation; the weighted score is stored rounded to 4 decimals,
    half up (:func:`weighted_score`); the marks in one insert; the assignment becomes
    ``submitted``; audited ``<prefix>.submitted`` with the panel's ``audit_submitted``
    payload.
    """
    with transaction.atomic():
        locked = panel.lock_assignment(assignment)
        panel.may_score(actor, locked)
        subject = panel.subject_of(locked)
        if subject.state != panel.scoring_state:  # type: ignore[attr-defined]
            raise Conflict(str(panel.not_scoring_message), code="invalid_state")
        criteria = panel.criteria(subject)
        problems = Problems()
        if not criteria:
            problems.add("scores", _("This call has no review criteria; ask a fund officer."))
        cleaned = clean_scores(problems, scores, [c.pk for c in criteria])
        comment = inputs.text(problems, "comment", comment, max_length=20000, required=True)
        recommendation = inputs.choice(
            problems, "recommendation", recommendation, panel.recommendations
        )
        if problems:
            raise ValidationFailed(
                _("The review has errors; see the fields."), errors=problems.as_dict()
            )
        score = weighted_score((c.weight, cleaned[c.pk]) for c in criteria)
        review = panel.review_model._default_manager.create(
            assignment=locked,
            comment=comment,
            recommendation=recommendation,
            weighted_score=score,
        )
        panel.score_model._default_manager.bulk_create(
            [
                panel.score_model(review=review, criterion_id=c.pk, score=cleaned[c.pk])
                for c in criteria
            ]
        )
        before = panel.move(locked, panel.states.submitted, actor=actor)
        locked.save(update_fields=["state"])
        audit_record(
            actor=actor,
            action=f"{panel.audit_prefix}.submitted",
            obj=locked,
            before={"state": before},
            after={
                "state": locked.state,  # type: ignore[attr-defined]
                **panel.audit_submitted(SubmittedReview(review, score, recommendation, cleaned)),
            },
        )
    return review
