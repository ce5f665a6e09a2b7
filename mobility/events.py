"""The event types the talent exchange writes (§12 audit actions, §13.2 outbox events),
registered by ``MobilityConfig.ready``, and the ``data`` of its outbox events, built from
rows the service already holds. See ``fundapp.kernel.events`` and ``projects/events.py``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from fundapp.kernel.events import (
    DATE,
    DATETIME,
    ID,
    INTEGER,
    OFFICERS,
    ORGANISATIONS,
    EventType,
    data_schema,
    event_type_register,
    event_types_declare,
    nullable,
)

# --------------------------------------------------------------------------- calls → award

_VISIT = {
    "id": ID,
    "application": ID,
    "call": ID,
    "state": {"enum": ["awarded", "active", "ended", "closed", "cancelled"]},
    "paying_side": {"enum": ["JP", "KR"]},
    "currency": {"enum": ["JPY", "KRW"]},
    "payee": ID,
    "stipend_month_amount": INTEGER,
    "travel_amount": INTEGER,
    "months": INTEGER,
    "planned_start": DATE,
    "arrived_on": nullable(DATE),
    "ended_on": nullable(DATE),
}
_VISIT_EXAMPLE = {
    "id": 4,
    "application": 11,
    "call": 3,
    "state": "awarded",
    "paying_side": "KR",
    "currency": "KRW",
    "payee": 8,
    "stipend_month_amount": 3000000,
    "travel_amount": 2000000,
    "months": 6,
    "planned_start": "2027-04-01",
    "arrived_on": None,
    "ended_on": None,
    "resource_version": 51,
}


def visit_data(visit: Any, **extra: Any) -> dict[str, Any]:
    """A visit under its API field names (§21), from the row and its application."""
    return {
        "id": visit.pk,
        "application": visit.application_id,
        "call": visit.application.call_id,
        "state": visit.state,
        "paying_side": visit.paying_side,
        "currency": visit.currency,
        "payee": visit.payee_id,
        "stipend_month_amount": visit.stipend_month_amount,
        "travel_amount": visit.travel_amount,
        "months": visit.months,
        "planned_start": visit.planned_start.isoformat(),
        "arrived_on": visit.arrived_on.isoformat() if visit.arrived_on else None,
        "ended_on": visit.ended_on.isoformat() if visit.ended_on else None,
        **extra,
    }


CALL_EVENT_TYPES = event_types_declare(
    OFFICERS,
    {
        "mobility_terms.set": _("{actor} set the terms of the mobility call"),
        "mobility_terms.updated": _("{actor} changed the terms of the mobility call"),
    },
)

APPLICATION_EVENT_TYPES = (
    *event_types_declare(
        ORGANISATIONS,
        {
            "visit_application.created": _("{actor} started the visit application"),
            "visit_application.updated": _("{actor} saved the visit application"),
            "visit_application.submitted": _("{actor} submitted the visit application"),
            "visit_application.withdrawn": _("{actor} withdrew the visit application"),
            "visit_application.endorsed": _(
                "{actor} endorsed the visit application for the host organisation"
            ),
            "visit_application.returned": (
                _("{actor} returned the visit application to the visitor: {reason}"),
                _("{actor} returned the visit application to the visitor"),
            ),
            "visit_application.ineligible": _(
                "The visit application became ineligible: the host did not endorse it in time"
            ),
            "visit_application.under_review": _(
                "{actor} opened the review of the visit application"
            ),
            "visit_application.awarded": _("The visit application was awarded"),
            "visit_application.rejected": _("The visit application was rejected"),
        },
    ),
    *event_types_declare(
        OFFICERS,
        {
            "visit_review.assigned": _("{actor} assigned a reviewer to the visit"),
            "visit_review.declared": _("{actor} declared their conflicts of interest"),
            "visit_review.submitted": _("{actor} submitted a review of the visit"),
            "visit_award.approved": _(
                "{actor} approved the visit award decision; the other side's approval is still needed"
            ),
            "visit_award.completed": _("{actor} completed the visit award decision"),
            "visit_award.cancelled": _("{actor} cancelled the visit award decision"),
            "visit_award.withdrawn": _(
                "{actor} withdrew their approval of the visit award decision"
            ),
            "visit_award.declined": _("{actor} declined the visit award decision: {reason}"),
        },
    ),
    EventType(
        "visit.awarded",
        _("The visit was awarded and its stipend and travel committed"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_VISIT),
        example=_VISIT_EXAMPLE,
    ),
)

# --------------------------------------------------------------------------- visits
_STIPEND = {
    "visit": ID,
    "month": {"type": "integer", "minimum": 1, "maximum": 12},
    "amount": INTEGER,
    "currency": {"enum": ["JPY", "KRW"]},
    "payee": ID,
    "due_on": DATE,
    "released_at": DATETIME,
    "ledger_transaction": ID,
}


def stipend_data(
    visit: Any, *, month: int, due_on: Any, released_at: Any, transaction_id: int
) -> dict[str, Any]:
    return {
        "visit": visit.pk,
        "month": month,
        "amount": visit.stipend_month_amount,
        "currency": visit.currency,
        "payee": visit.payee_id,
        "due_on": due_on,
        "released_at": released_at,
        "ledger_transaction": transaction_id,
    }


VISIT_EVENT_TYPES = (
    EventType(
        "visit.arrived",
        _("{actor} confirmed the visitor's arrival on {arrived_on}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_VISIT),
        example=_VISIT_EXAMPLE,
        short=_("{actor} confirmed the visitor's arrival"),
    ),
    EventType(
        "visit.stipend_released",
        _("The stipend of month {month} was released: {amount} {currency}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_STIPEND),
        example={
            "visit": 5,
            "month": 2,
            "amount": 3_000_000,
            "currency": "KRW",
            "payee": 8,
            "due_on": "2026-05-03",
            "released_at": "2026-05-02T15:05:00+00:00",
            "ledger_transaction": 140,
            "resource_version": 18,
        },
        short=_("A month's stipend was released"),
    ),
    *event_types_declare(
        ORGANISATIONS,
        {
            "visit.departed": (
                _("{actor} confirmed the visitor's departure on {ended_on}"),
                _("{actor} confirmed the visitor's departure"),
            ),
            "visit.cancelled": _("{actor} cancelled the visit before the arrival"),
        },
    ),
    EventType(
        "visit.closed",
        _("{actor} filed the final report; the visit is closed"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_VISIT),
        example={**_VISIT_EXAMPLE, "state": "closed", "ended_on": "2026-09-30"},
    ),
)


def register() -> None:
    """Register every event type of the talent exchange (called once, at start-up)."""
    event_type_register(*CALL_EVENT_TYPES, *APPLICATION_EVENT_TYPES, *VISIT_EVENT_TYPES)
