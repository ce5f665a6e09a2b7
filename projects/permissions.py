"""Who may do what to a proposal (§2, §5). Pure questions; views and the API only ask them.

Seeing is decided by ``selectors.proposals.proposals_visible_to`` (404 otherwise); these
functions decide the actions on an object the actor can already see, with a reason.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Membership, Scope, User
from fundapp.actors import Actor, is_fund_officer
from fundapp.kernel.decisions import Decision
from projects.models import ConsortiumMember, ConsortiumRole, Proposal, ProposalState

LEAD_ROLES = (ConsortiumRole.LEAD_JP, ConsortiumRole.LEAD_KR)


def _is_lead_org(proposal: Proposal, organisation_id: int) -> bool:
    return ConsortiumMember.objects.filter(
        proposal=proposal, organisation_id=organisation_id, role__in=LEAD_ROLES
    ).exists()


def can_edit_proposal(actor: Actor | None, proposal: Proposal) -> Decision:
    """Editing a draft: its creator and PIs (guardian ``change_proposal``), or the lead
    organisation's partner system with ``proposals:write``."""
    if proposal.state != ProposalState.DRAFT:
        return False, _("Only a draft can be edited; this proposal has been submitted.")
    if isinstance(actor, ApiKey):
        if not actor.has_scope(Scope.PROPOSALS_WRITE):
            return False, _("This API key lacks the proposals:write scope.")
        # A partner system edits the drafts its organisation started through the API;
        # drafts a researcher writes in the browser stay with the researcher.
        creator_key = proposal.created_by_api_key
        if creator_key is not None and creator_key.organisation_id == actor.organisation_id:
            return True, ""
        return False, _("Only the system of the organisation that started this draft may edit it.")
    if isinstance(actor, User) and actor.has_perm("projects.change_proposal", proposal):
        return True, ""
    return False, _("Only the principal investigators may edit this proposal.")


def can_submit_proposal(actor: Actor | None, proposal: Proposal) -> Decision:
    return can_edit_proposal(actor, proposal)


def can_withdraw_proposal(actor: Actor | None, proposal: Proposal) -> Decision:
    if proposal.state not in (
        ProposalState.DRAFT,
        ProposalState.SUBMITTED,
        ProposalState.ELIGIBLE,
        ProposalState.UNDER_REVIEW,
    ):
        return False, _("This proposal can no longer be withdrawn.")
    if isinstance(actor, ApiKey):
        if not actor.has_scope(Scope.PROPOSALS_WRITE):
            return False, _("This API key lacks the proposals:write scope.")
        return (
            _is_lead_org(proposal, actor.organisation_id),
            _("Only the lead organisations' systems may withdraw it."),
        )
    if isinstance(actor, User) and actor.has_perm("projects.change_proposal", proposal):
        return True, ""
    return False, _("Only the principal investigators may withdraw this proposal.")


def endorsable_organisation_ids(actor: Actor | None, proposal: Proposal) -> list[int]:
    """The lead organisations of this proposal the actor may endorse for."""
    lead_ids = list(
        ConsortiumMember.objects.filter(proposal=proposal, role__in=LEAD_ROLES).values_list(
            "organisation_id", flat=True
        )
    )
    if isinstance(actor, ApiKey):
        if actor.has_scope(Scope.PROPOSALS_WRITE) and actor.organisation_id in lead_ids:
            return [actor.organisation_id]
        return []
    if isinstance(actor, User):
        return list(
            Membership.objects.filter(
                user=actor, research_office=True, organisation_id__in=lead_ids
            ).values_list("organisation_id", flat=True)
        )
    return []


def can_endorse_proposal(actor: Actor | None, proposal: Proposal) -> Decision:
    if proposal.state != ProposalState.SUBMITTED:
        return False, _("Only a submitted proposal awaiting endorsement can be endorsed.")
    if not endorsable_organisation_ids(actor, proposal):
        return False, _(
            "Only the research office of a lead organisation may endorse this proposal."
        )
    return True, ""


def can_view_history(actor: Actor | None, proposal: Proposal) -> bool:
    """Officers see an object's audit history on its page (§12)."""
    return is_fund_officer(actor)
