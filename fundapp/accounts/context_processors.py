"""The navigation every page shows, by role (§2, §15).

Links are resolved by URL name and left out while their page does not exist yet, so the
layout never breaks on a route another part of the product has not added.

A research office is not a role but a membership flag; whether the signed-in person is
one is read once at sign-in and kept in the session, so the navigation costs no query of
its own on any page (a change of membership shows from the next sign-in on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.permissions import can_manage_api_keys
from fundapp.actors import is_fund_officer, research_office_organisation_ids


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url: str
    active: bool


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


SESSION_RESEARCH_OFFICE_KEY = "research_office"


def remember_research_office(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """On sign-in (``user_logged_in``): whether the person is the research office of any
    organisation, for the navigation of the whole session. One query, once."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_RESEARCH_OFFICE_KEY] = bool(research_office_organisation_ids(user))


def nav_entries(user: Any, *, research_office: bool = False) -> list[tuple[str | Promise, str]]:
    """(label, URL name) of the links this person sees, in order; ``research_office`` adds
    the pages of an organisation's research office."""
    if user is None or not user.is_authenticated:
        return [(_("Calls"), "home")]
    role = getattr(user, "role", "")
    if is_fund_officer(user):
        entries: list[tuple[str | Promise, str]] = [
            (_("Dashboard"), "dashboard"),
            (_("Calls"), "calls_manage_list"),
            (_("Proposals"), "proposals:list"),
            (_("Reviews"), "reviews:queue"),
            (_("Duplicate funding"), "duplicates:list"),
            (_("Projects"), "projects:list"),
            (_("Portfolio"), "portfolio:dashboard"),
            (_("Exchange flows"), "exchange_flows"),
            (_("IP registry"), "ip:registry"),
            (_("Licence approvals"), "ip:approvals"),
            (_("Obligations due"), "ip:obligations_due"),
            (_("Finance"), "finance:accounts"),
            (_("Fund"), "fund_settings"),
        ]
        if can_manage_api_keys(user):
            entries.append((_("API keys"), "accounts:api_keys"))
        entries.append((_("Webhooks"), "webhooks:list"))
        return entries
    if role == "finance_officer":
        return [
            (_("Dashboard"), "dashboard"),
            (_("Projects"), "projects:list"),
            (_("Finance"), "finance:accounts"),
        ]
    if role == "reviewer":
        return [
            (_("Dashboard"), "dashboard"),
            (_("Reviews"), "reviews:queue"),
            (_("Exchange reviews"), "visit_reviews:queue"),
        ]
    if role == "screening_officer":
        return [(_("Dashboard"), "dashboard"), (_("Screening queue"), "screening:queue")]
    # A research office finds its webhook pages on the dashboard.
    entries = [
        (_("Dashboard"), "dashboard"),
        (_("My proposals"), "proposals:list"),
        (_("My projects"), "projects:list"),
        (_("My licences"), "ip:my_licences"),
        (_("My visit applications"), "mobility:mine"),
        (_("My visits"), "visits:mine"),
        (_("My obligations"), "ip:my_obligations"),
    ]
    if research_office:
        entries += [
            (_("Visit applications to endorse"), "visit_applications:endorsements"),
            (_("Hosted visits"), "visits:hosted"),
        ]
    return [*entries, (_("Calls"), "home")]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    research_office = bool(session is not None and session.get(SESSION_RESEARCH_OFFICE_KEY))
    items = []
    for label, name in nav_entries(user, research_office=research_office):
        url = _url(name)
        if url is None:
            continue
        active = request.path == url or (url != "/" and request.path.startswith(url))
        items.append(NavItem(label=label, url=url, active=active))
    return {"nav_items": items, "nav_home_url": _url("home") or "/"}
