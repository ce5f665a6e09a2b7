"""The notification messages of the talent exchange (§13.1, §25), registered from
``MobilityConfig.ready``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from fundapp.notifications.messages import (
    Amount,
    Day,
    Message,
    Plain,
    notification_message_register,
)


def register() -> None:
    notification_message_register(
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
