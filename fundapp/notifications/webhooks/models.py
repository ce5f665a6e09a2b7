"""Webhook subscriptions of partner organisations and the delivery of outbox events to
them (§13.2, §13.3).

A subscription belongs to one organisation and receives the outbox events whose
``organisation_ids`` contain it. Each (event, subscription) pair has exactly one
``WebhookDelivery`` (a unique constraint: the fan-out may run twice at once), and every
HTTP request made for it is a ``WebhookAttempt``.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.workflow import OFFICERS, PARTNER, RESEARCHER, SYSTEM, Workflow, edges

URL_MAX_LENGTH = 500
RESPONSE_BODY_MAX_CHARS = 1024


class WebhookSubscription(models.Model):
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    url = models.URLField(_("URL"), max_length=URL_MAX_LENGTH)
    # Empty: every event type the organisation may see.
    event_types = ArrayField(
        models.CharField(max_length=64), default=list, blank=True, verbose_name=_("event types")
    )
    active = models.BooleanField(_("active"), default=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    disabled_reason = models.CharField(_("reason disabled"), max_length=200, blank=True)
    # Start of the current run of failed attempts; cleared by a success.
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        indexes = [
            models.Index(
                fields=["organisation"],
                name="webhook_sub_active_org",
                condition=models.Q(active=True),
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(url__startswith="https://")
                | models.Q(url__startswith="http://"),
                name="webhook_sub_url_http",
            ),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookSecret(models.Model):
    """A signing secret (``whsec_`` + base64). Stored, since signing needs it; shown once.

    Every secret neither revoked nor expired signs each delivery, so during a rotation the
    receiver may verify with the old or the new one.
    """

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="secrets"
    )
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(secret__startswith="whsec_"), name="webhook_secret_prefix"
            ),
        ]

    def __str__(self) -> str:
        return f"secret {self.pk} of {self.subscription_id}"

    def is_active(self, at: datetime | None = None) -> bool:
        now = at or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


# The fund's delivery task retries a pending delivery (pending → pending, no change of
# state) until it succeeds or gives up; whoever manages the subscription (its research
# office, a key with webhooks:manage, a fund officer) may put a finished delivery back to
# pending for redelivery (§13.3).
DELIVERY_WORKFLOW = Workflow(
    name="webhook delivery",
    states=DeliveryState,
    refusal=_("A webhook delivery in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {DeliveryState.PENDING: [DeliveryState.SUCCEEDED, DeliveryState.FAILED]},
            by={SYSTEM},
        ),
        *edges(
            {
                DeliveryState.SUCCEEDED: [DeliveryState.PENDING],
                DeliveryState.FAILED: [DeliveryState.PENDING],
            },
            by={RESEARCHER, PARTNER, *OFFICERS},
        ),
    ],
)


class WebhookDelivery(models.Model):
    workflow: ClassVar[Workflow] = DELIVERY_WORKFLOW

    event = models.ForeignKey(
        "notifications.OutboxEvent", on_delete=models.PROTECT, related_name="deliveries"
    )
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    state = models.CharField(
        _("state"), max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(_("last status"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["event", "subscription"], name="webhook_delivery_once"),
            models.CheckConstraint(
                condition=models.Q(state__in=DeliveryState.values), name="webhook_delivery_state"
            ),
            # A pending delivery always has a time for its next attempt; a final one none.
            models.CheckConstraint(
                condition=models.Q(state="pending", next_attempt_at__isnull=False)
                | models.Q(~models.Q(state="pending"), next_attempt_at__isnull=True),
                name="webhook_delivery_next_attempt",
            ),
        ]
        indexes = [
            # The reconciler's "due" query.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(state="pending"),
            ),
            models.Index(fields=["subscription", "-id"], name="webhook_delivery_by_sub"),
        ]
        triggers = [DELIVERY_WORKFLOW.trigger("webhook_delivery_state_fsm")]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.state})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField(default=timezone.now)
    # None: no HTTP answer (refused, timed out, blocked by the address guard).
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    response_body = models.CharField(max_length=RESPONSE_BODY_MAX_CHARS, blank=True)

    class Meta:
        ordering = ["delivery", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status_code__isnull=True)
                | models.Q(status_code__gte=100, status_code__lte=599),
                name="webhook_attempt_status",
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.pk} of {self.delivery_id}"
