"""Who may manage organisations, people's access and API keys (§2, §14).

Pure functions of the actor; views, the API and the admin ask these and nothing else.
"""

from __future__ import annotations

from fundapp.actors import Actor, is_fund_officer


def can_manage_api_keys(actor: Actor | None) -> bool:
    """Fund officers issue and revoke partner keys; keys never manage keys."""
    return is_fund_officer(actor)


def can_manage_organisations(actor: Actor | None) -> bool:
    """Fund officers create and edit organisations; anyone signed in may read them."""
    return is_fund_officer(actor)
