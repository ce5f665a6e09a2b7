"""The one two-person approval component (§2 "Two-person rule").

Award decisions, gate decisions and overrides, licence approvals, return-allocation
changes — and every later approval — are rows of a concrete model inheriting
``TwoPersonDecision``; they share:

- the fields (who approved first and second, for which side, when; who declined, why;
  when the first approver withdrew) and the states (``DecisionState``);
- the database rules (``two_person_constraints``): two different people of two different
  sides, a completed decision has both, a declined one its decliner and reason;
- one permission function (``can_act_on_decision``) and one set of refusal messages;
- one service: ``decision_start`` (the first approval, pending), ``decision_complete``
  (the second, by another person of the other side; the domain's consequence runs in the
  same transaction), ``decision_approve`` (either, on the live decision the domain has
  locked), ``decision_withdraw`` (the first approver takes a pending approval back) and
  ``decision_decline`` (an officer of the other side refuses it, with a reason). A
  withdrawn or declined decision has ended; a new one can be started.

Every step writes one audit event on the decision: ``<audit_kind>.approved``,
``.completed``, ``.withdrawn``, ``.declined`` (``audit_kind`` is the concrete model's).

A new two-person approval (those §22–§24 add) is a model inheriting ``TwoPersonDecision``
with its ``audit_kind``, ``two_person_constraints(<prefix>)`` and a unique constraint on
``live_condition()`` in its Meta; its service locks the subject, reads the live decision
with ``select_for_update`` and calls ``decision_approve`` (its consequence as
``on_complete``), ``decision_withdraw`` and ``decision_decline`` (``lock_subject``); its
page includes ``templates/includes/two_person.html`` with ``approval_pages.two_person_panel``
and its API nests ``fundapp.api.approvals.TwoPersonDecisionSerializer``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fundapp.accounts.models import Side, User
from fundapp.actors import Actor, is_fund_officer
from fundapp.audit.services import AuditEntry, audit_record, audit_record_many
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.decisions import Decision
from fundapp.kernel.notices import notify_people
from fundapp.kernel.problems import Problems
from fundapp.workflow import APPLICANTS, OFFICERS, SYSTEM, Workflow, edges

FUNDED_SIDES = (Side.JP, Side.KR)
MAX_DECLINE_REASON = 4000


class DecisionState(models.TextChoices):
    PENDING = "pending", gettext_lazy("Awaiting second approval")
    COMPLETED = "completed", gettext_lazy("Completed")
    WITHDRAWN = "withdrawn", gettext_lazy("Withdrawn")
    DECLINED = "declined", gettext_lazy("Declined")
    # Ended by the system, not by an officer: the gate was evaluated again, the licence
    # was terminated.
    CANCELLED = "cancelled", gettext_lazy("Cancelled")


# A decision in one of these states holds its subject; the others have ended.
LIVE_STATES = (DecisionState.PENDING, DecisionState.COMPLETED)
ENDED_STATES = (DecisionState.WITHDRAWN, DecisionState.DECLINED, DecisionState.CANCELLED)

Action = Literal["approve", "withdraw", "decline"]

# A pending decision is completed by the second officer, withdrawn by the first or declined
# by the other side; the fund cancels it when its ground goes (the gate is evaluated again,
# whoever asked for that; the licence is terminated). Every other state is final. The
# services check this table; the database holds the decisions to their CHECK constraints
# (two_person_constraints) rather than a trigger, so that the data migration of 0008/0004
# (cancelled → withdrawn, a move the fund no longer makes) stays testable.
DECISION_WORKFLOW = Workflow(
    name="two-person decision",
    states=DecisionState,
    refusal=gettext_lazy("A decision that is “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {
                DecisionState.PENDING: [
                    DecisionState.COMPLETED,
                    DecisionState.WITHDRAWN,
                    DecisionState.DECLINED,
                ]
            },
            by=OFFICERS,
        ),
        *edges(
            {DecisionState.PENDING: [DecisionState.CANCELLED]}, by=OFFICERS | APPLICANTS | {SYSTEM}
        ),
    ],
)


class TwoPersonDecision(models.Model):
    """Abstract: the first approval is pending; a fund officer of the other side completes
    or declines it; the first approver may withdraw it while it is pending.

    The database refuses one person approving twice, two approvals of one side, a
    completed decision without two approvers of different sides and a declined one
    without its decliner and reason (``two_person_constraints`` in each concrete Meta).
    """

    # The first word of the decision's audit actions (``award`` → ``award.approved``).
    audit_kind: ClassVar[str] = "decision"
    workflow: ClassVar[Workflow] = DECISION_WORKFLOW

    state = models.CharField(
        gettext_lazy("state"),
        max_length=16,
        choices=DecisionState.choices,
        default=DecisionState.PENDING,
    )
    first_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    first_side = models.CharField(max_length=2)
    first_at = models.DateTimeField(default=timezone.now)
    second_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    second_side = models.CharField(max_length=2, blank=True)
    second_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    declined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    declined_side = models.CharField(max_length=2, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(gettext_lazy("reason for declining"), blank=True)

    class Meta:
        abstract = True

    @property
    def needed_side(self) -> str:
        """The side whose officer must still act ("" unless pending)."""
        if self.state != DecisionState.PENDING or not self.first_side:
            return ""
        return other_side(self.first_side)


def other_side(side: str) -> str:
    return Side.KR if side == Side.JP else Side.JP


def two_person_constraints(prefix: str, *, exempt: Q | None = None) -> list[models.BaseConstraint]:
    """The database's half of the two-person rule, for a concrete decision's Meta.

    ``exempt`` names rows decided without officers (an automatic gate decision), which
    need no second approver.
    """
    completed_ok = Q(second_officer__isnull=False, second_at__isnull=False) & ~Q(
        second_side=F("first_side")
    )
    if exempt is not None:
        completed_ok |= exempt
    return [
        models.CheckConstraint(
            condition=Q(state__in=DecisionState.values), name=f"{prefix}_state_valid"
        ),
        models.CheckConstraint(
            condition=Q(second_officer__isnull=True) | ~Q(second_officer=F("first_officer")),
            name=f"{prefix}_two_people",
        ),
        models.CheckConstraint(
            condition=Q(second_officer__isnull=True) | ~Q(second_side=F("first_side")),
            name=f"{prefix}_two_sides",
        ),
        models.CheckConstraint(
            condition=~Q(state=DecisionState.COMPLETED) | completed_ok,
            name=f"{prefix}_completed_has_second",
        ),
        models.CheckConstraint(
            condition=~Q(state=DecisionState.DECLINED)
            | (
                Q(declined_by__isnull=False, declined_at__isnull=False)
                & ~Q(decline_reason="")
                & ~Q(declined_by=F("first_officer"))
                & ~Q(declined_side=F("first_side"))
            ),
            name=f"{prefix}_declined_has_reason",
        ),
        models.CheckConstraint(
            condition=~Q(state=DecisionState.WITHDRAWN) | Q(withdrawn_at__isnull=False),
            name=f"{prefix}_withdrawn_has_time",
        ),
    ]


def live_condition() -> Q:
    """The condition of a "one live decision per subject" unique constraint."""
    return Q(state__in=[state.value for state in LIVE_STATES])


# --------------------------------------------------------------------------- permission


def officer_side(actor: Actor | None) -> str:
    if isinstance(actor, User) and actor.side in FUNDED_SIDES:
        return actor.side
    return ""


def _side_label(side: str) -> str:
    try:
        return str(Side(side).label)
    except ValueError:
        return side


def can_act_on_decision(
    actor: Actor | None, decision: TwoPersonDecision, action: Action = "approve"
) -> Decision:
    """May ``actor`` approve (as the second officer), withdraw or decline ``decision``?

    The same answer and the same messages for every kind of decision: fund officers of the
    JP or KR side only; only a pending decision; the first approver withdraws; another
    person of the other side completes or declines.
    """
    if not is_fund_officer(actor):
        return False, _("Only fund officers of the Japanese or the Korean side may do this.")
    side = officer_side(actor)
    if not side:
        return False, _(
            "Your account has no side (JP or KR); a two-person decision needs one officer "
            "of each side."
        )
    assert isinstance(actor, User)
    if decision.state != DecisionState.PENDING:
        return False, not_pending_message(decision)
    if action == "withdraw":
        if decision.first_officer_id != actor.pk:
            return False, _("Only the officer who approved first may withdraw this approval.")
        return True, ""
    if decision.first_officer_id == actor.pk:
        return False, _(
            "You have already approved this decision; a fund officer of the other side must "
            "complete it."
        )
    if decision.first_side == side:
        return False, _(
            "The second approval must come from the other side: %(first)s approved for the "
            "%(side)s side; an officer of the %(other)s side must complete or decline it."
        ) % {
            "first": decision.first_officer,
            "side": _side_label(decision.first_side),
            "other": _side_label(other_side(decision.first_side)),
        }
    return True, ""


def not_pending_message(decision: TwoPersonDecision) -> str:
    return _("This decision is no longer pending; it is “%(state)s”.") % {
        "state": DecisionState(decision.state).label
    }


def _refusal_code(actor: Actor | None, decision: TwoPersonDecision, action: Action) -> str:
    if not isinstance(actor, User) or not officer_side(actor) or not is_fund_officer(actor):
        return "forbidden"
    if action == "withdraw":
        return "not_first_officer"
    if decision.first_officer_id == actor.pk:
        return "same_person"
    return "same_side"


def require_decision_action(
    actor: Actor | None, decision: TwoPersonDecision, action: Action
) -> User:
    """Refuse unless ``actor`` may ``action`` the (locked) ``decision``: 409 when it is
    no longer pending, 403 with the rule's message otherwise."""
    if decision.state != DecisionState.PENDING:
        raise Conflict(not_pending_message(decision), code="invalid_state")
    allowed, reason = can_act_on_decision(actor, decision, action)
    if not allowed:
        raise PermissionDenied(reason, code=_refusal_code(actor, decision, action))
    assert isinstance(actor, User)
    return actor


