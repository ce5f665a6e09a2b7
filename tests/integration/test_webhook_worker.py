"""A real Celery worker delivers webhooks: fan-out, a failed attempt, its retry (§13.3, §16)."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook

from fundapp.notifications.models import DeliveryState, OutboxEvent, WebhookDelivery
from fundapp.notifications.webhooks.services import webhook_subscription_create
from fundapp.notifications.webhooks.tasks import fan_out_webhooks, reconcile_webhooks
from tests.factories import jp_org, kr_org
from tests.webhook_receiver import receiving

from .conftest import wait_for

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _state(delivery_id: int) -> str:
    return WebhookDelivery.objects.values_list("state", flat=True).get(pk=delivery_id)


def test_the_worker_fans_out_retries_and_delivers(start_worker, celery_queue, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    org = jp_org()
    with receiving([500, 200]) as receiver:
        created = webhook_subscription_create(actor=None, organisation_id=org.pk, url=receiver.url)
        event = OutboxEvent.objects.create(
            kind="project.state_changed",
            organisation_ids=[org.pk],
            object_type="projects.project",
            object_id="1",
            payload={"id": 1},
        )
        worker = start_worker()
        fan_out_webhooks.apply_async(kwargs={"event_ids": [event.pk]}, queue=celery_queue)
        delivery_id = wait_for(
            lambda: WebhookDelivery.objects.values_list("id", flat=True).first(),
            timeout=30,
            what="the fan-out",
            worker=worker,
        )
        wait_for(
            lambda: _state(delivery_id) == DeliveryState.SUCCEEDED,
            timeout=30,
            what="the retried delivery",
            worker=worker,
        )
        # The reconciler finds nothing left to do.
        reconcile_webhooks.apply_async(queue=celery_queue).get(timeout=30)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.attempts == 2
    assert [r.headers["webhook-id"] for r in receiver.requests] == [event.event_id] * 2
    last = receiver.requests[-1]
    assert Webhook(created.secret).verify(last.body, last.headers)["id"] == event.event_id


def test_a_slow_receiver_does_not_hold_up_another(start_worker, celery_queue, settings):
    """Each delivery is a task of its own: while one worker waits on a receiver that takes
    its time, another delivers to a receiver that answers at once (§13.3)."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    slow_org, fast_org = jp_org(), kr_org()
    with receiving([200], delay=8.0) as slow, receiving([200]) as fast:
        webhook_subscription_create(actor=None, organisation_id=slow_org.pk, url=slow.url)
        webhook_subscription_create(actor=None, organisation_id=fast_org.pk, url=fast.url)
        events = [
            OutboxEvent.objects.create(
                kind="project.state_changed",
                organisation_ids=[org.pk],
                object_type="projects.project",
                object_id=str(number),
                payload={"id": number},
            )
            for number, org in enumerate([slow_org, fast_org], start=1)
        ]
        workers = [start_worker(), start_worker()]
        sent = time.monotonic()
        fan_out_webhooks.apply_async(
            kwargs={"event_ids": [e.pk for e in events]}, queue=celery_queue
        )
        wait_for(lambda: fast.requests, timeout=30, what="the fast receiver", worker=workers[1])
        fast_after = time.monotonic() - sent
        wait_for(lambda: slow.requests, timeout=30, what="the slow receiver", worker=workers[0])
        wait_for(
            lambda: not WebhookDelivery.objects.exclude(state=DeliveryState.SUCCEEDED).exists(),
            timeout=30,
            what="both deliveries",
            worker=workers[0],
        )
        slow_after = time.monotonic() - sent
    # The fast receiver was served while the slow one was still answering.
    assert fast_after < slow_after - 3, (fast_after, slow_after)
