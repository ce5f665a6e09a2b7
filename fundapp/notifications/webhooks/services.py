"""Webhook subscriptions, secrets, fan-out and delivery (§13.2, §13.3).

Fan-out cursor: there is none to lose. The fan-out looks at outbox events created within
``WEBHOOKS_FANOUT_WINDOW`` (default 48 h) and inserts the missing (event, subscription)
deliveries with one ``INSERT … ON CONFLICT DO NOTHING`` per batch; the unique constraint
on the pair makes a repeated or concurrent run a no-op. It runs after the commit of each
event batch (enqueued by the caller) and from the periodic reconciler, so an enqueue lost
with the broker is made good by the next sweep. A subscription receives only events
created after it was.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from standardwebhooks.webhooks import Webhook

from fundapp.accounts.models import User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import DomainError, PermissionDenied
from fundapp.notifications.models import OutboxEvent
from fundapp.notifications.webhooks.models import (
    RESPONSE_BODY_MAX_CHARS,
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSecret,
    WebhookSubscription,
)
from fundapp.notifications.webhooks.permissions import can_manage_subscription_of

SECRET_PREFIX = "whsec_"
EARLY_GRACE = timedelta(seconds=1)
METADATA_ADDRESSES = frozenset({"169.254.169.254", "fd00:ec2::254"})


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# --- address guard (SSRF) ------------------------------------------------------------


class WebhookUrlRefused(DomainError):
    """A well-formed URL the fund will not call (not https, not public, not resolvable)."""

    code = "webhook_url_refused"
    status = 422


def _address_refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if str(ip) in METADATA_ADDRESSES:
        return True
    if ip.is_loopback:
        return not _setting("WEBHOOKS_ALLOW_LOOPBACK", False)
    return (
        ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def webhook_url_check(url: str) -> str:
    """Refuse a URL a partner must not make us call: outside DEBUG only https, and never a
    host resolving to a loopback (unless ``WEBHOOKS_ALLOW_LOOPBACK``), private,
    link-local, reserved or metadata address. Checked at subscription and at delivery
    (the name may resolve elsewhere by then)."""
    parts = urlsplit(url)
    allow_http = settings.DEBUG or _setting("WEBHOOKS_ALLOW_LOOPBACK", False)
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        raise WebhookUrlRefused(
            _("The webhook URL must use https."), errors={"url": [_("Use https.")]}
        )
    if not parts.hostname or parts.username or parts.password:
        raise WebhookUrlRefused(
            _("The webhook URL has no valid host."), errors={"url": [_("No valid host.")]}
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError):
        raise WebhookUrlRefused(
            _("The webhook host cannot be resolved."), errors={"url": [_("Unknown host.")]}
        ) from None
    for info in infos:
        if _address_refused(str(info[4][0])):
            raise WebhookUrlRefused(
                _("The webhook host resolves to an address that is not public."),
                errors={"url": [_("Not a public address.")]},
            )
    return url


# --- subscriptions and secrets -----------------------------------------------------


def _new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True)
class CreatedSubscription:
    subscription: WebhookSubscription
    secret: str  # shown once


def _check_event_types(event_types: Iterable[str]) -> list[str]:
    from fundapp.kernel.events import event_type_require

    names = sorted(set(event_types))
    try:
        event_type_require(names, outbox=True)
    except LookupError as error:
        raise DomainError(str(error), errors={"event_types": [str(error)]}) from None
    return names


def _permitted(actor: Actor | None, organisation_id: int) -> None:
    """``None`` is the system (the demo data, a management command)."""
    if actor is not None and not can_manage_subscription_of(actor, organisation_id):
        raise PermissionDenied(
            _("Only the organisation's research office and fund officers manage its webhooks.")
        )


def _audited(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "organisation": subscription.organisation_id,
        "url": subscription.url,
        "event_types": list(subscription.event_types),
        "description": subscription.description,
        "active": subscription.active,
    }


def webhook_subscription_create(
    *,
    organisation_id: int,
    url: str,
    event_types: Iterable[str] = (),
    description: str = "",
    actor: Actor | None,
) -> CreatedSubscription:
    """Create an active subscription with one signing secret, returned once.

    Guarantees: only who manages the organisation's webhooks (or the system); the URL passes
    the address guard and the event types are registered outbox types; the subscription,
    its secret and the ``webhook_subscription.created`` audit event (never the secret)
    commit together.
    """
    _permitted(actor, organisation_id)
    clean_url = webhook_url_check(url)
    names = _check_event_types(event_types)
    with transaction.atomic():
        subscription = WebhookSubscription.objects.create(
            organisation_id=organisation_id,
            url=clean_url,
            event_types=names,
            description=description,
            created_by=actor if isinstance(actor, User) else None,
        )
        secret = WebhookSecret.objects.create(subscription=subscription, secret=_new_secret())
        audit_record(
            actor=actor,
            action="webhook_subscription.created",
            obj=subscription,
            after=_audited(subscription),
        )
    return CreatedSubscription(subscription=subscription, secret=secret.secret)


def webhook_subscription_update(
    *,
    subscription: WebhookSubscription,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
    actor: Actor | None,
) -> WebhookSubscription:
    """Change a subscription. Re-activating clears the reason and the failure run.

    Guarantees: only who manages the organisation's webhooks (or the system); the row is
    locked while it changes; the changed fields are audited (``webhook_subscription.updated``
    with before/after), a change of the active flag as ``…deactivated`` / ``…reactivated``;
    a call that changes nothing writes no event.
    """
    _permitted(actor, subscription.organisation_id)
    clean_url = webhook_url_check(url) if url is not None else None
    names = _check_event_types(event_types) if event_types is not None else None
    with transaction.atomic():
        sub = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        before = _audited(sub)
        fields = ["updated_at"]
        if clean_url is not None:
            sub.url = clean_url
            fields.append("url")
        if names is not None:
            sub.event_types = names
            fields.append("event_types")
        if description is not None:
            sub.description = description
            fields.append("description")
        if active is not None and active != sub.active:
            sub.active = active
            sub.disabled_reason = "" if active else "deactivated"
            sub.failing_since = None
            fields += ["active", "disabled_reason", "failing_since"]
        after = _audited(sub)
        changed = [k for k in after if k != "active" and after[k] != before[k]]
        if not changed and after["active"] == before["active"]:
            return sub
        sub.updated_at = timezone.now()
        sub.save(update_fields=fields)
        if changed:
            audit_record(
                actor=actor,
                action="webhook_subscription.updated",
                obj=sub,
                before={k: before[k] for k in changed},
                after={k: after[k] for k in changed},
            )
        if after["active"] != before["active"]:
            audit_record(
                actor=actor,
                action="webhook_subscription." + ("reactivated" if sub.active else "deactivated"),
                obj=sub,
                before={"active": before["active"]},
                after={"active": sub.active},
            )
    return sub


def webhook_subscription_deactivate(
    *, subscription: WebhookSubscription, actor: Actor | None
) -> WebhookSubscription:
    return webhook_subscription_update(subscription=subscription, active=False, actor=actor)


def webhook_subscription_reactivate(
    *, subscription: WebhookSubscription, actor: Actor | None
) -> WebhookSubscription:
    return webhook_subscription_update(subscription=subscription, active=True, actor=actor)


def webhook_subscription_delete(*, subscription: WebhookSubscription, actor: Actor | None) -> None:
    """Delete a subscription with its secrets, deliveries and attempts.

    Guarantees: only who manages the organisation's webhooks (or the system); the
    ``webhook_subscription.deleted`` audit event (with what the subscription was) commits
    with the deletion; deleting one already gone changes nothing.
    """
    _permitted(actor, subscription.organisation_id)
    with transaction.atomic():
        sub = WebhookSubscription.objects.select_for_update().filter(pk=subscription.pk).first()
        if sub is None:
            return
        audit_record(
            actor=actor,
            action="webhook_subscription.deleted",
            obj=sub,
            before=_audited(sub),
            after={"url": sub.url},
        )
        WebhookSubscription.objects.filter(pk=sub.pk).delete()


def webhook_secret_rotate(
    *,
    subscription: WebhookSubscription,
    revoke_now: bool = False,
    overlap: timedelta | None = None,
    actor: Actor | None,
) -> str:
    """Add a new secret (returned once). The current ones expire after ``overlap``
    (``WEBHOOKS_SECRET_OVERLAP``, 24 h) or, with ``revoke_now``, are revoked at once.

    Guarantees: only who manages the organisation's webhooks (or the system); the
    subscription is locked while its secrets change; the new secret and the
    ``webhook_subscription.secret_rotated`` audit event (with when the old ones stop
    signing, never a secret) commit together.
    """
    _permitted(actor, subscription.organisation_id)
    with transaction.atomic():
        WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        now = timezone.now()
        current = WebhookSecret.objects.filter(
            subscription=subscription, revoked_at__isnull=True
        ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        if revoke_now:
            current.update(revoked_at=now)
            old_until = now
        else:
            old_until = now + (overlap or _setting("WEBHOOKS_SECRET_OVERLAP", timedelta(hours=24)))
            current.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=old_until)).update(
                expires_at=old_until
            )
        secret = WebhookSecret.objects.create(subscription=subscription, secret=_new_secret())
        audit_record(
            actor=actor,
            action="webhook_subscription.secret_rotated",
            obj=subscription,
            after={"revoke_now": revoke_now, "old_secrets_until": old_until},
        )
    return secret.secret


def active_secrets(subscription_id: int, *, at: datetime) -> list[str]:
    return list(
        WebhookSecret.objects.filter(subscription_id=subscription_id, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .order_by("id")
        .values_list("secret", flat=True)
    )


# --- fan-out -------------------------------------------------------------------------


PING = "webhook.ping"


def _matches(subscription: WebhookSubscription, event: OutboxEvent) -> bool:
    if event.kind == PING:  # for the one subscription pinged
        return event.payload.get("subscription_id") == subscription.pk
    return (
        subscription.organisation_id in event.organisation_ids
        and (not subscription.event_types or event.kind in subscription.event_types)
        and event.created_at >= subscription.created_at
    )


def webhooks_fan_out_batch(events: list[OutboxEvent], *, now: datetime) -> list[int]:
    """Create the missing deliveries for ``events``: one query for the subscriptions, one
    ``INSERT … ON CONFLICT DO NOTHING``. Returns the ids of the deliveries inserted."""
    org_ids = {org for event in events for org in event.organisation_ids}
    if not org_ids:
        return []
    subscriptions = list(
        WebhookSubscription.objects.filter(active=True, organisation_id__in=org_ids).only(
            "id", "organisation_id", "event_types", "created_at"
        )
    )
    rows = [
        WebhookDelivery(
            event=event, subscription=sub, next_attempt_at=now, created_at=now, updated_at=now
        )
        for event in events
        for sub in subscriptions
        if _matches(sub, event)
    ]
    if not rows:
        return []
    created = WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    # With ignore_conflicts PostgreSQL returns no ids; the caller enqueues by query.
    del created
    return []


def webhooks_fan_out(
    *,
    now: datetime | None = None,
    event_ids: Iterable[int] | None = None,
    batch_size: int | None = None,
) -> int:
    """Fan the recent outbox events out to the subscriptions that may see them. Returns
    how many events were examined. Idempotent and safe to run concurrently."""
    now = now or timezone.now()
    size = batch_size or _setting("WEBHOOKS_FANOUT_BATCH", 500)
    window = _setting("WEBHOOKS_FANOUT_WINDOW", timedelta(hours=48))
    events = OutboxEvent.objects.exclude(organisation_ids=[]).order_by("id")
    if event_ids is not None:
        events = events.filter(id__in=list(event_ids))
    else:
        events = events.filter(created_at__gte=now - window)
    last_id = 0
    seen = 0
    while True:
        batch = list(events.filter(id__gt=last_id)[:size])
        if not batch:
            return seen
        webhooks_fan_out_batch(batch, now=now)
        seen += len(batch)
        last_id = batch[-1].pk
        if len(batch) < size:
            return seen


# --- delivery ------------------------------------------------------------------------


def retry_delay(attempts: int) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempts)]."""
    base = _setting("WEBHOOKS_RETRY_BASE_SECONDS", 30)
    cap = _setting("WEBHOOKS_RETRY_CAP_SECONDS", 4 * 3600)
    return random.uniform(0, min(cap, base * 2**attempts))  # noqa: S311 - jitter, not a secret


