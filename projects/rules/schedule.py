"""Stage and gate dates (§7), as pure functions of plain values.

A stage of ``months`` months that starts on day *d* has its gate on ``add_months(d, months)``;
the next stage starts the day after that gate day, so every instant belongs to exactly one
stage's measurement window (§8). Month arithmetic is calendar arithmetic: the same day of
the month, or the month's last day when it has no such day (31 January + 1 month =
28 or 29 February).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, timedelta

ONE_DAY = timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months, clamped to the end of the target month."""
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError("day must be a date, not a datetime")
    if isinstance(months, bool) or not isinstance(months, int) or months < 0:
        raise ValueError("months must be a non-negative integer")
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def gate_day(started_on: date, months: int) -> date:
    """The gate day of a stage that starts on ``started_on`` and lasts ``months`` months."""
    return add_months(started_on, months)


def next_stage_start(previous_gate_day: date) -> date:
    """A stage starts the day after the previous stage's gate day."""
    return previous_gate_day + ONE_DAY


def chained_gate_days(first_start: date, months: Sequence[int]) -> list[tuple[date, date]]:
    """``[(start, gate day), ...]`` of consecutive stages, the first starting on ``first_start``."""
    out: list[tuple[date, date]] = []
    start = first_start
    for length in months:
        due = gate_day(start, length)
        out.append((start, due))
        start = next_stage_start(due)
    return out


def deliverable_due_on(stage_start: date, due_month: int, stage_gate_day: date) -> date:
    """A deliverable due ``due_month`` months into its stage (§24), never after the stage's
    gate day."""
    return min(add_months(stage_start, due_month), stage_gate_day)


def deliverable_due_after_extension(due_on: date, months: int, new_gate_day: date) -> date:
    """A deliverable of a stage whose gate an extension moved by ``months`` months (§8,
    §24): its outstanding work moves by the same months, never past the new gate day."""
    return min(add_months(due_on, months), new_gate_day)
