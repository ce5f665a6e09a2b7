"""Who is acting: a signed-in person or a partner system's API key (§2, §14).

Services take ``actor: Actor`` and ask these helpers rather than poking at roles, so the
browser and the API answer the same way.
"""

from __future__ import annotations

from typing import Union

from fundapp.accounts.models import ApiKey, Role, User

Actor = Union[User, ApiKey]  # noqa: UP007 - used at runtime in isinstance checks elsewhere


def is_api_key(actor: Actor | None) -> bool:
    return isinstance(actor, ApiKey)


def is_fund_officer(actor: Actor | None) -> bool:
    return (
        isinstance(actor, User)
        and actor.is_active
        and (actor.role == Role.FUND_OFFICER or actor.is_superuser)
    )


def is_fund_staff(actor: Actor | None) -> bool:
    """Officers of any kind and admins: they see everything in the fund (§2)."""
    return isinstance(actor, User) and actor.is_active and actor.is_fund_staff


def organisation_ids(actor: Actor | None) -> list[int]:
    """The organisations the actor speaks for: a key's one organisation, a person's memberships."""
    if isinstance(actor, ApiKey):
        return [actor.organisation_id]
    if isinstance(actor, User) and actor.is_authenticated:
        return list(actor.memberships.values_list("organisation_id", flat=True))
    return []


def research_office_organisation_ids(actor: Actor | None) -> list[int]:
    if isinstance(actor, User) and actor.is_authenticated:
        return list(
            actor.memberships.filter(research_office=True).values_list("organisation_id", flat=True)
        )
    return []
