"""Who may see and decide screening cases (§2, §11). Pure functions of the actor."""

from __future__ import annotations

from django.utils.translation import gettext as _

from fundapp.accounts.models import Role, User
from fundapp.actors import Actor


def _is_admin(user: User) -> bool:
    return user.is_superuser or user.role == Role.ADMIN


def is_screening_officer(actor: Actor | None) -> bool:
    """Screening officers, and admins who operate the platform."""
    return (
        isinstance(actor, User)
        and actor.is_active
        and (actor.role == Role.SCREENING_OFFICER or _is_admin(actor))
    )


def can_work_screening_queue(actor: Actor | None) -> bool:
    """The browser queue and case pages: screening officers (and admins) only."""
    return is_screening_officer(actor)


def can_read_screening_cases(actor: Actor | None) -> bool:
    """Reading cases over the API: screening officers, fund officers and admins.

    Fund officers read them because a case holds up their award and licence decisions.
    API keys never: no partner scope covers research-security screening.
    """
    if is_screening_officer(actor):
        return True
    return isinstance(actor, User) and actor.is_active and actor.role == Role.FUND_OFFICER


def can_decide_screening(actor: Actor | None) -> tuple[bool, str]:
    if is_screening_officer(actor):
        return True, ""
    return False, _("Only screening officers may clear or block a screening case.")