# --------------------------------------------------------------------------- service

D = TypeVar("D", bound=TwoPersonDecision)


def _audit(decision: TwoPersonDecision, verb: str, actor: User, **payload: Any) -> None:
    before = payload.pop("before", None)
    audit_record(
        actor=actor,
        action=f"{decision.audit_kind}.{verb}",
        obj=decision,
        before=before,
        after=payload,
    )


def decision_start(decision: D, *, actor: User, audit: Mapping[str, Any] | None = None) -> D:
    """Store ``decision`` (unsaved, its domain fields set) as the first approval by
    ``actor``: pending, for the actor's side. Audited as ``<kind>.approved``. The caller
    holds the lock of the decision's subject and has checked no live decision exists."""
    side = officer_side(actor)
    if not is_fund_officer(actor) or not side:
        _allowed, reason = can_act_on_decision(actor, decision)
        raise PermissionDenied(reason, code="forbidden")
    decision.state = DecisionState.PENDING
    decision.first_officer = actor
    decision.first_side = side
    decision.first_at = timezone.now()
    decision.save()
    _audit(
        decision,
        "approved",
        actor,
        **{"side": side, "state": decision.state, **dict(audit or {})},
    )
    return decision


def decision_complete(
    decision: D,
    *,
    actor: User,
    on_complete: Callable[[D], Any] | None = None,
    audit: Mapping[str, Any] | None = None,
) -> D:
    """The second approval of a pending, locked ``decision``: refused unless ``actor`` is
    another fund officer of the other side (the same messages for every kind). Sets the
    second approver, completes it, audits ``<kind>.completed``, then runs ``on_complete``
    (the domain's consequence) in the same transaction: a refusal there rolls the
    completion back and the decision stays pending."""
    officer = require_decision_action(actor, decision, "approve")
    decision.second_officer = officer
    decision.second_side = officer.side
    decision.second_at = timezone.now()
    DECISION_WORKFLOW.move(decision, DecisionState.COMPLETED, actor=officer)
    update = ["second_officer", "second_side", "second_at", "state"]
    if hasattr(decision, "completed_at"):
        decision.completed_at = decision.second_at
        update.append("completed_at")
    with transaction.atomic():
        decision.save(update_fields=update)
        _audit(
            decision,
            "completed",
            officer,
            before={"state": DecisionState.PENDING},
            **{"state": decision.state, "second_side": officer.side, **dict(audit or {})},
        )
        if on_complete is not None:
            on_complete(decision)
    return decision


