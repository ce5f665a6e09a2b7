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
    STRING,
    EventType,
    Visibility,
    data_schema,
    event_type_register,
    nullable,
)

ORGANISATIONS = Visibility.ORGANISATIONS

# --------------------------------------------------------------------------- visits: data

_VISIT = {
    "id": ID,
    "application": ID,
    "state": STRING,
    "paying_side": {"enum": ["JP", "KR"]},
    "currency": {"enum": ["JPY", "KRW"]},
    "payee": ID,
    "months": INTEGER,
    "stipend_month_amount": INTEGER,
    "travel_amount": INTEGER,
    "planned_start": DATE,
    "arrived_on": nullable(DATE),
    "ended_on": nullable(DATE),
}
_VISIT_EXAMPLE = {
    "id": 5,
    "application": 12,
    "state": "active",
    "paying_side": "KR",
    "currency": "KRW",
    "payee": 8,
    "months": 6,
    "stipend_month_amount": 3_000_000,
    "travel_amount": 2_000_000,
    "planned_start": "2026-04-01",
    "arrived_on": "2026-04-03",
    "ended_on": None,
    "resource_version": 17,
}


def visit_data(visit: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": visit.pk,
        "application": visit.application_id,
        "state": visit.state,
        "paying_side": visit.paying_side,
        "currency": visit.currency,
        "payee": visit.payee_id,
        "months": visit.months,
        "stipend_month_amount": visit.stipend_month_amount,
        "travel_amount": visit.travel_amount,
        "planned_start": visit.planned_start,
        "arrived_on": visit.arrived_on,
        "ended_on": visit.ended_on,
        **extra,
    }


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


def register() -> None:
    """Register every event type of the talent exchange (called once, at start-up)."""
    # ----------------------------------------------------------------- calls → award
    # ----------------------------------------------------------------- visits
    event_type_register(
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
        EventType(
            "visit.departed",
            _("{actor} confirmed the visitor's departure on {ended_on}"),
            ORGANISATIONS,
            short=_("{actor} confirmed the visitor's departure"),
        ),
        EventType(
            "visit.cancelled",
            _("{actor} cancelled the visit before the arrival"),
            ORGANISATIONS,
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
