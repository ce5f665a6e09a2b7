"""Amounts, times and state badges on the proposal pages (§1, §15).

Amounts are written by ``fundapp.money``; times as every page writes them
(``fundapp.accounts``' ``local_dt``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template

from fundapp.accounts.templatetags.fund_format import local_dt
from fundapp.money import format_amount

register = template.Library()

_BADGES = {
    "eligible": "badge--success",
    "awarded": "badge--success",
    "submitted": "badge--warning",
    "under_review": "badge--warning",
    "ineligible": "badge--danger",
    "rejected": "badge--danger",
    "withdrawn": "badge--danger",
}


@register.filter
def amount(value: Any, currency: str) -> str:
    """``{{ 12000000|amount:"JPY" }}`` → ``¥12,000,000``; empty for a missing amount."""
    if value is None or value == "":
        return ""
    try:
        return format_amount(int(value), str(currency))
    except (TypeError, ValueError):
        return ""


@register.filter
def when(value: Any) -> str:
    """An aware datetime as every page shows one: in the reader's language and zone, with
    its zone's name (``2026年11月24日 14:30 JST``, ``2026년 11월 24일 14:30 KST``)."""
    if not isinstance(value, datetime):
        return ""
    return local_dt(value)


@register.filter
def state_badge(state: Any) -> str:
    """The badge modifier class for a proposal state."""
    return _BADGES.get(str(state), "")


@register.filter
def plain_number(value: Any) -> str:
    """A Decimal without trailing zeros or exponent: ``10.000000`` → ``10``, ``0.5000`` → ``0.5``."""
    if not isinstance(value, Decimal):
        return "" if value is None else str(value)
    return format(value.normalize(), "f")
