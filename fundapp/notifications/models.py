"""In-app notifications and the state of their e-mail (§13).

A row belongs to one person. Its title and body are stored already translated into that
person's preferred language, so the list and the e-mail say the same thing.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    PROPOSAL_SUBMITTED = "proposal_submitted", _("Proposal submitted")
    ELIGIBILITY_DECIDED = "eligibility_decided", _("Eligibility decided")
    REVIEW_ASSIGNED = "review_assigned", _("Review assigned")
    AWARD_DECIDED = "award_decided", _("Award decided")
    GATE_EVALUATED = "gate_evaluated", _("Gate evaluated")
    DECISION_NEEDED = "decision_needed", _("Decision needed")
    TRANCHE_RELEASED = "tranche_released", _("Tranche released")
    PAYMENT_CONFIRMED = "payment_confirmed", _("Payment confirmed")
    LICENCE_PENDING = "licence_pending", _("Licence awaiting approval")
    LICENCE_APPROVED = "licence_approved", _("Licence approved")
    LICENCE_EXPIRING = "licence_expiring", _("Licence expiring")
    LICENCE_EXPIRED = "licence_expired", _("Licence expired")
    ROYALTY_POSTED = "royalty_posted", _("Royalty posted")


class EmailState(models.TextChoices):
    """Where a notification's e-mail stands; only the notification services set it."""

    NOT_REQUESTED = "not_requested", _("Not requested")
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    # No address, or the account was switched off before the e-mail went out.
    SKIPPED = "skipped", _("Skipped")
    # Still unsent when the retry window closed.
    FAILED = "failed", _("Failed")


# pending -> sent | skipped | failed; the others are final.
EMAIL_TRANSITIONS: dict[str, frozenset[str]] = {
    EmailState.NOT_REQUESTED: frozenset(),
    EmailState.PENDING: frozenset({EmailState.SENT, EmailState.SKIPPED, EmailState.FAILED}),
    EmailState.SENT: frozenset(),
    EmailState.SKIPPED: frozenset(),
    EmailState.FAILED: frozenset(),
}

TITLE_MAX_LENGTH = 300
URL_MAX_LENGTH = 500


class Notification(models.Model):
    Kind = NotificationKind

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(_("kind"), max_length=32, choices=NotificationKind.choices)
    title = models.CharField(_("title"), max_length=TITLE_MAX_LENGTH)
    body = models.TextField(_("message"), blank=True)
    url = models.CharField(_("link"), max_length=URL_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    email_state = models.CharField(
        _("e-mail"),
        max_length=16,
        choices=EmailState.choices,
        default=EmailState.NOT_REQUESTED,
    )
    emailed_at = models.DateTimeField(_("e-mailed"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            # The list (unread first, newest first) and the header's unread count.
            models.Index(fields=["user", "read_at", "-created_at"], name="notification_inbox"),
            # The reconciler looks for e-mails still pending.
            models.Index(
                fields=["created_at"],
                name="notification_email_pending",
                condition=models.Q(email_state="pending"),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_unread(self) -> bool:
        return self.read_at is None


class OutboxEvent(models.Model):
    """A domain event for partner systems, written in the same transaction as the change
    that causes it (the outbox of §13). Webhook delivery reads these rows; an event whose
    change rolled back was never written."""

    kind = models.CharField(_("event"), max_length=64, db_index=True)
    organisation_ids = ArrayField(
        models.BigIntegerField(), default=list, help_text=_("Organisations the event concerns.")
    )
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        indexes = [GinIndex(fields=["organisation_ids"], name="outbox_orgs_gin")]
        triggers = [
            pgtrigger.Protect(
                name="outbox_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]
