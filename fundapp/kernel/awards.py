"""The award of a reviewed subject under the two-person rule (§2, §6, §11), for every
domain: a proposal (a project follows), a visit application (a visit follows).

It is the one two-person component (``fundapp.kernel.approvals``) applied to a subject
under review: the first fund officer's approval records a pending decision, an officer of
the other side approving the same outcome completes it, and completion moves the subject
to ``awarded`` (creating what the award makes) or ``rejected`` in the same transaction, so
that a refusal there (screening not cleared, a pool that cannot cover the sum) leaves the
decision pending and nothing else changed. Each domain describes its subject once in an
:class:`AwardPanel` and keeps its own consequence, its messages and its notices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.approvals import (
    LIVE_STATES,
    DecisionState,
    TwoPersonDecision,
    decision_approve,
    decision_decline,
    decision_withdraw,
)
from fundapp.kernel.decisions import Decision
from fundapp.kernel.notices import tell_other_side
from fundapp.kernel.problems import Problems

S = TypeVar("S", bound=models.Model)  # the subject: a proposal, a visit application
D = TypeVar("D", bound=TwoPersonDecision)  # its award decision (``outcome``, ``reason``)


@dataclass(frozen=True)
class AwardPanel(Generic[S, D]):
    """One domain's award, as the shared steps need it.

    ``subject_field`` names the decision's foreign key to the subject (and the subject's
    key in the audit payloads); ``audit_prefix`` is the first word of the subject's audit
    action on completion (``<prefix>.awarded``, ``<prefix>.rejected``); ``created_key``
    the key of what the award creates in that event's payload. The messages are the
    domain's own (lazily translated), because they name the subject.
    """

    subject_field: str
    audit_prefix: str
    created_key: str
    decision_model: type[D]
    subject_states: type[models.TextChoices]
    review_state: str
    awarded_state: str
    rejected_state: str
    outcomes: type[models.TextChoices]
    award_outcome: str
    permission: Callable[[Actor], Decision]
    lock_subject: Callable[[S], S]
    # The subject's move along its transition table, agreed by two persons; returns the
    # state before.
    move_agreed: Callable[[S, str, User], str]
    # The notification the other side's officers get, and the page it links to.
    awaits_message: str
    subject_url: Callable[[S], str]
    # "Only … under review can be awarded or rejected; this one is “%(state)s”."
    not_under_review_message: Any
    already_decided_message: Any

    def subject_of(self, decision: D) -> S:
        subject: S = getattr(decision, self.subject_field)
        return subject


def require_award_officer(panel: AwardPanel[Any, Any], actor: Actor) -> User:
    """Fund officers of the JP or KR side decide awards (403 otherwise)."""
    allowed, reason = panel.permission(actor)
    if not allowed or not isinstance(actor, User):
        raise PermissionDenied(reason or _("Only fund officers may decide awards."))
    return actor


def _refuse_other_outcome(panel: AwardPanel[Any, Any], pending: Any, outcome: str) -> None:
    if pending.outcome != outcome:
        raise Conflict(
            _(
                "The pending decision is to %(pending)s, not to %(yours)s. Approve the "
                "same outcome, or ask %(first)s to withdraw the pending decision first."
            )
            % {
                "pending": panel.outcomes(pending.outcome).label.lower(),
                "yours": panel.outcomes(outcome).label.lower(),
                "first": pending.first_officer,
            },
            code="outcome_differs",
        )


def award_approve(
    panel: AwardPanel[S, D],
    *,
    subject: S,
    actor: Actor,
    outcome: Any,
    reason: Any,
    complete: Callable[[S, D, User], object],
    before_award: Callable[[S, User], object] | None = None,
) -> D:
    """A fund officer approves awarding or rejecting a subject under review.

    Guarantees:

    - fund officers of the JP or KR side only (403); an outcome and a reason are required
      (422, field-level);
    - ``before_award`` (the domain's checks that stay recorded even when the completion is
      refused, e.g. its screening case) runs for an award of a subject under review,
      before anything is locked;
    - the subject's row is locked first, so two officers approving at the same moment are
      serialised: one records the pending decision, the other completes it (one live
      decision per subject is also a database constraint); a subject not under review or
      already decided answers 409 ``invalid_state``;
    - the second approval must come from another person of the other side
      (``decision_approve``) with the same outcome (409 ``outcome_differs``);
    - completion runs ``complete`` (the domain's consequence, usually
      :func:`award_outcome_apply`) in the same transaction;
    - every step is audited; at the first approval the other side's officers are told.
    """
    officer = require_award_officer(panel, actor)
    problems = Problems()
    outcome = inputs.choice(problems, "outcome", outcome, panel.outcomes)
    reason = inputs.text(problems, "reason", reason, max_length=4000, required=True)
    if problems:
        raise ValidationFailed(
            _("The decision has errors; see the fields."), errors=problems.as_dict()
        )
    if (
        before_award is not None
        and outcome == panel.award_outcome
        and subject.state == panel.review_state  # type: ignore[attr-defined]
    ):
        before_award(subject, officer)

    with transaction.atomic():
        locked = panel.lock_subject(subject)
        state = locked.state  # type: ignore[attr-defined]
        if state != panel.review_state:
            raise Conflict(
                str(panel.not_under_review_message) % {"state": panel.subject_states(state).label},
                code="invalid_state",
            )
        live = (
            panel.decision_model._default_manager.select_for_update(of=("self",))
            .filter(**{panel.subject_field: locked}, state__in=LIVE_STATES)
            .select_related("first_officer")
            .first()
        )
        if live is not None and live.state == DecisionState.COMPLETED:
            raise Conflict(str(panel.already_decided_message), code="invalid_state")
        decision = decision_approve(
            live=live,
            new=lambda: panel.decision_model(
                **{panel.subject_field: locked}, outcome=outcome, reason=reason
            ),
            actor=officer,
            matches=lambda pending: _refuse_other_outcome(panel, pending, outcome),
            on_complete=lambda completed: complete(locked, completed, officer),
            audit_first={panel.subject_field: locked.pk, "outcome": outcome, "reason": reason},
            audit_complete={"outcome": outcome, "second_reason": reason},
        )
        if live is None:
            tell_other_side(
                officer=officer,
                message=panel.awaits_message,
                params={
                    "title": locked.pk,
                    "officer": officer.pk,
                    "outcome": decision.outcome,  # type: ignore[attr-defined]
                    "side": officer.side,
                },
                url=panel.subject_url(locked),
            )
        return decision


def award_outcome_apply(
    panel: AwardPanel[S, D],
    *,
    subject: S,
    decision: D,
    officer: User,
    refuse_award: Callable[[S], object],
    create: Callable[[S], models.Model],
) -> tuple[str, int | None]:
    """The completed decision's consequence, inside the completion's transaction (the
    subject's row locked): for an award, ``refuse_award`` may still refuse (raising rolls
    the completion back; the decision stays pending); the subject moves to ``awarded`` or
    ``rejected`` (agreed by two persons), an award ``create``-s what it makes; audited
    ``<prefix>.<state>`` with the decision, its reason and the created row's id. Returns
    the new state and that id (None for a rejection), for the domain's notices."""
    awarded = decision.outcome == panel.award_outcome  # type: ignore[attr-defined]
    if awarded:
        refuse_award(subject)
    now = decision.second_at or timezone.now()
    target = panel.awarded_state if awarded else panel.rejected_state
    before = panel.move_agreed(subject, target, officer)
    subject.updated_at = now  # type: ignore[attr-defined]
    subject.save(update_fields=["state", "updated_at"])
    created_id = create(subject).pk if awarded else None
    audit_record(
        actor=officer,
        action=f"{panel.audit_prefix}.{target}",
        obj=subject,
        before={"state": before},
        after={
            "state": target,
            "decision": decision.pk,
            "reason": decision.reason,  # type: ignore[attr-defined]
            panel.created_key: created_id,
        },
    )
    return target, created_id


def award_withdraw(panel: AwardPanel[Any, D], *, decision: D, actor: Actor) -> D:
    """The officer who approved first withdraws a pending decision; a new one can be
    started. Locks the subject then the decision; audited ``<kind>.withdrawn``."""
    require_award_officer(panel, actor)
    return decision_withdraw(
        decision=decision,
        actor=actor,
        lock_subject=lambda: panel.lock_subject(panel.subject_of(decision)),
    )


def award_decline(panel: AwardPanel[Any, D], *, decision: D, actor: Actor, reason: Any) -> D:
    """A fund officer of the other side declines a pending decision with a reason; the
    subject stays under review. Locks the subject then the decision; audited
    ``<kind>.declined``."""
    require_award_officer(panel, actor)
    return decision_decline(
        decision=decision,
        actor=actor,
        reason=reason,
        lock_subject=lambda: panel.lock_subject(panel.subject_of(decision)),
    )
