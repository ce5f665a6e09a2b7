"""Sending the e-mails: once, safely under redelivery, and never lost (§13, §16)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.utils import timezone

from fundapp.notifications.models import EmailState, Notification
from fundapp.notifications.services import notification_emails_send, notify
from fundapp.notifications.tasks import reconcile_notification_emails, send_notification_emails
from tests.factories import UserFactory
from tests.notifications.said import said

pytestmark = pytest.mark.django_db


def pending_for(*users, title="Gate 3"):
    """Rows as notify() leaves them when the enqueue after commit was lost."""
    rows = notify(users=list(users), **said("gate_evaluated", title))
    assert all(row.email_state == EmailState.PENDING for row in rows)
    return rows


def test_the_task_is_registered_late_acknowledged_and_sends_each_email_once(alice):
    [row] = pending_for(alice)

    first = send_notification_emails.apply(kwargs={"notification_ids": [row.pk]}).get()
    # Redelivered after a worker died, or enqueued twice: nothing more goes out.
    again = send_notification_emails.apply(kwargs={"notification_ids": [row.pk, row.pk]}).get()

    assert send_notification_emails.name == "notifications.send_notification_emails"
    assert send_notification_emails.acks_late is True
    assert first == {"sent": [row.pk], "skipped": [], "failed": []}
    assert again == {"sent": [], "skipped": [], "failed": []}
    assert len(mail.outbox) == 1


def test_someone_switched_off_before_sending_is_skipped(alice):
    [row] = pending_for(alice)
    alice.is_active = False
    alice.save(update_fields=["is_active"])

    report = notification_emails_send(notification_ids=[row.pk])

    assert report.skipped == [row.pk] and mail.outbox == []
    row.refresh_from_db()
    assert row.email_state == EmailState.SKIPPED and row.emailed_at is None


def test_a_failed_email_stays_pending_and_does_not_hold_up_the_others(alice, monkeypatch):
    bob = UserFactory.create(username="bob", email="bob@example.org")
    rows = pending_for(alice, bob)
    real_send = EmailMessage.send

    def send(message, *args, **kwargs):
        if message.to == [alice.email]:
            raise OSError("connection reset")
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMessage, "send", send)
    report = notification_emails_send(notification_ids=[row.pk for row in rows])

    assert report.failed == [rows[0].pk] and report.sent == [rows[1].pk]
    assert dict(Notification.objects.values_list("user_id", "email_state")) == {
        alice.pk: EmailState.PENDING,
        bob.pk: EmailState.SENT,
    }
    assert [m.to for m in mail.outbox] == [[bob.email]]


def test_the_reconciler_sends_what_a_lost_message_left_and_gives_up_after_a_day(alice):
    now = timezone.now()
    fresh, lost, ancient = pending_for(
        alice, UserFactory.create(username="b"), UserFactory.create(username="c")
    )
    Notification.objects.filter(pk=lost.pk).update(created_at=now - timedelta(hours=1))
    Notification.objects.filter(pk=ancient.pk).update(created_at=now - timedelta(hours=25))

    result = reconcile_notification_emails.apply().get()

    assert reconcile_notification_emails.name == "notifications.reconcile_notification_emails"
    assert result == {"enqueued": 1, "expired": 1}
    states = dict(Notification.objects.values_list("pk", "email_state"))
    # The fresh one is probably still in the broker: left alone for now.
    assert states == {
        fresh.pk: EmailState.PENDING,
        lost.pk: EmailState.SENT,
        ancient.pk: EmailState.FAILED,
    }
    assert len(mail.outbox) == 1
    assert reconcile_notification_emails.apply().get() == {"enqueued": 0, "expired": 0}
