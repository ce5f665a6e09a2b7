"""Who may do what in the projects domain (§2): proposals, reviews and awards, projects,
gates, measurements and money. Every ``can_*`` question of the domain lives here, answers a
``Decision`` with a reason, and is asked by services before changing anything and by views
and the API to show or hide actions.

Seeing is decided by the selectors (``proposals_visible_to``, ``projects_visible_to``: 404
otherwise); these functions decide the actions on an object the actor can already see.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Membership, Organisation, Role, Scope, Side, User
from fundapp.actors import Actor, is_fund_officer
from fundapp.kernel.approvals import can_act_on_decision
from fundapp.kernel.decisions import Decision
from projects.models import (
    Amendment,
    AssignmentState,
    ConsortiumMember,
    ConsortiumRole,
    Disbursement,
    GateDecision,
    Project,
    ProjectOrganisation,
    ProjectPerson,
    ProjectUserObjectPermission,
    Proposal,
    ProposalState,
    ReviewerAssignment,
    StageReport,
)

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


def can_return_proposal(actor: Actor | None, proposal: Proposal) -> Decision:
    """Returning a submission to its PIs instead of endorsing it: the same research offices
    (and partner systems) that may endorse, while it awaits endorsement."""
    if proposal.state != ProposalState.SUBMITTED:
        return False, _("Only a submitted proposal awaiting endorsement can be returned.")
    if not endorsable_organisation_ids(actor, proposal):
        return False, _("Only the research office of a lead organisation may return this proposal.")
    return True, ""


def can_view_history(actor: Actor | None, proposal: Proposal) -> bool:
    """Officers see an object's audit history on its page (§12)."""
    return is_fund_officer(actor)


# --------------------------------------------------------------------------- projects, gates, money (§2, §8, §9)

FUNDED_SIDES = (Side.JP, Side.KR)


def officer_side(actor: Actor | None) -> str:
    """The side (JP or KR) a fund officer approves for, or "" if none is set."""
    if isinstance(actor, User) and actor.side in FUNDED_SIDES:
        return actor.side
    return ""


def can_decide_gate(actor: Actor | None) -> Decision:
    """Gate decisions are taken by fund officers of the JP or KR side (§2, §8)."""
    if not is_fund_officer(actor):
        return False, _("Only fund officers may decide a stage gate.")
    if not officer_side(actor):
        return False, _(
            "Your account has no side (JP or KR); a gate decision needs one officer of each side."
        )
    return True, ""


def can_complete_gate_decision(actor: Actor | None, pending: GateDecision) -> Decision:
    """The second approval: a different fund officer, of the other side (§2 two-person
    rule), with the messages every two-person decision gives."""
    allowed, reason = can_decide_gate(actor)
    if not allowed:
        return allowed, reason
    return can_act_on_decision(actor, pending, "approve")


def can_change_project_state(actor: Actor | None) -> Decision:
    """Suspending, resuming and terminating a project are fund officers' decisions (§7)."""
    if not is_fund_officer(actor):
        return False, _("Only fund officers may suspend, resume or terminate a project.")
    return True, ""


def can_award_project(actor: Actor | None) -> Decision:
    """The project is created by the officer completing the award decision (§6)."""
    if not is_fund_officer(actor):
        return False, _("Only fund officers may award a project.")
    return True, ""


def can_contribute(actor: Actor | None) -> Decision:
    """Recording an agency's contribution to a side's pool or reserve (§9)."""
    if is_fund_officer(actor):
        return True, ""
    if isinstance(actor, User) and actor.is_active and actor.role == Role.FINANCE_OFFICER:
        return True, ""
    return False, _("Only fund or finance officers may record a contribution.")


def can_confirm_disbursement(actor: Actor | None, disbursement: Disbursement) -> Decision:
    """Confirming a payment (§2, §14): a finance officer of the disbursement's side, or the
    side's agency finance system — an API key with ``payments:write`` whose organisation is
    an agency (kind ``agency``) in the side's country."""
    side = disbursement.tranche.side
    if isinstance(actor, ApiKey):
        if not actor.is_usable():
            return False, _("This API key is revoked or expired.")
        if not actor.has_scope(Scope.PAYMENTS_WRITE):
            return False, _("This API key lacks the payments:write scope.")
        org = actor.organisation
        if org.kind != Organisation.Kind.AGENCY or org.side != side:
            return False, _(
                "Only the finance system of the %(side)s side's agency may confirm this payment."
            ) % {"side": side}
        return True, ""
    if (
        isinstance(actor, User)
        and actor.is_active
        and actor.role == Role.FINANCE_OFFICER
        and actor.side == side
    ):
        return True, ""
    return False, _("Only a finance officer of the %(side)s side may confirm this payment.") % {
        "side": side
    }


