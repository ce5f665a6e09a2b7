"""Award decisions on visit applications under the two-person rule (§2, §6, §11, §25).

The first fund officer's approval records a pending ``VisitAwardDecision``; a fund
officer of the other side approving the same outcome completes it. Completion rejects the
application, or — once screening allows it — creates the ``Visit`` (paying side, currency
and payee by ``mobility.rules.paying_side``, amounts from the call's terms) and commits
its whole sum in the ledger, all in one transaction: a refusal anywhere (screening not
cleared, a pool that cannot cover the visit) leaves the decision pending and nothing else
changed.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import Membership, Role, Side, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.approvals import (
    LIVE_STATES,
    DecisionState,
    decision_approve,
    decision_decline,
    decision_withdraw,
)
from fundapp.kernel.problems import Problems
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import TransactionKind
from fundapp.ledger.selectors import account_balance
from fundapp.ledger.services import InsufficientFunds, ledger_post
from fundapp.money import format_amount
from fundapp.notifications.outbox import event_record
from fundapp.notifications.services import notify
from mobility import permissions
from mobility.events import visit_data
from mobility.models import (
    ApplicationState,
    MobilityTerms,
    Visit,
    VisitApplication,
    VisitAwardDecision,
)
from mobility.rules import paying_side
from mobility.services.applications import lock, move
from mobility.services.screening import (
    application_screening_clearance,
    application_screening_open,
    refuse_unless_cleared,
)
from projects.models import AwardOutcome


def _url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _require_award_officer(actor: Actor) -> User:
    allowed, reason = permissions.can_decide_visit_award(actor)
    if not allowed or not isinstance(actor, User):
        raise PermissionDenied(reason or _("Only fund officers may decide awards."))
    return actor


def visit_award_approve(
    *, application: VisitApplication, actor: Actor, outcome: str, reason: str
) -> VisitAwardDecision:
    """A fund officer approves awarding or rejecting an application under review.

    Guarantees:

    - fund officers of the JP or KR side only; a reason is required;
    - the application row is locked first, so two officers approving at once are
      serialised: one records the pending decision, the other completes it (one live
      decision per application is also a database constraint);
    - the second approval must come from another person of the other side with the same
      outcome (else a clear refusal, nothing changed);
    - an award refreshes the screening case at every approval (in its own savepoint) and
      completes only when screening is cleared or not required (§11, the proposals'
      message and code);
    - completion creates the visit and commits its whole sum from the paying side's pool
      in the same transaction; a pool that cannot cover it answers 409
      ``pool_insufficient`` and the decision stays pending;
    - every step is audited; ``visit.awarded`` goes to the outbox; the visitor and the
      host organisation's research office are told the outcome.
    """
    officer = _require_award_officer(actor)
    problems = Problems()
    outcome = inputs.choice(problems, "outcome", outcome, AwardOutcome)
    reason = inputs.text(problems, "reason", reason, max_length=4000, required=True)
    if problems:
        raise ValidationFailed(
            _("The decision has errors; see the fields."), errors=problems.as_dict()
        )
    if outcome == AwardOutcome.AWARD and application.state == ApplicationState.UNDER_REVIEW:
        application_screening_open(application=application, actor=officer)

    with transaction.atomic():
        locked = lock(application)
        if locked.state != ApplicationState.UNDER_REVIEW:
            raise Conflict(
                _(
                    "Only an application under review can be awarded or rejected; this one "
                    "is “%(state)s”."
                )
                % {"state": ApplicationState(locked.state).label},
                code="invalid_state",
            )
        live = (
            VisitAwardDecision.objects.select_for_update(of=("self",))
            .filter(application=locked, state__in=LIVE_STATES)
            .select_related("first_officer")
            .first()
        )
        if live is not None and live.state == DecisionState.COMPLETED:
            raise Conflict(_("This application has already been decided."), code="invalid_state")

        def same_outcome(pending: VisitAwardDecision) -> None:
            if pending.outcome != outcome:
                raise Conflict(
                    _(
                        "The pending decision is to %(pending)s, not to %(yours)s. Approve the "
                        "same outcome, or ask %(first)s to withdraw the pending decision first."
                    )
                    % {
                        "pending": AwardOutcome(pending.outcome).label.lower(),
                        "yours": AwardOutcome(outcome).label.lower(),
                        "first": pending.first_officer,
                    },
                    code="outcome_differs",
                )

        decision = decision_approve(
            live=live,
            new=lambda: VisitAwardDecision(application=locked, outcome=outcome, reason=reason),
            actor=officer,
            matches=same_outcome,
            on_complete=lambda completed: _complete(locked, completed, officer),
            audit_first={"application": locked.pk, "outcome": outcome, "reason": reason},
            audit_complete={"outcome": outcome, "second_reason": reason},
        )
        if live is None:
            _tell_other_side(locked, decision, officer)
        return decision


def _tell_other_side(
    application: VisitApplication, decision: VisitAwardDecision, officer: User
) -> None:
    other_side = Side.KR if officer.side == Side.JP else Side.JP
    notify(
        users=User.objects.filter(role=Role.FUND_OFFICER, side=other_side, is_active=True),
        message="visit_award.awaits_approval",
        params={
            "title": application.pk,
            "officer": officer.pk,
            "outcome": decision.outcome,
            "side": officer.side,
        },
        url=_url("mobility:application", application.pk),
    )


def _complete(application: VisitApplication, decision: VisitAwardDecision, officer: User) -> None:
    """The award's consequence, inside the completion's transaction."""
    visit = None
    if decision.outcome == AwardOutcome.AWARD:
        refuse_unless_cleared(application_screening_clearance(application))
    now = decision.second_at or timezone.now()
    target = (
        ApplicationState.AWARDED
        if decision.outcome == AwardOutcome.AWARD
        else ApplicationState.REJECTED
    )
    before = move(application, target, actor=officer, agreed=True)
    application.updated_at = now
    application.save(update_fields=["state", "updated_at"])
    if decision.outcome == AwardOutcome.AWARD:
        visit = visit_create_from_application(application=application, actor=officer)
    audit_record(
        actor=officer,
        action=f"visit_application.{target}",
        obj=application,
        before={"state": before},
        after={
            "state": target,
            "decision": decision.pk,
            "reason": decision.reason,
            "visit": visit.pk if visit is not None else None,
        },
    )
    offices = User.objects.filter(
        pk__in=Membership.objects.filter(
            organisation_id=application.host_organisation_id, research_office=True
        ).values("user_id"),
        is_active=True,
    )
    notify(
        users=[application.visitor, *offices],
        message="visit_award.decided",
        params={"title": application.pk, "outcome": target, "reason": decision.reason},
        url=_url("mobility:application", application.pk),
    )


def visit_create_from_application(*, application: VisitApplication, actor: User) -> Visit:
    """Create the visit an award decides and commit its whole sum (§25), inside the
    award's transaction (the application row locked).

    The paying side, currency and payee follow ``paying_side``; the stipend and travel
    amounts are the call's terms in that currency, frozen on the visit. The ledger moves
    ``months × stipend + travel`` from ``fund:{side}:pool`` to
    ``visit:{id}:{side}:committed`` (``award_commitment``, reference
    ``visit:{id}:commitment``); a pool that cannot cover it answers 409
    ``pool_insufficient`` and rolls everything back. Audited ``visit.awarded``, with the
    ``visit.awarded`` outbox event for the home and host organisations."""
    rule = paying_side(application.home_organisation.country, application.host_organisation.country)
    terms = MobilityTerms.objects.get(call_id=application.call_id)
    assert application.months is not None and application.planned_start is not None
    visit = Visit.objects.create(
        application=application,
        paying_side=rule.side,
        currency=rule.currency,
        payee=application.host_organisation
        if rule.payee_is_host
        else application.home_organisation,
        stipend_month_amount=terms.stipend_month(rule.currency),
        travel_amount=terms.travel(rule.currency),
        months=application.months,
        planned_start=application.planned_start,
    )
    total = visit.committed_amount
    if total > 0:
        _commit(visit, total, actor)
    audit_record(
        actor=actor,
        action="visit.awarded",
        obj=visit,
        after={
            "application": application.pk,
            "paying_side": visit.paying_side,
            "currency": visit.currency,
            "payee": visit.payee_id,
            "committed": total,
        },
    )
    event_record(
        kind="visit.awarded",
        obj=visit,
        organisation_ids=[application.home_organisation_id, application.host_organisation_id],
        payload=visit_data(visit),
    )
    return visit


def _commit(visit: Visit, total: int, actor: User) -> None:
    side, currency = visit.paying_side, visit.currency
    pool = ledger_rules.account_code_fund_pool(side)
    refusal = _("The %(side)s pool holds %(held)s; this visit would commit %(needed)s.")

    def conflict() -> Conflict:
        message = refusal % {
            "side": side,
            "held": format_amount(account_balance(pool), currency),
            "needed": format_amount(total, currency),
        }
        return Conflict(message, code="pool_insufficient", errors={"budget": [message]})

    if account_balance(pool) < total:
        raise conflict()
    try:
        ledger_post(
            kind=TransactionKind.AWARD_COMMITMENT,
            currency=currency,
            legs=[
                (pool, -total),
                (ledger_rules.account_code_visit_committed(visit.pk, side), total),
            ],
            reference=f"visit:{visit.pk}:commitment",
            memo=f"Award of visit {visit.pk} (application {visit.application_id})",
            actor=actor,
        )
    except InsufficientFunds as exc:
        # The pool shrank between the read above and the ledger's lock.
        raise conflict() from exc


# --------------------------------------------------------------------------- withdraw, decline


def visit_award_withdraw(*, decision: VisitAwardDecision, actor: Actor) -> VisitAwardDecision:
    """The officer who approved first withdraws a pending decision. Locks the application
    then the decision; audited ``visit_award.withdrawn``."""
    _require_award_officer(actor)
    return decision_withdraw(
        decision=decision, actor=actor, lock_subject=lambda: lock(decision.application)
    )


def visit_award_decline(
    *, decision: VisitAwardDecision, actor: Actor, reason: Any
) -> VisitAwardDecision:
    """A fund officer of the other side declines a pending decision with a reason; the
    application stays under review. Audited ``visit_award.declined``."""
    _require_award_officer(actor)
    return decision_decline(
        decision=decision,
        actor=actor,
        reason=reason,
        lock_subject=lambda: lock(decision.application),
    )
