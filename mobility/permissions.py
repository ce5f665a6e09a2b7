"""Who may do what in the talent exchange (§2, §25). Every ``can_*`` question of the domain
lives here and answers a ``Decision`` with a reason; services ask before changing anything,
views and the API to show or hide actions."""

from __future__ import annotations

from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Membership, Scope, User
from fundapp.actors import Actor, is_fund_officer
from fundapp.kernel.decisions import Decision
from mobility.models import Visit

# --------------------------------------------------------------------------- visits


def _is_host_office(actor: Actor | None, visit: Visit) -> bool:
    host_id = visit.application.host_organisation_id
    return (
        isinstance(actor, User)
        and actor.is_active
        and Membership.objects.filter(
            user=actor, organisation_id=host_id, research_office=True
        ).exists()
    )


def _host_key_decision(actor: ApiKey, visit: Visit) -> Decision:
    if not actor.is_usable():
        return False, _("This API key is revoked or expired.")
    if not actor.has_scope(Scope.PAYMENTS_WRITE):
        return False, _("This API key lacks the payments:write scope.")
    if actor.organisation_id != visit.application.host_organisation_id:
        return False, _("Only the host organisation's system may confirm this visit's dates.")
    return True, ""


def can_confirm_visit_dates(actor: Actor | None, visit: Visit) -> Decision:
    """Confirming a visitor's arrival or departure (§25): the host organisation's research
    office, its partner system (an API key of the host organisation with
    ``payments:write``, since the arrival releases money), or a fund officer standing in."""
    if isinstance(actor, ApiKey):
        return _host_key_decision(actor, visit)
    if is_fund_officer(actor) or _is_host_office(actor, visit):
        return True, ""
    return False, _("Only the host organisation's research office may confirm this visit's dates.")


def can_cancel_visit(actor: Actor | None, visit: Visit) -> Decision:
    """Cancelling a visit before the arrival: a fund officer (§25)."""
    if is_fund_officer(actor):
        return True, ""
    return False, _("Only a fund officer may cancel a visit.")


def can_submit_final_report(actor: Actor | None, visit: Visit) -> Decision:
    """The final report is the visitor's own (§25)."""
    if isinstance(actor, User) and actor.is_active and actor.pk == visit.application.visitor_id:
        return True, ""
    return False, _("Only the visitor may file the visit's final report.")
