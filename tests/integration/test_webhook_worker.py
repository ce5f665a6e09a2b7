"""A real Celery worker delivers webhooks: fan-out, a failed attempt, its retry (§13.3, §16)."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook

from fundapp.notifications.models import DeliveryState, OutboxEvent, WebhookDelivery
from fundapp.notifications.webhooks.services import webhook_subscription_create
from fundapp.notifications.webhooks.tasks import fan_out_webhooks, reconcile_webhooks
from tests.factories import jp_org
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
