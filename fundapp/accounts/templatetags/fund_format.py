"""Amounts, dates and times as each language writes them (§1, §15).

Times are stored in UTC and shown in Asia/Seoul for Korean readers and Asia/Tokyo for
everyone else; both are UTC+09:00, so only the zone's name differs.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from django import template
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext

from fundapp.kernel.events import event_sentence, event_type_get
from fundapp.money import format_amount

register = template.Library()

TOKYO = ZoneInfo("Asia/Tokyo")
SEOUL = ZoneInfo("Asia/Seoul")

# English month names are fixed here rather than taken from the locale so that the "en"
# format never changes with the server's locale settings.
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _language() -> str:
    return (get_language() or "en")[:2]


def display_zone(language: str | None = None) -> tzinfo:
    """Asia/Seoul for Korean, Asia/Tokyo otherwise."""
    return SEOUL if (language or _language()) == "ko" else TOKYO


def format_local_date(value: date, language: str) -> str:
    if language == "ja":
        return f"{value.year}年{value.month}月{value.day}日"
    if language == "ko":
        return f"{value.year}년 {value.month}월 {value.day}일"
    return f"{value.day} {_EN_MONTHS[value.month - 1]} {value.year}"


def format_local_datetime(value: datetime, language: str) -> str:
    """``2026年11月24日 14:30 JST`` / ``2026년 11월 24일 14:30 KST`` / ``24 Nov 2026 14:30 JST``."""
    if value.tzinfo is None:
        # Stored times are UTC; a naive value can only have come from there.
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(display_zone(language))
    return f"{format_local_date(local.date(), language)} {local:%H:%M} {local.tzname()}"


@register.filter
def money(value: Any, currency: str) -> str:
    """``{{ amount|money:"JPY" }}`` → ``¥12,000,000``; empty for a missing amount."""
    if value is None or value == "":
        return ""
    try:
        amount = int(value)
    except (TypeError, ValueError):
        return ""
    return format_amount(amount, str(currency))


@register.filter
def local_dt(value: Any) -> str:
    """An aware datetime in the reader's zone and language, with JST/KST."""
    if not isinstance(value, datetime):
        return ""
    return format_local_datetime(value, _language())


@register.filter
def local_date(value: Any) -> str:
    """A date in the reader's language; a datetime is first moved to the reader's zone."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(display_zone()).date()
    if not isinstance(value, date):
        return ""
    return format_local_date(value, _language())


@register.filter
def minutes(value: Any) -> int:
    """A duration in whole minutes, rounded up (a wait is never shown shorter than it is)."""
    if not isinstance(value, timedelta):
        return 0
    return max(0, math.ceil(value.total_seconds() / 60))


def audit_value(value: Any, language: str | None = None) -> str:
    """One before/after value of an audit event as a reader wants to see it."""
    language = language or _language()
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, list):
        return ", ".join(audit_value(v, language) for v in value) or "—"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        # The audit trail stores datetimes as ISO 8601 (UTC); show them like any other time.
        try:
            return format_local_datetime(datetime.fromisoformat(value), language)
        except ValueError:
            return value
    return str(value)


@register.filter
def audit_changes(event: Any) -> list[tuple[str, str, str]]:
    """The fields an audit event changed, as (field, before, after) display strings.

    A creation has no ``before`` and a removal no ``after``; the missing side shows as "—".
    """
    before = event.before if isinstance(getattr(event, "before", None), dict) else {}
    after = event.after if isinstance(getattr(event, "after", None), dict) else {}
    language = _language()
    keys = list(dict.fromkeys([*before, *after]))
    return [
        (key, audit_value(before.get(key), language), audit_value(after.get(key), language))
        for key in keys
        if before.get(key) != after.get(key)
    ]


# Keys whose integer values are amounts in the event's ``currency``.
_MONEY_KEYS = frozenset({"amount", "planned", "released", "from_reserve", "returned_to_pool"})


def _sentence_value(key: str, value: Any, currency: Any, language: str) -> str:
    if key.removeprefix("before_") in _MONEY_KEYS and isinstance(value, int) and currency:
        return format_amount(value, str(currency))
    if isinstance(value, str) and len(value) == 10 and value[4:5] == "-" and value[7:8] == "-":
        try:
            return format_local_date(date.fromisoformat(value), language)
        except ValueError:
            return value
    return audit_value(value, language)


@register.filter
def audit_sentence(event: Any) -> str:
    """An audit event as the sentence its type registered (``fundapp.kernel.events``), in
    the reader's language: ``{actor}`` is who did it; the other placeholders take the
    event's ``after`` values (``before_<key>`` its ``before``), coded values as their
    translated labels, amounts and dates as the language writes them (§12, §15). Uses only
    the row itself: no query per event."""
    return _audit_sentence(event, mark_typed=False)


@register.filter
def audit_sentence_html(event: Any) -> str:
    """``audit_sentence`` for a page: escaped, with each value people typed (a title, a
    reason, a note) in a ``<span data-user-text>``, since it stays in the language it was
    written in."""
    return mark_safe(_audit_sentence(event, mark_typed=True))  # noqa: S308 - sentence and values escaped


def _audit_sentence(event: Any, *, mark_typed: bool) -> str:
    registered = event_type_get(event.action)
    if registered is None:
        return escape(event.action) if mark_typed else str(event.action)
    language = _language()
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    currency = after.get("currency") or before.get("currency")
    values: dict[str, Any] = {}
    for prefix, side in (("before_", before), ("", after)):
        for key, value in side.items():
            name = prefix + key
            label = registered.label(name, value)
            if label is not value:
                text = str(label)
            else:
                text = _sentence_value(name, value, currency, language)
                if mark_typed and isinstance(value, str) and text == value:
                    text = format_html("<span data-user-text>{}</span>", text)
            values[name] = conditional_escape(text) if mark_typed else text
    values["actor"] = escape(audit_actor(event)) if mark_typed else audit_actor(event)
    if mark_typed:
        return event_sentence(event.action, values, escape_sentence=True)
    return event_sentence(event.action, values)


@register.filter
def audit_actor(event: Any) -> str:
    """Who an audit event names: the label stored with it, or "system" in the reader's
    language for an event no person or key caused (stored as the untranslated word)."""
    # fundapp.audit.services stores "system" as the label of an event with no actor.
    unattributed = event.actor_user_id is None and event.actor_api_key_id is None
    if not event.actor_label or (unattributed and event.actor_label == "system"):
        return gettext("system")
    return str(event.actor_label)
