"""Who may decide gates, change a project's state, move money and confirm payments (§2, §8, §9).

Pure questions with a reason, like ``projects.permissions``: the services ask them before
changing anything, and views and the API ask the same functions to show or hide actions.
Seeing a project is decided by ``projects.selectors.projects`` (404 otherwise).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Organisation, Role, Scope, Side, User
from fundapp.actors import Actor, is_fund_officer
from fundapp.kernel.decisions import Decision
from projects.models import Disbursement, GateDecision

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
    """The second approval: a different fund officer, of the other side (§2 two-person rule)."""
    allowed, reason = can_decide_gate(actor)
    if not allowed:
        return allowed, reason
    assert isinstance(actor, User)
    if pending.first_officer_id == actor.pk:
        return False, _(
            "You have already approved this decision; a fund officer of the other side must "
            "complete it."
        )
    if pending.first_side == actor.side:
        other = Side.KR if pending.first_side == Side.JP else Side.JP
        return False, _(
            "The first approval came from the %(side)s side; the second must come from an "
            "officer of the %(other)s side."
        ) % {"side": pending.first_side, "other": other}
    return True, ""


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
