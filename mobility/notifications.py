"""The notification messages of the talent exchange (§13.1, §25) and how its objects are
named when a notification is read; registered from ``MobilityConfig.ready``."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Side
from fundapp.notifications.messages import (
    Amount,
    Day,
    Label,
    Message,
    Name,
    Plain,
    notification_message_register,
    notification_names_register,
)
from mobility.models import ApplicationState, VisitApplication
from projects.models import AwardOutcome

APPLICATION = Name("visit_application")


def application_titles(ids: Sequence[int]) -> dict[int, str]:
    fields = ("pk", "title_en", "title_ja", "title_ko")
    return {a.pk: str(a) for a in VisitApplication.objects.filter(pk__in=ids).only(*fields)}


# ----------------------------------------------------------------------------- calls → award
APPLICATION_MESSAGES = (
    Message(
        key="visit_award.awaits_approval",
        kind="decision_needed",
        title=_("A visit award decision awaits your approval: {title}"),
        body=_("{officer} approved “{outcome}” for the {side} side."),
        params={
            "title": APPLICATION,
            "officer": Name("person"),
            "outcome": Label(AwardOutcome),
            "side": Label(Side),
        },
    ),
    Message(
        key="visit_award.decided",
        kind="award_decided",
        title=_("Award decision on the visit “{title}”: {outcome}"),
        body="{reason}",
        params={"title": APPLICATION, "outcome": Label(ApplicationState), "reason": Plain()},
    ),
)

# ----------------------------------------------------------------------------- visits
VISIT_MESSAGES = (
    Message(
        key="visit.arrival_confirmed",
        kind="visit_arrival_confirmed",
        title=_("Your arrival on {arrived_on} is confirmed; travel sum {amount} released"),
        params={"arrived_on": Day(), "amount": Amount(), "currency": Plain(), "visit": Plain()},
    ),
    Message(
        key="visit.stipend_released",
        kind="visit_stipend_released",
        title=_("Stipend of month {month} released: {amount}"),
        params={"month": Plain(), "amount": Amount(), "currency": Plain(), "visit": Plain()},
    ),
)


def register() -> None:
    notification_names_register("visit_application", application_titles)
    notification_message_register(*APPLICATION_MESSAGES)
    notification_message_register(*VISIT_MESSAGES)
