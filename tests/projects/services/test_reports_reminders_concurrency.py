"""The reminder job run by several workers at once (§16): the unique row decides, so each
reminder, its notifications and its webhook event exist once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fundapp.notifications.models import Notification
from projects.models import ReportReminder
from projects.selectors.reports import report_due_on
from projects.services.reports import report_reminders_send
from tests.concurrency import run_at_once
from tests.factories.reports import report_world
from tests.outbox import events_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_workers_at_once_send_each_reminder_once():
    w = report_world()
    day = report_due_on(w.stage1.gate.due_on) + timedelta(days=1)

    results, errors = run_at_once(lambda _i: report_reminders_send(today=day), threads=6)

    assert errors == [None] * 6
    assert sorted(len(r["overdue"]) for r in results) == [0, 0, 0, 0, 0, 1]
    assert ReportReminder.objects.count() == 1
    assert Notification.objects.filter(user=w.c.pi_jp, message="report.overdue").count() == 1
    assert len(events_of("report.overdue")) == 1
