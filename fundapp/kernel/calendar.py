"""The fund's calendar: its days are Asia/Tokyo days (§8 gate days, §10.3 licence terms)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from django.utils import timezone

FUND_TIMEZONE: Final = ZoneInfo("Asia/Tokyo")


def tokyo_date(now: datetime) -> date:
    """The Asia/Tokyo date of an aware datetime."""
    if now.tzinfo is None or now.tzinfo.utcoffset(now) is None:
        raise ValueError("a timezone-aware datetime is needed")
    return now.astimezone(FUND_TIMEZONE).date()


def today_in_tokyo() -> date:
    """Today in the fund's calendar."""
    return tokyo_date(timezone.now())
