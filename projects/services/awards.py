"""Award decisions under the two-person rule (§2, §6, §11).

The first fund officer's approval records a pending ``AwardDecision``; a fund officer of
the other side approving the same outcome completes it. Completion rejects the proposal,
or — once screening allows it — creates the project from the frozen proposal and marks
the proposal awarded, all in one transaction: a refusal anywhere (screening not cleared,
a side's pool that cannot cover the budget) leaves the decision pending and nothing else
changed.

The flow is the kernel's award component (``fundapp.kernel.awards``, on the two-person
component), shared with visit applications; this module names the proposals' models,
messages and consequence (``PANEL``, ``_complete``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fundapp.accounts.models import Side, User
from fundapp.actors import Actor
from fundapp.kernel import awards as kernel
from fundapp.kernel.clearance import refuse_unless_cleared
from fundapp.kernel.notices import page_url as _url
from fundapp.notifications.outbox import event_record
from fundapp.notifications.services import notify
from fundapp.screening import reasons as screening_reasons
from fundapp.screening.services import screening_case_open, screening_clearance
from projects.events import award_data
from projects.models import (
    AwardDecision,
    AwardOutcome,
    ConsortiumMember,
    PersonRole,
    Proposal,
    ProposalPerson,
    ProposalState,
    Sensitivity,
)
from projects.selectors import reviews as selectors
from projects.services.duplicates import award_refusal, duplicate_check_at_award
from projects.services.outbox import proposal_organisation_ids
from projects.services.proposals import _lock, _transition

SCREENING_SUBJECT = "proposal"

PANEL = kernel.AwardPanel[Proposal, AwardDecision](
    subject_field="proposal",
    audit_prefix="proposal",
    created_key="project",
    decision_model=AwardDecision,
    subject_states=ProposalState,
    review_state=ProposalState.UNDER_REVIEW,
    awarded_state=ProposalState.AWARDED,
    rejected_state=ProposalState.REJECTED,
    outcomes=AwardOutcome,
    award_outcome=AwardOutcome.AWARD,
    permission=selectors.can_decide_award,
    lock_subject=_lock,
    move_agreed=lambda proposal, target, officer: _transition(
        proposal, target, actor=officer, agreed=True
    ),
    awaits_message="award.awaits_approval",
    subject_url=lambda proposal: _url("reviews:proposal", proposal.pk),
    not_under_review_message=gettext_lazy(
        "Only a proposal under review can be awarded or rejected; this one is “%(state)s”."
    ),
    already_decided_message=gettext_lazy("This proposal has already been decided."),
)


# --------------------------------------------------------------------------- screening


def screening_request(proposal: Proposal) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """What §11 asks to screen for this proposal: the reasons (sensitive or controlled area,
    dual use, organisations outside Japan and Korea) and every consortium organisation with
    its names in English, Japanese and Korean for the restricted-party match."""
    reasons: list[dict[str, str]] = []
    area = proposal.research_area
    if area is not None and area.sensitivity == Sensitivity.SENSITIVE:
        reasons.append({"code": screening_reasons.SENSITIVE_AREA, "detail": area.code})
    if area is not None and area.sensitivity == Sensitivity.CONTROLLED:
        reasons.append({"code": screening_reasons.CONTROLLED_AREA, "detail": area.code})
    if proposal.dual_use:
        reasons.append(
            {
                "code": screening_reasons.DUAL_USE,
                "detail": ", ".join(proposal.controlled_categories),
            }
        )
    members = list(
        ConsortiumMember.objects.filter(proposal=proposal)
        .select_related("organisation")
        .order_by("order", "id")
    )
    outside = [m.organisation for m in members if m.organisation.country not in (Side.JP, Side.KR)]
    if outside:
        reasons.append(
            {
                "code": screening_reasons.PARTNER_OUTSIDE_JP_KR,
                "detail": ", ".join(f"{org.name_en} ({org.country})" for org in outside),
            }
        )
    parties = [
        {
            "organisation_id": m.organisation.pk,
            "name": m.organisation.name_en,
            "aliases": [
                name
                for name in (m.organisation.name_ja, m.organisation.name_ko)
                if name and name != m.organisation.name_en
            ],
            "country": m.organisation.country,
        }
        for m in members
    ]
    return reasons, parties


def proposal_screening_open(*, proposal: Proposal, actor: Actor | None) -> str:
    """Open or refresh the proposal's screening case (idempotent; the restricted-party list
    is matched every time) and return its clearance: ``not_required``, ``open``,
    ``cleared`` or ``blocked``."""
    reasons, parties = screening_request(proposal)
    screening_case_open(
        subject_type=SCREENING_SUBJECT,
        subject_id=proposal.pk,
        reasons=reasons,
        parties=parties,
        subject_label=(proposal.title or str(proposal))[:300],
        subject_url=_url("proposals:detail", proposal.pk),
        actor=actor,
    )
    return proposal_screening_clearance(proposal)


def proposal_screening_clearance(proposal: Proposal) -> str:
    return screening_clearance(subject_type=SCREENING_SUBJECT, subject_id=proposal.pk)


def _refuse_unless_cleared(clearance: str) -> None:
    refuse_unless_cleared(
        clearance,
        blocked=_(
            "Screening has blocked this proposal; it cannot be awarded. Cancel the pending "
            "decision and reject the proposal instead."
        ),
        pending=_(
            "The award waits for screening clearance: a screening officer must clear this "
            "proposal first. The decision stays pending."
        ),
    )


# --------------------------------------------------------------------------- approve


def award_approve(
    *,
    proposal: Proposal,
    actor: Actor,
    outcome: str,
    reason: str,
    starts_on: date | None = None,
) -> AwardDecision:
    """A fund officer approves awarding or rejecting a proposal under review.

    ``starts_on`` is the project's start date when this approval completes an award (today
    in Asia/Tokyo when not given; an earlier date records work begun before the award,
    and the stage-1 gate day follows from it).

    Guarantees:

    - fund officers of the JP or KR side only; a reason is required;
    - the proposal row is locked first, so two officers approving at the same moment are
      serialised: one records the pending decision, the other completes it (one live
      decision per proposal is also a database constraint);
    - the first approval is pending; the second must come from another person of the other
      side with the same outcome (else a clear refusal, nothing changed);
    - an award opens the screening case at the first approval already (in its own
      savepoint, so a refused completion never takes a new case back with it) and completes
      only when screening is cleared or not required; completion creates the project
      (``project_create_from_proposal``) in the same transaction — any refusal there rolls
      everything back and the decision stays pending;
    - an award runs the duplicate-funding check (§22) at every approval, committed on its
      own like the screening case; it completes only when no flag of the proposal is open
      or resolved as "refuse" (``projects.services.duplicates.award_refusal``);
    - every step is audited; the other side's officers are told a decision is needed, the
      principal investigators are told the outcome.
    """
    return kernel.award_approve(
        PANEL,
        subject=proposal,
        actor=actor,
        outcome=outcome,
        reason=reason,
        before_award=_before_award,
        complete=lambda locked, decision, officer: _complete(locked, decision, officer, starts_on),
    )


def _before_award(proposal: Proposal, officer: User) -> None:
    # Screening officers see the case from the first approval on; a new match found now
    # stays recorded even when the completion is refused.
    with transaction.atomic():
        proposal_screening_open(proposal=proposal, actor=officer)
    # §22: checked again at every approval of an award, before it can complete; the flags
    # it raises stay even when the completion is refused.
    duplicate_check_at_award(proposal=proposal, actor=officer)


def _refuse_award(proposal: Proposal) -> None:
    _refuse_unless_cleared(proposal_screening_clearance(proposal))
    refusal = award_refusal(proposal)
    if refusal is not None:
        raise refusal


def _create_project(proposal: Proposal, officer: User, starts_on: date | None) -> Any:
    # Written by the engine in parallel; imported here so the review app loads without it.
    from projects.services.projects import project_create_from_proposal

    return project_create_from_proposal(proposal=proposal, actor=officer, started_on=starts_on)


def _complete(
    proposal: Proposal, decision: AwardDecision, officer: User, starts_on: date | None
) -> None:
    """The award's consequence, inside the completion's transaction: the proposal is
    awarded (the project created) or rejected; a refusal rolls the completion back."""
    target, project_id = kernel.award_outcome_apply(
        PANEL,
        subject=proposal,
        decision=decision,
        officer=officer,
        refuse_award=_refuse_award,
        create=lambda locked: _create_project(locked, officer, starts_on),
    )
    event_record(
        kind="award.decided",
        obj=decision,
        organisation_ids=proposal_organisation_ids(proposal.pk),
        payload=award_data(decision, project_id=project_id),
    )
    pis = User.objects.filter(
        pk__in=ProposalPerson.objects.filter(proposal=proposal, role=PersonRole.PI).values("user")
    )
    notify(
        users=pis,
        message="award.decided",
        params={"title": proposal.pk, "outcome": target, "reason": decision.reason},
        url=_url("proposals:detail", proposal.pk),
    )


# --------------------------------------------------------------------------- withdraw, decline


def award_decision_withdraw(*, decision: AwardDecision, actor: Actor) -> AwardDecision:
    """The officer who approved first withdraws a pending decision (e.g. to change the
    outcome); a new one can be started. Locks the proposal then the decision; audited
    ``award.withdrawn`` (``decision_withdraw``)."""
    return kernel.award_withdraw(PANEL, decision=decision, actor=actor)


# The name the browser and the API used first.
award_decision_cancel = award_decision_withdraw


def award_decision_decline(*, decision: AwardDecision, actor: Actor, reason: Any) -> AwardDecision:
    """A fund officer of the other side declines a pending decision with a reason; the
    proposal stays under review and a new decision can be started. Locks the proposal then
    the decision; audited ``award.declined`` (``decision_decline``)."""
    return kernel.award_decline(PANEL, decision=decision, actor=actor, reason=reason)
