"""Which proposals an actor may see, filtered in SQL (§2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum

from fundapp.accounts.models import ApiKey, Membership, Organisation, Role, User
from fundapp.actors import Actor, is_fund_officer
from fundapp.audit.services import history_for
from fundapp.errors import NotFound
from fundapp.kernel import registry
from fundapp.screening.models import ScreeningCase
from projects.models import (
    AssignmentState,
    ConsortiumMember,
    Proposal,
    ProposalPerson,
    ProposalState,
    ProposalUserObjectPermission,
    ReviewerAssignment,
)
from projects.models.proposals import PENDING_STATES
from projects.selectors.projects import EqualsAny


def proposals_visible_to(actor: Actor | None) -> QuerySet[Proposal]:
    """Every proposal the actor may open, as one SQL query (no per-row checks).

    - fund staff: all proposals of the fund;
    - a person: proposals they hold guardian's ``view_proposal`` on (the named people of the
      consortium), and, once submitted, those of organisations whose research office they staff;
    - a reviewer: the proposals they are assigned to and have declared no conflict for;
    - an API key: non-draft proposals whose consortium includes its organisation, and drafts
      created through a key of that organisation.
    """
    qs = Proposal.objects.all()
    if actor is None:
        return qs.none()
    if isinstance(actor, ApiKey):
        in_consortium = (
            ConsortiumMember.objects.filter(organisation_id=actor.organisation_id)
            .values("proposal_id")
            .order_by()
        )
        return qs.filter(
            EqualsAny(F("pk"), ArraySubquery(in_consortium))
            & (
                ~Q(state=ProposalState.DRAFT)
                | Q(created_by_api_key__organisation_id=actor.organisation_id)
            )
        )
    if not isinstance(actor, User) or not actor.is_authenticated or not actor.is_active:
        return qs.none()
    if is_fund_officer(actor) or actor.role == Role.ADMIN:
        return qs
    if actor.role == Role.SCREENING_OFFICER:
        # Screening officers see the proposals that need screening (§2, §11).
        return qs.filter(
            Exists(ScreeningCase.objects.filter(subject_type="proposal", subject_id=OuterRef("pk")))
        )
    # The ids of the three ways in, collected once (``id = ANY(ARRAY(… UNION …))``, see
    # ``EqualsAny``), each read off an index; an OR of EXISTS would be evaluated row by
    # row over every proposal.
    granted = (
        ProposalUserObjectPermission.objects.filter(
            user=actor, permission__codename="view_proposal"
        )
        .values("content_object_id")
        .order_by()
    )
    of_office_orgs = ConsortiumMember.objects.filter(
        EqualsAny(
            F("organisation_id"),
            ArraySubquery(
                Membership.objects.filter(user=actor, research_office=True).values(
                    "organisation_id"
                )
            ),
        )
    ).values("proposal_id")
    # Drafts are the consortium's own until submitted: the state is checked on the
    # proposals found by id, not by joining every consortium row to its proposal.
    office = (
        Proposal.objects.filter(EqualsAny(F("pk"), ArraySubquery(of_office_orgs.order_by())))
        .exclude(state=ProposalState.DRAFT)
        .values("pk")
        .order_by()
    )
    reviewing = (
        ReviewerAssignment.objects.filter(
            reviewer=actor, state__in=[AssignmentState.ACTIVE, AssignmentState.SUBMITTED]
        )
        .values("proposal_id")
        .order_by()
    )
    return qs.filter(EqualsAny(F("pk"), ArraySubquery(granted.union(office, reviewing))))


def get_proposal_for_actor(actor: Actor | None, pk: object) -> Proposal:
    """Fetch and authorise in one step: missing and not-yours give the same 404."""
    try:
        pk_int = int(str(pk))
    except (TypeError, ValueError):
        raise NotFound() from None
    proposal = (
        proposals_visible_to(actor)
        .select_related("call", "research_area")
        .filter(pk=pk_int)
        .first()
    )
    if proposal is None:
        raise NotFound()
    return proposal


def claimed_effort(user_ids: list[int], *, exclude_proposal_id: int | None) -> dict[int, int]:
    """Effort each person already gives to pending proposals and to what other domains
    register (``fundapp.kernel.registry.effort_claim_register``: visits of the talent
    exchange, §25)."""
    rows = (
        ProposalPerson.objects.filter(user_id__in=user_ids, proposal__state__in=PENDING_STATES)
        .exclude(proposal_id=exclude_proposal_id or 0)
        .values("user_id")
        .annotate(total=Sum("effort_percent"))
    )
    claimed = {r["user_id"]: int(r["total"] or 0) for r in rows}
    for user_id, effort in registry.effort_claimed_elsewhere(user_ids).items():
        claimed[user_id] = claimed.get(user_id, 0) + effort
    return claimed


@dataclass(frozen=True)
class ReturnNotice:
    """Why a draft is back with its PIs: who returned it, when, and the reason given."""

    organisation: Organisation | None
    reason: str
    returned_at: datetime
    by: str


def last_return(proposal: Proposal) -> ReturnNotice | None:
    """For a draft that a research office returned (§5), the latest return; else ``None``.
    Read from the audit trail, where the service recorded it (one query, two if found)."""
    if proposal.state != ProposalState.DRAFT:
        return None
    event = (
        history_for(proposal)
        .filter(action="proposal.returned")
        .order_by("-id")
        .only("after", "occurred_at", "actor_label")
        .first()
    )
    if event is None:
        return None
    after = event.after or {}
    organisation_id = after.get("organisation")
    organisation = (
        Organisation.objects.filter(pk=organisation_id).first()
        if isinstance(organisation_id, int)
        else None
    )
    return ReturnNotice(
        organisation=organisation,
        reason=str(after.get("reason") or ""),
        returned_at=event.occurred_at,
        by=event.actor_label,
    )