# --------------------------------------------------------------------------- reviews, measurements, gate evaluation


def can_manage_reviews(actor: Actor | None) -> Decision:
    """Starting review and assigning reviewers: fund officers."""
    if is_fund_officer(actor):
        return True, ""
    return False, _("Only fund officers may manage the review of proposals.")


def can_declare(actor: Actor | None, assignment: ReviewerAssignment) -> Decision:
    if not isinstance(actor, User) or actor.pk != assignment.reviewer_id:
        return False, _("Only the assigned reviewer may declare their conflicts of interest.")
    if assignment.state == AssignmentState.EXCLUDED:
        return False, _("This assignment was excluded automatically; there is nothing to declare.")
    if assignment.state != AssignmentState.AWAITING_DECLARATION:
        return False, _("The conflict declaration for this assignment has already been made.")
    return True, ""


def can_score(actor: Actor | None, assignment: ReviewerAssignment) -> Decision:
    if not isinstance(actor, User) or actor.pk != assignment.reviewer_id:
        return False, _("Only the assigned reviewer may score this proposal.")
    if assignment.state == AssignmentState.SUBMITTED:
        return False, _("You have already submitted your review of this proposal.")
    if assignment.state in (AssignmentState.EXCLUDED, AssignmentState.CONFLICTED):
        return False, _("This assignment is blocked by a conflict of interest.")
    if assignment.state != AssignmentState.ACTIVE:
        return False, _("Declare that you have no conflict of interest before scoring.")
    return True, ""


def can_decide_award(actor: Actor | None) -> Decision:
    """Award decisions: fund officers of the Japanese or the Korean side (§2)."""
    if not is_fund_officer(actor):
        return False, _("Only fund officers may decide awards.")
    assert isinstance(actor, User)
    if actor.side not in (Side.JP, Side.KR):
        return False, _(
            "Only fund officers of the Japanese or the Korean side may decide awards; "
            "your account has no side."
        )
    return True, ""


def can_evaluate_gate(actor: Actor | None, project: Project) -> Decision:
    """Officers, and partner systems of the project's organisations with ``gates:write``."""
    if is_fund_officer(actor):
        return True, ""
    if isinstance(actor, ApiKey):
        if not actor.has_scope(Scope.GATES_WRITE):
            return False, _("This API key lacks the gates:write scope.")
        if ProjectOrganisation.objects.filter(
            project=project, organisation_id=actor.organisation_id
        ).exists():
            return True, ""
    return False, _("Only fund officers may evaluate a gate.")


def _is_named_researcher(user: User, project: Project) -> bool:
    """A researcher holding ``view_project`` who belongs to a consortium organisation."""
    if user.role != Role.RESEARCHER:
        return False
    granted = ProjectUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), user=user, permission__codename="view_project"
    )
    member = ProjectOrganisation.objects.filter(
        project=OuterRef("pk"), organisation__memberships__user=user
    )
    return Project.objects.filter(pk=project.pk).filter(Exists(granted), Exists(member)).exists()


def can_record_measurement(actor: Actor | None, project: Project) -> Decision:
    """May the actor report KPI measurements for this project (§2, §7, §14)?"""
    if isinstance(actor, ApiKey):
        if not actor.is_usable():
            return False, _("This API key has expired or was revoked.")
        if not actor.has_scope(Scope.KPI_WRITE):
            return False, _("This API key lacks the kpi:write scope.")
        if not ProjectOrganisation.objects.filter(
            project=project, organisation_id=actor.organisation_id
        ).exists():
            return False, _("Only the systems of the project's organisations may report.")
        return True, ""
    if is_fund_officer(actor):
        return True, ""
    if isinstance(actor, User) and actor.is_active and _is_named_researcher(actor, project):
        return True, ""
    return False, _("Only the project's researchers and fund officers may report measurements.")