def decision_approve(
    *,
    live: D | None,
    new: Callable[[], D],
    actor: User,
    matches: Callable[[D], None] | None = None,
    on_complete: Callable[[D], Any] | None = None,
    audit_first: Mapping[str, Any] | None = None,
    audit_complete: Mapping[str, Any] | None = None,
) -> D:
    """Approve under the two-person rule, given the subject's ``live`` decision (locked by
    the caller, or ``None``): with none, ``new()`` is started as the first approval; else
    the actor must be allowed to complete it, ``matches`` may refuse an approval of
    something else (a different outcome, kind or table), and ``decision_complete`` runs."""
    if live is None:
        return decision_start(new(), actor=actor, audit=audit_first)
    if live.state == DecisionState.COMPLETED:
        raise Conflict(_("This has already been decided."), code="invalid_state")
    require_decision_action(actor, live, "approve")
    if matches is not None:
        matches(live)
    return decision_complete(live, actor=actor, on_complete=on_complete, audit=audit_complete)


def _locked(decision: D, lock_subject: Callable[[], Any] | None) -> D:
    if lock_subject is not None:
        lock_subject()
    manager = type(decision)._default_manager
    return manager.select_for_update(of=("self",)).get(pk=decision.pk)


def decision_withdraw(
    *, decision: D, actor: Actor, lock_subject: Callable[[], Any] | None = None
) -> D:
    """The first approver takes a pending approval back; the decision has ended and a new
    one can be started. Locks the subject (``lock_subject``, the domain's lock order) then
    the decision; 409 unless pending, 403 for anyone else. Audited ``<kind>.withdrawn``."""
    with transaction.atomic():
        locked = _locked(decision, lock_subject)
        officer = require_decision_action(actor, locked, "withdraw")
        DECISION_WORKFLOW.move(locked, DecisionState.WITHDRAWN, actor=officer)
        locked.withdrawn_at = timezone.now()
        locked.save(update_fields=["state", "withdrawn_at"])
        _audit(
            locked,
            "withdrawn",
            officer,
            before={"state": DecisionState.PENDING},
            state=locked.state,
        )
    return locked


