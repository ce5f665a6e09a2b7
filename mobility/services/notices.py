"""Telling the visitor about the money of a visit (§13.1, §25)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fundapp.kernel.notices import RecipientsNotice, notify_people, notify_people_many_parts
from mobility.models import Visit

if TYPE_CHECKING:
    from mobility.services.stipends import StipendDue


def _recipient(visit: Visit) -> tuple[int, str, bool, str]:
    visitor = visit.application.visitor
    return (visitor.pk, visitor.preferred_language, visitor.is_active, visitor.email)


def stipend_notices_part(due: Sequence[StipendDue]) -> Any:
    """One notice per released month to its visitor, as a part of the caller's statement
    (the visits carry their application and visitor already: no query)."""
    return notify_people_many_parts(
        [
            RecipientsNotice(
                recipients=[_recipient(item.visit)],
                message="visit.stipend_released",
                params={
                    "month": item.month,
                    "amount": item.visit.stipend_month_amount,
                    "currency": item.visit.currency,
                    "visit": item.visit.pk,
                },
            )
            for item in due
        ]
    )


def notify_arrival(visit: Visit) -> None:
    notify_people(
        users=[visit.application.visitor],
        message="visit.arrival_confirmed",
        params={
            "arrived_on": visit.arrived_on.isoformat() if visit.arrived_on else "",
            "amount": visit.travel_amount,
            "currency": visit.currency,
            "visit": visit.pk,
        },
    )
