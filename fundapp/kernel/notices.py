"""Telling people about events (§13), through ``fundapp.notifications``, for every domain.

The notifications app sends in-app messages and e-mails after commit. Where it is not
installed (a slimmed-down deployment), the services run the same and tell no one.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from fundapp.accounts.models import Role, Side, User


def _notify_function(name: str = "notify") -> Any:
    if not apps.is_installed("fundapp.notifications"):
        return None
    try:
        module = importlib.import_module("fundapp.notifications.services")
    except ImportError:
        return None
    return getattr(module, name, None)


def page_url(name: str, *args: Any) -> str:
    """A page's path for a notification link, or "" where the page is not routed (a
    deployment without the browser pages)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def officers(*, roles: Iterable[str], side: str | None = None) -> list[User]:
    query = Q(role__in=list(roles), is_active=True)
    if side:
        query &= Q(side=side)
    return list(User.objects.filter(query).order_by("pk"))


def tell_other_side(
    *, officer: User, message: str, params: Mapping[str, Any], url: str = ""
) -> None:
    """The active fund officers of the side other than ``officer``'s are told a two-person
    decision awaits their approval."""
    other_side = Side.KR if officer.side == Side.JP else Side.JP
    notify_people(
        users=officers(roles=[Role.FUND_OFFICER], side=other_side),
        message=message,
        params=params,
        url=url,
    )


def finance_officers(side: str) -> list[User]:
    return officers(roles=[Role.FINANCE_OFFICER], side=side)


def notify_people(
    *,
    users: Iterable[User],
    message: str,
    params: Mapping[str, Any] | None = None,
    url: str = "",
) -> None:
    """Notify each user once (in-app and e-mail after commit), if notifications exist.

    ``message`` is a registered notification message and ``params`` its parameters (ids,
    codes, numbers, ISO dates): each person reads it in their own language when they read
    it.
    """
    notify = _notify_function()
    unique = list({user.pk: user for user in users}.values())
    if notify is None or not unique:
        return
    notify(users=unique, message=message, params=params, url=url)


@dataclass(frozen=True)
class RecipientsNotice:
    """One notice of a batch for ``notify_people_many_parts``: whom (``(user id, preferred
    language, active, e-mail)``, read without loading the ``User``) and what."""

    recipients: Sequence[tuple[int, str, bool, str]]
    message: str
    params: Mapping[str, Any] | None = None
    url: str = ""


def recipients_of(users: Iterable[User]) -> list[tuple[int, str, bool, str]]:
    """People loaded as ``User`` rows, as ``RecipientsNotice`` names them."""
    return [(user.pk, user.preferred_language, user.is_active, user.email) for user in users]


def notify_people_many_parts(notices: Sequence[RecipientsNotice], *, ids: bool = True) -> Any:
    """``notify_people`` for a batch, as one part of the caller's one statement
    (``fundapp.statements``): the notifications app's ``NotifyParts``, or ``None`` when it
    is not installed or there is no one to tell. ``ids=False`` for a caller that does not
    read the rows' ids (the database is spared returning them)."""
    notify_values_many_parts = _notify_function("notify_values_many_parts")
    if notify_values_many_parts is None:
        return None
    return notify_values_many_parts(notices, ids=ids)


@dataclass(frozen=True)
class PeopleNotice:
    """One ``notify_people`` call of a batch, for ``notify_people_many``."""

    users: Sequence[User]
    message: str
    params: Mapping[str, Any] | None = None
    url: str = ""


def notify_people_many(notices: Iterable[PeopleNotice]) -> None:
    """``notify_people`` for a batch, in one insert (``notify_many``), if notifications exist."""
    wanted = [n for n in notices if n.users]
    notify_many = _notify_function("notify_many")
    notice_class = _notify_function("Notice")
    if notify_many is None or notice_class is None or not wanted:
        return
    notify_many(
        [
            notice_class(
                users=list({user.pk: user for user in n.users}.values()),
                message=n.message,
                params=n.params,
                url=n.url,
            )
            for n in wanted
        ]
    )
