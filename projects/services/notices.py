"""Telling people about money and gate events (§13), through ``fundapp.notifications``.

The notifications app sends in-app messages and e-mails after commit. Where it is not
installed (a slimmed-down deployment), the engine's services run the same and tell no one.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise

from fundapp.accounts.models import Role, User
from projects.models import Project, ProjectPerson

Text = str | Promise


def _notify_function() -> Any:
    if not apps.is_installed("fundapp.notifications"):
        return None
    try:
        module = importlib.import_module("fundapp.notifications.services")
    except ImportError:
        return None
    return getattr(module, "notify", None)


def project_url(project: Project) -> str:
    """The project's page, or "" while the browser UI does not name one."""
    for name in ("projects:project_detail", "projects:project"):
        try:
            return reverse(name, args=[project.pk])
        except NoReverseMatch:
            continue
    return ""


def project_pis(project: Project) -> list[User]:
    user_ids = ProjectPerson.objects.filter(project=project, role="pi").values("user_id")
    return list(User.objects.filter(pk__in=user_ids, is_active=True))


def officers(*, roles: Iterable[str], side: str | None = None) -> list[User]:
    query = Q(role__in=list(roles), is_active=True)
    if side:
        query &= Q(side=side)
    return list(User.objects.filter(query).order_by("pk"))


def finance_officers(side: str) -> list[User]:
    return officers(roles=[Role.FINANCE_OFFICER], side=side)


def notify_people(
    *, users: Iterable[User], kind: str, title: Text, body: Text = "", url: str = ""
) -> None:
    """Notify each user once (in-app and e-mail after commit), if notifications exist.

    Pass lazy text (``gettext_lazy`` / ``format_lazy``): each person reads it in their
    own language.
    """
    notify = _notify_function()
    unique = list({user.pk: user for user in users}.values())
    if notify is None or not unique:
        return
    notify(users=unique, kind=kind, title=title, body=body, url=url)