def can_reject_measurement(actor: Actor | None) -> Decision:
    if is_fund_officer(actor):
        return True, ""
    return False, _("Only fund officers may reject a measurement.")


def can_see_duplicate_flags(actor: Actor | None) -> bool:
    """Duplicate-funding flags (§22) are advisory to the fund's officers: fund officers of
    either side and administrators; never researchers, reviewers or API keys (a flag names
    another consortium's proposal)."""
    if is_fund_officer(actor):
        return True
    return isinstance(actor, User) and actor.is_active and actor.role == Role.ADMIN


def can_resolve_duplicate_flag(actor: Actor | None) -> Decision:
    if can_see_duplicate_flags(actor):
        return True, ""
    return False, _("Only fund officers may resolve duplicate-funding flags.")


# --------------------------------------------------------------------------- verifiers (§22)


def can_designate_verifier(actor: Actor | None) -> Decision:
    """Designating and revoking a project's verifiers: fund officers (§22)."""
    if is_fund_officer(actor):
        return True, ""
    return False, _("Only fund officers may designate or revoke verifiers.")


def can_attest(actor: Actor | None) -> Decision:
    """Giving a verdict on a measurement: a designated verifier, i.e. a person who is not
    fund staff, or a usable API key with ``kpi:attest``. Which measurements each may judge
    is their designations' business (``projects.selectors.verification``)."""
    if isinstance(actor, ApiKey):
        if not actor.is_usable():
            return False, _("This API key has expired or was revoked.")
        if not actor.has_scope(Scope.KPI_ATTEST):
            return False, _("This API key lacks the kpi:attest scope.")
        return True, ""
    if isinstance(actor, User) and actor.is_active and not actor.is_fund_staff:
        return True, ""
    return False, _(
        "Only a verifier designated for this KPI may attest or dispute its measurements."
    )


# --------------------------------------------------------------------------- deliverables (§24)


def can_submit_deliverable(actor: Actor | None, project: Project) -> Decision:
    """Submitting a deliverable: the project's named researchers (its PIs and
    co-investigators), or a usable key of one of its organisations with ``kpi:write`` (the
    scope of reporting the project's results)."""
    if isinstance(actor, ApiKey):
        if not actor.is_usable():
            return False, _("This API key has expired or was revoked.")
        if not actor.has_scope(Scope.KPI_WRITE):
            return False, _("This API key lacks the kpi:write scope.")
        if not ProjectOrganisation.objects.filter(
            project=project, organisation_id=actor.organisation_id
        ).exists():
            return False, _("Only the systems of the project's organisations may submit.")
        return True, ""
    if isinstance(actor, User) and actor.is_active and _is_named_researcher(actor, project):
        return True, ""
    return False, _("Only the project's researchers may submit its deliverables.")


def can_decide_deliverable(actor: Actor | None) -> Decision:
    """Accepting a deliverable or requesting changes: fund officers (§24)."""
    if is_fund_officer(actor):
        return True, ""
    return False, _("Only fund officers may accept a deliverable or request changes.")


# -- stage reports (§24) -------------------------------------------------------------------
# Who may do what with stage reports (§24), beside ``projects.permissions``.
#
# Seeing a report is seeing its project (``projects.selectors.projects``: 404 otherwise).
# On a report one can see:
#
# - the project's **principal investigators** open the report of a stage, write its
#   narrative, enter any organisation's spending lines and submit it;
# - the project's other **named researchers** enter their own organisation's lines;
# - a **partner system** of a consortium organisation with ``kpi:write`` (the scope for
#   reporting facts, §14) enters its own organisation's lines;
# - **fund officers** accept a submitted report or return it with a reason; they never
#   write the consortium's figures;
# - everyone else who sees the project (research offices, finance officers, keys with
#   ``projects:read``) reads it.


@dataclass(frozen=True)
class ReportRole:
    """What the actor is to one project's reports, read in one query."""

    is_pi: bool = False
    # The organisations whose lines the actor may enter (all of them for a PI).
    line_organisation_ids: frozenset[int] = frozenset()
    is_officer: bool = False


