"""The deliverable reminder job run by several workers at once (§16): the unique row
decides, so each reminder, its notifications and its webhook event exist once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from fundapp.notifications.models import Notification
from projects.models import DeliverableReminder
from projects.services.deliverables import deliverable_reminders_send
from tests.concurrency import run_at_once
from tests.factories.engine import award, deliverable, engine_proposal, fund_pools, make_staff
from tests.outbox import events_of

pytestmark = pytest.mark.django_db(transaction=True)

START = date(2026, 4, 1)
DUE = date(2026, 10, 1)  # six months into stage 1


def test_workers_at_once_send_each_reminder_once():
    staff = make_staff()
    fund_pools(staff)
    proposal, c = engine_proposal(deliverables={1: [deliverable("Test-chip report", due_month=6)]})
    award(proposal, staff, started_on=START)
    day = DUE + timedelta(days=1)

    results, errors = run_at_once(lambda _i: deliverable_reminders_send(today=day), threads=6)

    assert errors == [None] * 6
    assert sorted(len(r["overdue"]) for r in results) == [0, 0, 0, 0, 0, 1]
    assert DeliverableReminder.objects.count() == 1
    assert Notification.objects.filter(user=c.pi_jp, message="deliverable.overdue").count() == 1
    assert len(events_of("deliverable.overdue")) == 1
