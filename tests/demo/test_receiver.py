"""The demo's webhook receiver (``fundapp.demo.receiver``): a delivery made by the real
delivery service arrives signed, verifies against the secret file and is logged."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fundapp.demo.receiver import make_server
from fundapp.notifications.webhooks.models import DeliveryState, WebhookDelivery
from fundapp.notifications.webhooks.services import (
    webhook_delivery_attempt,
    webhook_subscription_create,
    webhooks_fan_out,
)
from tests.factories import jp_org
from tests.factories.webhooks import outbox_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_webhooks")]


@contextmanager
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path, Path, io.StringIO]]:
    """The receiver on a free loopback port: (its URL, secret file, log file, stdout)."""
    secret_file, log_file, out = tmp_path / "secret", tmp_path / "events.log", io.StringIO()
    server = make_server(port=0, secret_file=secret_file, log_file=log_file, out=out)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks", secret_file, log_file, out
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def deliver(url: str, secret_file: Path, *, secret: str | None = None) -> WebhookDelivery:
    org = jp_org()
    created = webhook_subscription_create(organisation_id=org.pk, url=url, actor=None)
    secret_file.write_text((secret or created.secret) + "\n")
    event = outbox_event("project.state_changed", [org.pk])
    webhooks_fan_out(event_ids=[event.pk])
    delivery = WebhookDelivery.objects.get(subscription=created.subscription)
    result = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert result is not None
    return result.delivery


def test_a_signed_delivery_is_verified_answered_204_and_logged(tmp_path):
    with receiver(tmp_path) as (url, secret_file, log_file, out):
        delivery = deliver(url, secret_file)

    assert delivery.state == DeliveryState.SUCCEEDED and delivery.last_status == 204
    lines = log_file.read_text().splitlines()
    assert len(lines) == 1
    event_id = delivery.event.event_id
    assert f"id={event_id} type=project.state_changed" in lines[0]
    assert lines[0].endswith("verified=yes") and "timestamp=" in lines[0]
    assert f"id={event_id}" in out.getvalue()


def test_a_delivery_signed_with_another_secret_is_refused_and_logged_unverified(tmp_path):
    with receiver(tmp_path) as (url, secret_file, log_file, _out):
        delivery = deliver(url, secret_file, secret="whsec_" + "A" * 32)

    assert delivery.state == DeliveryState.PENDING and delivery.last_status == 401
    assert log_file.read_text().strip().endswith("verified=no")
