"""Amounts, times and state badges on the proposal pages (§1, §15).

Kept here rather than borrowed from another app's tag library so the proposal pages
depend only on ``fundapp.money`` for how an amount is written.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone

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
    """An aware datetime in the fund's display zone (Asia/Tokyo), e.g. ``2026-11-24 14:30 JST``."""
    if not isinstance(value, datetime):
        return ""
    local = timezone.localtime(value)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


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