def decisions_cancel(
    decisions: models.QuerySet[D], *, actor: Actor | None, reason: str, **audit: Any
) -> list[D]:
    """Cancel the pending decisions among ``decisions`` whose ground has gone (their
    proposal withdrawn, their project terminated, their gate re-evaluated, their
    obligation settled): each is locked in ``pk`` order, moved along ``DECISION_WORKFLOW``
    and audited ``<kind>.cancelled`` with ``reason`` (and ``audit``). Set-based: the lock,
    the update and the audit events are one statement each whatever the number of
    decisions, so a daily job may cancel a whole batch. The caller holds the subjects'
    locks and the transaction."""
    cancelled = list(
        decisions.select_for_update(of=("self",)).filter(state=DecisionState.PENDING).order_by("pk")
    )
    if not cancelled:
        return []
    for decision in cancelled:
        DECISION_WORKFLOW.move(decision, DecisionState.CANCELLED, actor=actor)
    type(cancelled[0])._default_manager.bulk_update(cancelled, ["state"])
    audit_record_many(
        [
            AuditEntry(
                actor=actor,
                action=f"{decision.audit_kind}.cancelled",
                obj=decision,
                before={"state": DecisionState.PENDING},
                after={"state": decision.state, "reason": reason, **audit},
            )
            for decision in cancelled
        ]
    )
    return cancelled


def clean_decline_reason(reason: Any) -> str:
    """The reason for declining, required (422 with a field error on ``reason``)."""
    problems = Problems()
    text = inputs.text(problems, "reason", reason, max_length=MAX_DECLINE_REASON, required=True)
    if problems:
        raise ValidationFailed(_("Give the reason for declining."), errors=problems.as_dict())
    return text


def decision_decline(
    *,
    decision: D,
    actor: Actor,
    reason: Any,
    lock_subject: Callable[[], Any] | None = None,
) -> D:
    """An officer of the other side declines a pending decision, with a reason; it has
    ended and a new one can be started. The reason is checked before anything is locked
    (422); then the subject and the decision are locked; 409 unless pending, 403 unless
    another fund officer of the other side. Audited ``<kind>.declined``; the first approver
    is told (``decision_needed``) with the reason."""
    text = clean_decline_reason(reason)
    with transaction.atomic():
        locked = _locked(decision, lock_subject)
        officer = require_decision_action(actor, locked, "decline")
        DECISION_WORKFLOW.move(locked, DecisionState.DECLINED, actor=officer)
        locked.declined_by = officer
        locked.declined_side = officer.side
        locked.declined_at = timezone.now()
        locked.decline_reason = text
        locked.save(
            update_fields=["state", "declined_by", "declined_side", "declined_at", "decline_reason"]
        )
        _audit(
            locked,
            "declined",
            officer,
            before={"state": DecisionState.PENDING},
            state=locked.state,
            side=officer.side,
            reason=text,
        )
        if locked.first_officer is not None:
            # The first approver learns why; a new decision can be started.
            notify_people(
                users=[locked.first_officer],
                message="decision.declined",
                params={"officer": officer.pk, "side": officer.side, "reason": text},
            )
    return locked
