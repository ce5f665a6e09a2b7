"""Celery tasks of webhook delivery (§13.3, §16).

Every task runs on the ``webhooks`` queue (``WEBHOOKS_QUEUE``; ``CELERY_TASK_ROUTES``), so
slow receivers never hold up the other queues; each request has a 10 s timeout and no
redirects, and a worker holds one delivery at a time (prefetch 1), so one slow receiver
costs at most one worker slot for 10 s per attempt.
"""

from __future__ import annotations

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from . import services

ENQUEUE_BATCH = 1000


@shared_task(name="notifications.deliver_webhook", acks_late=True)
def deliver_webhook(delivery_id: int) -> str | None:
    """One attempt of a delivery; a retry is scheduled with the backoff's countdown."""
    result = services.webhook_delivery_attempt(delivery_id=delivery_id)
    if result is None:
        return None
    if result.retry_in is not None:
        deliver_webhook.apply_async(kwargs={"delivery_id": delivery_id}, countdown=result.retry_in)
    return result.delivery.state


def deliver_after_commit(delivery_id: int) -> None:
    """Enqueue one attempt once the caller's transaction commits (a lost message is made
    good by the reconciler, so a broker outage never fails the request)."""
    transaction.on_commit(lambda: deliver_webhook.delay(delivery_id=delivery_id), robust=True)


def enqueue_due(*, limit: int = ENQUEUE_BATCH) -> int:
    ids = services.webhook_deliveries_due(now=timezone.now(), limit=limit)
    for delivery_id in ids:
        deliver_webhook.delay(delivery_id=delivery_id)
    return len(ids)


@shared_task(name="notifications.fan_out_webhooks", acks_late=True)
def fan_out_webhooks(event_ids: list[int] | None = None) -> int:
    """Create the deliveries of these events (or of the recent ones) and enqueue them."""
    services.webhooks_fan_out(event_ids=event_ids)
    return enqueue_due()


@shared_task(name="notifications.reconcile_webhooks", acks_late=True)
def reconcile_webhooks() -> dict[str, int]:
    """Beat, every minute: the fan-out sweep, then re-enqueue every pending delivery whose
    next attempt is past (a lost broker message, a worker gone)."""
    examined = services.webhooks_fan_out()
    return {"events": examined, "enqueued": enqueue_due()}
