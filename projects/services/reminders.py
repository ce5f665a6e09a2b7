"""Reminders before a due date and once overdue (§24, §16), for the daily jobs of stage
reports and deliverables: which reminder a day calls for, and the record that sends each
one once.

A reminder is a row (the owner's id, the due date it was about, its kind) under a unique
constraint; the job inserts the rows it owes with ``ON CONFLICT DO NOTHING … RETURNING``
in the same transaction as the notifications, audit and outbox events, and tells only of
the rows it inserted. A rerun, a redelivered task or a concurrent worker sends nothing
twice, and a moved due date is reminded of afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.db import connection
from django.db.models import Field, Model
from django.utils import timezone

from projects.models import ReminderKind

# (kind, fewest days left, most days left): a reminder is still sent within its window
# when the job did not run on its first day, never once a later one is due.
Windows = Sequence[tuple[str, int, int]]


def reminder_due(days_left: int, windows: Windows) -> str | None:
    """Which reminder is due with ``days_left`` days to the due date (negative: past it,
    overdue), or ``None``."""
    if days_left < 0:
        return str(ReminderKind.OVERDUE)
    for kind, low, high in windows:
        if low <= days_left <= high:
            return str(kind)
    return None


def reminders_claim(
    model: type[Model], *, owner: str, owed: Sequence[tuple[int, date, str]]
) -> set[tuple[int, date, str]]:
    """Record the reminders ``owed`` (owner id, due date, kind) in ``model``'s table, in
    one statement; returns those not recorded before (the ones to send now). The caller's
    transaction holds them until its notifications are written."""
    if not owed:
        return set()
    quote = connection.ops.quote_name
    field = model._meta.get_field(owner)
    assert isinstance(field, Field)  # a foreign key column, not a reverse relation
    column = quote(field.column)
    table = quote(model._meta.db_table)
    # Only names from the model's metadata go into the text; values are parameters.
    sql = f"""
INSERT INTO {table} ({column}, due_on, kind, sent_at)
SELECT o, d, k, %s FROM unnest(%s::bigint[], %s::date[], %s::text[]) AS r(o, d, k)
ON CONFLICT ({column}, due_on, kind) DO NOTHING
RETURNING {column}, due_on, kind
"""  # noqa: S608 - our own table and column names
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                timezone.now(),
                [o[0] for o in owed],
                [o[1] for o in owed],
                [o[2] for o in owed],
            ],
        )
        return {(row[0], row[1], row[2]) for row in cursor.fetchall()}


__all__ = ["Windows", "reminder_due", "reminders_claim"]