@dataclass(frozen=True)
class AttemptResult:
    delivery: WebhookDelivery
    retry_in: float | None  # seconds, when another attempt is scheduled


def _post(url: str, body: str, headers: dict[str, str]) -> tuple[int | None, str, str]:
    try:
        webhook_url_check(url)
    except WebhookUrlRefused as error:
        return None, "", f"refused: {error}"
    try:
        with httpx.Client(
            timeout=_setting("WEBHOOKS_TIMEOUT_SECONDS", 10.0), follow_redirects=False
        ) as client:
            response = client.post(url, content=body.encode(), headers=headers)
        return response.status_code, response.text[:RESPONSE_BODY_MAX_CHARS], ""
    except httpx.HTTPError as error:
        return None, "", f"{type(error).__name__}: {error}"[:500]


def webhook_delivery_attempt(
    *, delivery_id: int, now: datetime | None = None
) -> AttemptResult | None:
    """Make one attempt of a pending delivery that is due. The row is locked with
    ``SKIP LOCKED`` (a second worker on the same delivery does nothing) for the request
    (at most the timeout). Records a ``WebhookAttempt``; 2xx succeeds, 410 fails the
    delivery and disables the subscription, anything else is retried with backoff until
    the retry window (24 h and at least ``WEBHOOKS_MIN_ATTEMPTS``) is over."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "subscription")
            .filter(pk=delivery_id, state=DeliveryState.PENDING)
            .first()
        )
        if delivery is None:
            return None
        now = now or timezone.now()
        # A second's grace: a countdown's message may arrive a little early.
        if delivery.next_attempt_at and delivery.next_attempt_at > now + EARLY_GRACE:
            return None
        sub = delivery.subscription
        if not sub.active:
            return _finish(delivery, DeliveryState.FAILED, None, now)
        event = delivery.event
        body = json.dumps(event.envelope())
        timestamp = datetime.fromtimestamp(int(now.timestamp()), tz=now.tzinfo)
        signatures = [
            Webhook(secret).sign(event.event_id, timestamp, body)
            for secret in active_secrets(sub.pk, at=now)
        ]
        headers = {
            "webhook-id": event.event_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": " ".join(signatures),
            "content-type": "application/json",
            "user-agent": _setting("WEBHOOKS_USER_AGENT", "JK-Joint-RD-Fund-Webhooks/1"),
        }
        started = time.monotonic()
        status, text, error = _post(sub.url, body, headers)
        duration = int((time.monotonic() - started) * 1000)
        WebhookAttempt.objects.create(
            delivery=delivery,
            at=now,
            status_code=status,
            duration_ms=duration,
            error=error,
            response_body=text,
        )
        delivery.attempts += 1
        delivery.last_status = status
        if status is not None and 200 <= status < 300:
            if sub.failing_since is not None:
                WebhookSubscription.objects.filter(pk=sub.pk).update(failing_since=None)
            return _finish(delivery, DeliveryState.SUCCEEDED, None, now)
        if status == 410:
            _subscription_disable(sub, reason="gone (410)", now=now)
            return _finish(delivery, DeliveryState.FAILED, None, now)
        failing_since = sub.failing_since or now
        if sub.failing_since is None:
            WebhookSubscription.objects.filter(pk=sub.pk, failing_since__isnull=True).update(
                failing_since=now
            )
        if now - failing_since >= _setting("WEBHOOKS_DISABLE_AFTER", timedelta(hours=24)):
            _subscription_disable(sub, reason="failing for 24 hours", now=now)
            return _finish(delivery, DeliveryState.FAILED, None, now)
        window_over = now - delivery.created_at >= _setting(
            "WEBHOOKS_RETRY_WINDOW", timedelta(hours=24)
        )
        if window_over and delivery.attempts >= _setting("WEBHOOKS_MIN_ATTEMPTS", 8):
            return _finish(delivery, DeliveryState.FAILED, None, now)
        delay = retry_delay(delivery.attempts)
        return _finish(
            delivery, DeliveryState.PENDING, now + timedelta(seconds=delay), now, retry_in=delay
        )


def _finish(
    delivery: WebhookDelivery,
    state: str,
    next_attempt_at: datetime | None,
    now: datetime,
    *,
    retry_in: float | None = None,
) -> AttemptResult:
    if state != delivery.state:
        WebhookDelivery.workflow.move(delivery, state)
    delivery.next_attempt_at = next_attempt_at
    delivery.updated_at = now
    delivery.save(
        update_fields=["state", "next_attempt_at", "updated_at", "attempts", "last_status"]
    )
    return AttemptResult(delivery=delivery, retry_in=retry_in)


def _subscription_disable(sub: WebhookSubscription, *, reason: str, now: datetime) -> None:
    """Disable a subscription and tell its organisation's research office."""
    from fundapp.notifications.services import notify

    updated = WebhookSubscription.objects.filter(pk=sub.pk, active=True).update(
        active=False, disabled_reason=reason, updated_at=now
    )
    sub.active = False
    sub.disabled_reason = reason
    if not updated:
        return
    audit_record(
        actor=None,
        action="webhook_subscription.disabled",
        obj=sub,
        before={"active": True},
        after={"active": False, "reason": reason},
    )
    office = User.objects.filter(
        memberships__organisation_id=sub.organisation_id, memberships__research_office=True
    )
    notify(users=office, message="webhook.disabled", params={"url": sub.url})


