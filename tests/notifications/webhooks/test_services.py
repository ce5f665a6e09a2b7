"""Webhook subscriptions, fan-out and delivery against a real HTTP receiver (§13.2, §13.3)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from fundapp.errors import PermissionDenied
from fundapp.kernel.events import Visibility, event_types
from fundapp.notifications.models import (
    DeliveryState,
    Notification,
    NotificationKind,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSecret,
)
from fundapp.notifications.webhooks import services
from fundapp.notifications.webhooks.services import (
    WebhookUrlRefused,
    webhook_delivery_attempt,
    webhook_secret_rotate,
    webhook_subscription_create,
    webhooks_fan_out,
)
from tests.factories import jp_org, kr_org, member_of, officer
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.django_db


def outbox_event(kind: str, org_ids: list[int], payload: dict | None = None) -> OutboxEvent:
    return OutboxEvent.objects.create(
        kind=kind,
        organisation_ids=org_ids,
        object_type="projects.project",
        object_id="1",
        payload=payload if payload is not None else {"id": 1},
    )


def partner_types() -> list[str]:
    return sorted(
        t.name
        for t in event_types()
        if t.outbox and t.visibility != Visibility.OFFICERS and t.name != services.PING
    )


def deliver_all(now=None) -> None:
    for delivery_id in services.webhook_deliveries_due(now=now or timezone.now()):
        webhook_delivery_attempt(delivery_id=delivery_id, now=now)


def due(delivery: WebhookDelivery) -> datetime:
    assert delivery.next_attempt_at is not None
    return delivery.next_attempt_at


def verify(secret: str, received) -> dict:
    return Webhook(secret).verify(received.body, received.headers)


def test_every_partner_event_type_arrives_signed_and_verifiable():
    org = jp_org()
    with receiving([200]) as receiver:
        created = webhook_subscription_create(actor=None, organisation_id=org.pk, url=receiver.url)
        kinds = partner_types()
        assert len(kinds) > 10
        examples = {t.name: dict(t.example or {}) for t in event_types()}
        events = [outbox_event(kind, [org.pk], examples[kind]) for kind in kinds]

        webhooks_fan_out()
        deliver_all()

        assert len(receiver.requests) == len(kinds)
        by_id = {r.headers["webhook-id"]: r for r in receiver.requests}
        for event in events:
            received = by_id[event.event_id]
            assert verify(created.secret, received) == event.envelope()
            assert received.headers["content-type"] == "application/json"
            assert "Fund" in received.headers["user-agent"]
        assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {
            DeliveryState.SUCCEEDED
        }


def test_500_500_200_succeeds_on_the_third_attempt_with_the_same_webhook_id():
    org = jp_org()
    with receiving([500, 500, 200]) as receiver:
        webhook_subscription_create(actor=None, organisation_id=org.pk, url=receiver.url)
        event = outbox_event("project.state_changed", [org.pk])
        webhooks_fan_out()
        delivery = WebhookDelivery.objects.get()
        now = timezone.now()
        for _ in range(3):
            result = webhook_delivery_attempt(delivery_id=delivery.pk, now=now)
            assert result is not None
            if result.retry_in is not None:
                assert due(result.delivery) <= now + timedelta(hours=4)
                now = due(result.delivery)
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.SUCCEEDED
        assert delivery.attempts == 3
        assert list(
            WebhookAttempt.objects.filter(delivery=delivery).values_list("status_code", flat=True)
        ) == [500, 500, 200]
        assert {r.headers["webhook-id"] for r in receiver.requests} == {event.event_id}


def test_an_attempt_not_due_yet_does_nothing():
    org = jp_org()
    with receiving([500]) as receiver:
        webhook_subscription_create(actor=None, organisation_id=org.pk, url=receiver.url)
        outbox_event("project.state_changed", [org.pk])
        webhooks_fan_out()
        delivery = WebhookDelivery.objects.get()
        first = webhook_delivery_attempt(delivery_id=delivery.pk)
        assert first is not None and first.retry_in is not None
        earlier = due(first.delivery) - timedelta(seconds=2)
        assert webhook_delivery_attempt(delivery_id=delivery.pk, now=earlier) is None
        assert len(receiver.requests) == 1


def test_410_fails_the_delivery_and_disables_the_subscription():
    org = jp_org()
    with receiving([410]) as receiver:
        created = webhook_subscription_create(actor=None, organisation_id=org.pk, url=receiver.url)
        outbox_event("project.state_changed", [org.pk])
        webhooks_fan_out()
        deliver_all()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.FAILED and delivery.last_status == 410
    created.subscription.refresh_from_db()
    assert not created.subscription.active
    assert "410" in created.subscription.disabled_reason


def test_receiver_down_then_back_is_redelivered_by_the_reconciler():
    org = jp_org()
    receiver = Receiver(statuses=[200])
    receiver.start()
    url = receiver.url
    receiver.stop()  # down: the port refuses connections
    webhook_subscription_create(actor=None, organisation_id=org.pk, url=url)
    outbox_event("project.state_changed", [org.pk])
    webhooks_fan_out()
    deliver_all()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and delivery.last_status is None
    assert WebhookAttempt.objects.get().error

    back = Receiver(statuses=[200], port=receiver.port)
    back.start()
    try:
        later = due(delivery) + timedelta(seconds=1)
        assert services.webhook_deliveries_due(now=later) == [delivery.pk]
        deliver_all(now=later)
    finally:
        back.stop()
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED
    assert len(back.requests) == 1


def test_failing_for_24_hours_disables_and_tells_the_research_office():
    org = jp_org()
    office = member_of(org, research_office=True)
    member_of(org)  # not in the research office
    with receiving([503]) as receiver:
        created = webhook_subscription_create(actor=None, organisation_id=org.pk, url=receiver.url)
        outbox_event("project.state_changed", [org.pk])
        webhooks_fan_out()
        delivery = WebhookDelivery.objects.get()
        now = timezone.now()
        attempts = 0
        while True:
            result = webhook_delivery_attempt(delivery_id=delivery.pk, now=now)
            assert result is not None
            attempts += 1
            if result.retry_in is None:
                break
            now = due(result.delivery)
        assert attempts >= 8
    created.subscription.refresh_from_db()
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED
    assert not created.subscription.active
    assert now - delivery.created_at >= timedelta(hours=24)
    notified = Notification.objects.filter(kind=NotificationKind.WEBHOOK_DISABLED)
    assert [n.user_id for n in notified] == [office.pk]


def test_other_organisations_and_officer_only_events_never_reach_a_subscription():
    jp, kr, other = jp_org(), kr_org(), jp_org()
    with receiving([200]) as receiver:
        webhook_subscription_create(actor=None, organisation_id=other.pk, url=receiver.url)
        mine = webhook_subscription_create(actor=None, organisation_id=jp.pk, url=receiver.url)
        outbox_event("project.state_changed", [jp.pk, kr.pk])
        outbox_event("project.state_changed", [])
        webhooks_fan_out()
        deliver_all()
    assert list(WebhookDelivery.objects.values_list("subscription_id", flat=True)) == [
        mine.subscription.pk
    ]
    assert len(receiver.requests) == 1


def test_event_type_filter():
    org = jp_org()
    created = webhook_subscription_create(
        actor=None,
        organisation_id=org.pk,
        url="http://127.0.0.1:9/hook",
        event_types=["project.state_changed"],
    )
    outbox_event("project.state_changed", [org.pk])
    outbox_event("proposal.submitted", [org.pk])
    webhooks_fan_out()
    assert [
        d.event.kind for d in WebhookDelivery.objects.filter(subscription=created.subscription)
    ] == ["project.state_changed"]


@pytest.mark.parametrize("size", [3, 30])
def test_fan_out_query_count_does_not_grow_with_the_batch(size, django_assert_num_queries):
    orgs = [jp_org() for _ in range(3)]
    for org in orgs:
        webhook_subscription_create(
            actor=None, organisation_id=org.pk, url="http://127.0.0.1:9/hook"
        )
    for i in range(size):
        outbox_event("project.state_changed", [orgs[i % 3].pk])
    # events, subscriptions, one insert (in its savepoint), the empty next page: fixed.
    with django_assert_num_queries(4):
        webhooks_fan_out(batch_size=size)
    assert WebhookDelivery.objects.count() == size


@pytest.mark.django_db(transaction=True)
def test_fan_out_twice_concurrently_makes_one_delivery_per_pair():
    orgs = [jp_org() for _ in range(2)]
    for org in orgs:
        webhook_subscription_create(
            actor=None, organisation_id=org.pk, url="http://127.0.0.1:9/hook"
        )
        webhook_subscription_create(
            actor=None, organisation_id=org.pk, url="http://127.0.0.1:9/other"
        )
    for i in range(40):
        outbox_event("project.state_changed", [orgs[i % 2].pk] if i % 3 else [o.pk for o in orgs])
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            webhooks_fan_out(batch_size=7)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = sum(2 * len(e.organisation_ids) for e in OutboxEvent.objects.all())
    assert WebhookDelivery.objects.count() == expected


def test_rotation_overlap_then_expiry_and_revocation():
    org = jp_org()
    with receiving([200]) as receiver:
        created = webhook_subscription_create(actor=None, organisation_id=org.pk, url=receiver.url)
        sub = created.subscription
        new = webhook_secret_rotate(actor=None, subscription=sub)
        outbox_event("project.state_changed", [org.pk])
        webhooks_fan_out()
        deliver_all()
        during = receiver.requests[-1]
        assert verify(created.secret, during)
        assert verify(new, during)
        assert len(during.headers["webhook-signature"].split(" ")) == 2

        # After the overlap the old secret no longer signs.
        later = timezone.now() + timedelta(hours=25)
        outbox_event("project.state_changed", [org.pk])
        webhooks_fan_out()
        WebhookDelivery.objects.filter(state=DeliveryState.PENDING).update(next_attempt_at=later)
        deliver_all(now=later)
        after = receiver.requests[-1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        with pytest.raises(WebhookVerificationError):
            Webhook(created.secret).verify(
                after.body,
                {**after.headers, "webhook-timestamp": str(int(timezone.now().timestamp()))},
            )
        # Revoked at once: only the newest signs.
        newest = webhook_secret_rotate(actor=None, subscription=sub, revoke_now=True)
        outbox_event("project.state_changed", [org.pk])
        webhooks_fan_out()
        deliver_all()
        last = receiver.requests[-1]
        assert verify(newest, last)
        with pytest.raises(WebhookVerificationError):
            verify(new, last)
    assert WebhookSecret.objects.filter(subscription=sub).count() == 3
    assert all(
        s.startswith("whsec_") for s in WebhookSecret.objects.values_list("secret", flat=True)
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://0.0.0.0/hook",
        "ftp://example.org/hook",
    ],
)
def test_address_guard_refuses_outside_the_test_setting(url, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    settings.DEBUG = False
    with pytest.raises(WebhookUrlRefused):
        services.webhook_url_check(url)


def test_metadata_address_refused_even_with_loopback_allowed():
    with pytest.raises(WebhookUrlRefused):
        services.webhook_url_check("http://169.254.169.254/")


def test_address_guard_is_checked_again_at_delivery(settings):
    org = jp_org()
    with receiving([200]) as receiver:
        webhook_subscription_create(actor=None, organisation_id=org.pk, url=receiver.url)
        outbox_event("project.state_changed", [org.pk])
        webhooks_fan_out()
        settings.WEBHOOKS_ALLOW_LOOPBACK = False
        deliver_all()
        assert receiver.requests == []
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and attempt.error.startswith("refused")


def test_ping_reaches_only_the_pinged_subscription_and_redeliver_keeps_the_id():
    org = jp_org()
    with receiving([200]) as receiver:
        one = webhook_subscription_create(actor=None, organisation_id=org.pk, url=receiver.url)
        webhook_subscription_create(actor=None, organisation_id=org.pk, url=receiver.url + "/two")
        delivery = services.webhook_subscription_ping(subscription=one.subscription)
        webhooks_fan_out()
        deliver_all()
        assert WebhookDelivery.objects.count() == 1
        body = json.loads(receiver.requests[0].body)
        assert body["type"] == "webhook.ping"
        office = member_of(org, research_office=True)
        services.webhook_delivery_redeliver(delivery=delivery, actor=office)
        deliver_all()
        assert len(receiver.requests) == 2
        assert (
            receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
        )
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.state == DeliveryState.SUCCEEDED


def test_redelivery_is_asked_for_by_a_person_and_leaves_a_pending_delivery_alone():
    org = jp_org()
    with receiving([500, 200]) as receiver:
        created = webhook_subscription_create(actor=None, organisation_id=org.pk, url=receiver.url)
        delivery = services.webhook_subscription_ping(subscription=created.subscription)
        planned = WebhookDelivery.objects.get(pk=delivery.pk).next_attempt_at

        again = services.webhook_delivery_redeliver(delivery=delivery, actor=officer())

        assert again.state == DeliveryState.PENDING and again.next_attempt_at == planned
        deliver_all()
        deliver_all(timezone.now() + timedelta(hours=1))
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED
    # The fund's own jobs do not redeliver: only whoever manages the subscription does.
    with pytest.raises(PermissionDenied):
        services.webhook_delivery_redeliver(delivery=delivery, actor=None)
    assert WebhookDelivery.objects.get(pk=delivery.pk).state == DeliveryState.SUCCEEDED
