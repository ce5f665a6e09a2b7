"""Webhook subscriptions and deliveries for the page, API and demo tests (§13.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from fundapp.accounts.models import Organisation, Role, User
from fundapp.notifications.models import OutboxEvent
from fundapp.notifications.webhooks.models import (
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from fundapp.notifications.webhooks.services import webhook_subscription_create
from tests.factories import UserFactory, jp_org, kr_org, member_of, officer

HOOK = "http://127.0.0.1:9/hook"


def subscription(org: Organisation, url: str = HOOK, **kwargs) -> WebhookSubscription:
    """A subscription made by the system (no audit actor), with one secret."""
    return webhook_subscription_create(
        organisation_id=org.pk, url=url, actor=None, **kwargs
    ).subscription


def outbox_event(kind: str, org_ids: list[int]) -> OutboxEvent:
    return OutboxEvent.objects.create(
        kind=kind,
        organisation_ids=org_ids,
        object_type="projects.project",
        object_id="1",
        payload={"id": 1},
    )


def failed_delivery(sub: WebhookSubscription, *, body: str = "upstream broke") -> WebhookDelivery:
    """A delivery that failed after two attempts (500, then no answer)."""
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        event=outbox_event("project.state_changed", [sub.organisation_id]),
        subscription=sub,
        state=DeliveryState.FAILED,
        attempts=2,
        last_status=None,
        next_attempt_at=None,
    )
    WebhookAttempt.objects.create(
        delivery=delivery,
        at=now - timedelta(minutes=5),
        status_code=500,
        duration_ms=123,
        response_body=body,
    )
    WebhookAttempt.objects.create(
        delivery=delivery,
        at=now,
        status_code=None,
        duration_ms=10000,
        error="ReadTimeout: timed out",
    )
    return delivery


@dataclass
class WebhookWorld:
    """Two organisations with a subscription each, the research office of each, a plain
    researcher of the first, a reviewer and a fund officer."""

    own_org: Organisation
    other_org: Organisation
    own: WebhookSubscription
    other: WebhookSubscription
    office: User
    other_office: User
    researcher: User
    reviewer: User
    officer: User


def webhook_world() -> WebhookWorld:
    own_org, other_org = jp_org(), kr_org()
    return WebhookWorld(
        own_org=own_org,
        other_org=other_org,
        own=subscription(own_org, description="Tokyo research office"),
        other=subscription(other_org, description="Daejeon research office"),
        office=member_of(own_org, research_office=True),
        other_office=member_of(other_org, research_office=True),
        researcher=member_of(own_org),
        reviewer=UserFactory.create(role=Role.REVIEWER),
        officer=officer(side="KR"),
    )
