"""Celery tasks of the notifications app (§13, §16).

Tasks take ids, load rows and call one service; the rows' ``email_state`` decides what is
still to send, so redelivery (``acks_late``) and several workers at once are harmless.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .selectors import notification_ids_awaiting_email
from .services import EmailReport, notification_emails_expire, notification_emails_send

logger = logging.getLogger(__name__)

ENQUEUE_BATCH = 100
MAX_RETRIES = 5


@shared_task(
    name="notifications.send_notification_emails",
    bind=True,
    acks_late=True,
    max_retries=MAX_RETRIES,
)
def send_notification_emails(self, notification_ids: list[int]) -> dict[str, list[int]]:
    """Send the e-mails of these notifications (enqueued by ``notify`` after commit).

    Ones that failed are retried with exponential backoff (1, 2, 4, 8, 16 minutes); after
    that the beat reconciler keeps trying until the 24-hour window closes.
    """
    report = notification_emails_send(notification_ids=notification_ids)
    if report.failed and self.request.retries < MAX_RETRIES:
        raise self.retry(
            kwargs={"notification_ids": report.failed}, countdown=60 * 2**self.request.retries
        )
    return report.as_dict()


@shared_task(name="notifications.send_pending_notification_emails", acks_late=True)
def send_pending_notification_emails() -> dict[str, list[int]]:
    """Send every pending e-mail (``notify_parts`` enqueues this at most once a second per
    process, after commit). Rows another sender holds are skipped; what fails stays pending
    for the reconciler."""
    ids = notification_ids_awaiting_email(now=timezone.now(), limit=10_000, grace=timedelta(0))
    report = EmailReport()
    for start in range(0, len(ids), ENQUEUE_BATCH):
        part = notification_emails_send(notification_ids=ids[start : start + ENQUEUE_BATCH])
        report.sent += part.sent
        report.skipped += part.skipped
        report.failed += part.failed
    return report.as_dict()


@shared_task(name="notifications.reconcile_notification_emails", acks_late=True)
def reconcile_notification_emails() -> dict[str, int]:
    """Re-enqueue e-mails a lost broker message left pending; give up after 24 hours.

    Meant for beat every 10 minutes.
    """
    now = timezone.now()
    expired = notification_emails_expire(now=now)
    ids = notification_ids_awaiting_email(now=now)
    for start in range(0, len(ids), ENQUEUE_BATCH):
        send_notification_emails.delay(notification_ids=ids[start : start + ENQUEUE_BATCH])
    return {"enqueued": len(ids), "expired": expired}


# The webhook tasks live with their services; imported here so autodiscovery finds them.
from .webhooks import tasks as webhook_tasks  # noqa: E402,F401
