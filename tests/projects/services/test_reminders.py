"""projects/services/reminders.py: which reminder a day calls for (§24)."""

from __future__ import annotations

import pytest

from projects.services.deliverables import REMINDER_WINDOWS as DELIVERABLES
from projects.services.reminders import reminder_due
from projects.services.reports import REMINDER_WINDOWS as REPORTS


@pytest.mark.parametrize(
    ("days_left", "report", "deliverable"),
    [
        (31, None, None),
        (30, "30", None),
        (8, "30", None),
        (7, "7", "7"),
        (2, "7", "7"),
        (1, "1", "1"),
        (0, "1", "1"),
        (-1, "overdue", "overdue"),
        (-400, "overdue", "overdue"),
    ],
)
def test_the_reminder_of_a_day(days_left, report, deliverable):
    assert reminder_due(days_left, REPORTS) == report
    assert reminder_due(days_left, DELIVERABLES) == deliverable