@transaction.atomic
def webhook_delivery_redeliver(
    *, delivery: WebhookDelivery, actor: Actor | None, now: datetime | None = None
) -> WebhookDelivery:
    """Put a delivery back to pending, due now; its webhook-id stays the event's id. A
    delivery still pending is left as it is (its next attempt is already planned)."""
    now = now or timezone.now()
    row = WebhookDelivery.objects.select_for_update(of=("self",)).get(pk=delivery.pk)
    if row.state == DeliveryState.PENDING:
        return row
    WebhookDelivery.workflow.move(row, DeliveryState.PENDING, actor=actor)
    row.next_attempt_at = now
    row.created_at = now  # a new retry window
    row.updated_at = now
    row.save(update_fields=["state", "next_attempt_at", "created_at", "updated_at"])
    return row


def webhook_deliveries_due(*, now: datetime, limit: int = 1000) -> list[int]:
    """Ids of pending deliveries whose next attempt is past (for the reconciler)."""
    return list(
        WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


@transaction.atomic
def webhook_subscription_ping(
    *, subscription: WebhookSubscription, now: datetime | None = None
) -> WebhookDelivery:
    """Write a ``webhook.ping`` outbox event for this subscription only and its pending
    delivery (due now); the caller enqueues ``deliver_webhook`` after commit."""
    from fundapp.notifications.outbox import event_record

    now = now or timezone.now()
    event = event_record(
        kind=PING,
        obj=subscription,
        organisation_ids=[subscription.organisation_id],
        payload={"subscription_id": subscription.pk, "message": "ping"},
    )
    return WebhookDelivery.objects.create(
        event=event, subscription=subscription, next_attempt_at=now, created_at=now, updated_at=now
    )
