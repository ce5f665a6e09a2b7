"""Award decisions on visit applications under the two-person rule (§2, §6, §11, §25).

The first fund officer's approval records a pending ``VisitAwardDecision``; a fund
officer of the other side approving the same outcome completes it. Completion rejects the
application, or — once screening allows it — creates the ``Visit`` (paying side, currency
and payee by ``mobility.rules.paying_side``, amounts from the call's terms) and commits
its whole sum in the ledger, all in one transaction: a refusal anywhere (screening not
cleared, a pool that cannot cover the visit) leaves the decision pending and nothing else
changed.

The flow is the kernel's award component (``fundapp.kernel.awards``), as for proposals;
this module names the applications' models, messages and consequence.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fundapp.accounts.models import Membership, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.kernel import awards as kernel
from fundapp.kernel.notices import page_url as _url
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.services import ledger_pool_commit
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

PANEL = kernel.AwardPanel[VisitApplication, VisitAwardDecision](
    subject_field="application",
    audit_prefix="visit_application",
    created_key="visit",
    decision_model=VisitAwardDecision,
    subject_states=ApplicationState,
    review_state=ApplicationState.UNDER_REVIEW,
    awarded_state=ApplicationState.AWARDED,
    rejected_state=ApplicationState.REJECTED,
    outcomes=AwardOutcome,
    award_outcome=AwardOutcome.AWARD,
    permission=permissions.can_decide_visit_award,
    lock_subject=lock,
    move_agreed=lambda application, target, officer: move(
        application, target, actor=officer, agreed=True
    ),
    awaits_message="visit_award.awaits_approval",
    subject_url=lambda application: _url("mobility:application", application.pk),
    not_under_review_message=gettext_lazy(
        "Only an application under review can be awarded or rejected; this one is “%(state)s”."
    ),
    already_decided_message=gettext_lazy("This application has already been decided."),
)


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
    return kernel.award_approve(
        PANEL,
        subject=application,
        actor=actor,
        outcome=outcome,
        reason=reason,
        before_award=lambda subject, officer: application_screening_open(
            application=subject, actor=officer
        ),
        complete=_complete,
    )


def _complete(application: VisitApplication, decision: VisitAwardDecision, officer: User) -> None:
    """The award's consequence, inside the completion's transaction."""
    target, _visit_id = kernel.award_outcome_apply(
        PANEL,
        subject=application,
        decision=decision,
        officer=officer,
        refuse_award=lambda subject: refuse_unless_cleared(
            application_screening_clearance(subject)
        ),
        create=lambda subject: visit_create_from_application(application=subject, actor=officer),
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
    ledger_pool_commit(
        side=visit.paying_side,
        currency=visit.currency,
        total=total,
        committed_account=ledger_rules.account_code_visit_committed(visit.pk, visit.paying_side),
        reference=f"visit:{visit.pk}:commitment",
        memo=f"Award of visit {visit.pk} (application {visit.application_id})",
        refusal=_("The %(side)s pool holds %(held)s; this visit would commit %(needed)s."),
        actor=actor,
    )


# --------------------------------------------------------------------------- withdraw, decline


def visit_award_withdraw(*, decision: VisitAwardDecision, actor: Actor) -> VisitAwardDecision:
    """The officer who approved first withdraws a pending decision. Locks the application
    then the decision; audited ``visit_award.withdrawn``."""
    return kernel.award_withdraw(PANEL, decision=decision, actor=actor)


def visit_award_decline(
    *, decision: VisitAwardDecision, actor: Actor, reason: Any
) -> VisitAwardDecision:
    """A fund officer of the other side declines a pending decision with a reason; the
    application stays under review. Audited ``visit_award.declined``."""
    return kernel.award_decline(PANEL, decision=decision, actor=actor, reason=reason)