def report_role(actor: Actor | None, project: Project) -> ReportRole:
    """The actor's part in the project's reports (one query, none for officers)."""
    if is_fund_officer(actor):
        return ReportRole(is_officer=True)
    if isinstance(actor, ApiKey):
        if not actor.is_usable() or not actor.has_scope(Scope.KPI_WRITE):
            return ReportRole()
        if ProjectOrganisation.objects.filter(
            project=project, organisation_id=actor.organisation_id
        ).exists():
            return ReportRole(line_organisation_ids=frozenset({actor.organisation_id}))
        return ReportRole()
    if not isinstance(actor, User) or not actor.is_active or actor.role != Role.RESEARCHER:
        return ReportRole()
    people = list(
        ProjectPerson.objects.filter(project=project, user=actor).values_list(
            "role", "organisation_id"
        )
    )
    if any(role == "pi" for role, _org in people):
        funded = ProjectOrganisation.objects.filter(project=project).exclude(currency="")
        return ReportRole(
            is_pi=True,
            line_organisation_ids=frozenset(funded.values_list("organisation_id", flat=True)),
        )
    return ReportRole(line_organisation_ids=frozenset(org for _role, org in people))


def can_write_report(role: ReportRole) -> Decision:
    """Opening a stage's report, writing its narrative and submitting it: the PIs."""
    if role.is_pi:
        return True, ""
    return False, _("Only the project's principal investigators may write and submit its report.")


def can_enter_lines(role: ReportRole, organisation_id: int | None = None) -> Decision:
    """Entering spending lines: the PIs for every organisation, the other researchers and
    partner systems for their own organisation."""
    if organisation_id is None and role.line_organisation_ids:
        return True, ""
    if organisation_id is not None and organisation_id in role.line_organisation_ids:
        return True, ""
    return False, _(
        "Only the project's principal investigators, or the researchers and systems of that "
        "organisation, may enter its spending."
    )


def can_review_report(actor: Actor | None) -> Decision:
    """Accepting or returning a submitted report: fund officers."""
    if is_fund_officer(actor):
        return True, ""
    return False, _("Only fund officers may accept or return a stage report.")


def report_is_open(report: StageReport) -> Decision:
    if report.is_open:
        return True, ""
    return False, _("This report has been submitted; it can no longer be changed.")


# --------------------------------------------------------------------------- amendments (§24)


def _is_pi(user: User, project: Project) -> bool:
    return ProjectPerson.objects.filter(project=project, user=user, role="pi").exists()


def can_propose_amendment(actor: Actor | None, project: Project) -> Decision:
    """Proposing an amendment to the plan: the project's principal investigators and fund
    officers of the JP or KR side (§24)."""
    if is_fund_officer(actor):
        assert isinstance(actor, User)
        if actor.side in (Side.JP, Side.KR):
            return True, ""
        return False, _("Your account has no side (JP or KR).")
    if (
        isinstance(actor, User)
        and actor.is_active
        and actor.role == Role.RESEARCHER
        and _is_pi(actor, project)
    ):
        return True, ""
    return False, _(
        "Only the project's principal investigators and fund officers may propose an amendment."
    )


def can_decide_amendment(actor: Actor | None) -> Decision:
    """Approving or declining an amendment: fund officers of the JP or KR side; which of
    them may act on a pending approval is the two-person component's answer."""
    if is_fund_officer(actor) and isinstance(actor, User) and actor.side in (Side.JP, Side.KR):
        return True, ""
    return False, _("Only fund officers of the Japanese or the Korean side may do this.")


def can_withdraw_amendment(actor: Actor | None, amendment: Amendment) -> Decision:
    """Withdrawing a proposed amendment: whoever proposed it; a PI's amendment also by
    another PI of the project (the first approver of a pending approval withdraws that
    approval instead, through the two-person component)."""
    if isinstance(actor, User) and actor.is_active:
        if amendment.proposed_by_id == actor.pk:
            return True, ""
        proposer_is_pi = ProjectPerson.objects.filter(
            project_id=amendment.project_id, user_id=amendment.proposed_by_id, role="pi"
        ).exists()
        if proposer_is_pi and actor.role == Role.RESEARCHER and _is_pi(actor, amendment.project):
            return True, ""
    return False, _("Only whoever proposed this amendment may withdraw it.")
