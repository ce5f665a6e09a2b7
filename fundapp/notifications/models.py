"""In-app notifications and the state of their e-mail (§13).

A row belongs to one person. It stores a registered message and its parameters
(``fundapp.notifications.messages``), not rendered text: the list, the e-mail and anything
else that shows it renders it when it is read, in the reader's language, with names in
that language. Rows written before messages existed keep the title and body they were
stored with (rendered then, in the recipient's language of the time) and show those.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.kernel.events import API_VERSION
from fundapp.workflow import SYSTEM, Workflow, edges


class NotificationKind(models.TextChoices):
    PROPOSAL_SUBMITTED = "proposal_submitted", _("Proposal submitted")
    PROPOSAL_RETURNED = "proposal_returned", _("Proposal returned to the PI")
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
    ROYALTY_OVERDUE = "royalty_overdue", _("Royalty report overdue")
    ROYALTY_FLAGGED = "royalty_flagged", _("Royalty report flagged")
    ROYALTY_AUDIT_CLOSED = "royalty_audit_closed", _("Royalty audit closed")
    WEBHOOK_DISABLED = "webhook_disabled", _("Webhook disabled")
    VERIFIER_DESIGNATED = "verifier_designated", _("Designated as a verifier")
    MEASUREMENT_DISPUTED = "measurement_disputed", _("Measurement disputed")
    LICENCE_OBLIGATION = "licence_obligation", _("Licence obligation")
    DELIVERABLE_DECIDED = "deliverable_decided", _("Deliverable accepted or sent back")
    DELIVERABLE_DUE = "deliverable_due", _("Deliverable due")
    REPORT_DUE = "report_due", _("Stage report due")
    REPORT_REVIEWED = "report_reviewed", _("Stage report reviewed")
    AMENDMENT = "amendment", _("Plan amendment")
    # The talent exchange's visits (§25).
    VISIT_ARRIVAL_CONFIRMED = "visit_arrival_confirmed", _("Visit arrival confirmed")
    VISIT_STIPEND_RELEASED = "visit_stipend_released", _("Visit stipend released")


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
# Only the fund's own jobs move an e-mail: pending until it is sent, skipped or given up.
EMAIL_WORKFLOW = Workflow(
    name="notification e-mail",
    states=EmailState,
    field="email_state",
    initial=[EmailState.PENDING],
    refusal=_("An e-mail in state “%(state)s” cannot become “%(target)s”."),
    edges=edges(
        {EmailState.PENDING: [EmailState.SENT, EmailState.SKIPPED, EmailState.FAILED]},
        by={SYSTEM},
    ),
)

TITLE_MAX_LENGTH = 300
URL_MAX_LENGTH = 500


class Notification(models.Model):
    Kind = NotificationKind
    workflow: ClassVar[Workflow] = EMAIL_WORKFLOW

    # Indexed by ``notification_inbox``, which starts with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=32, choices=NotificationKind.choices)
    # The registered message (``messages.notification_message``) and its parameters; empty
    # on rows written before messages existed, which show their stored title and body.
    message = models.CharField(_("message"), max_length=64, blank=True, default="", db_default="")
    params = models.JSONField(
        _("parameters"),
        blank=True,
        default=dict,
        db_default=models.Value({}, output_field=models.JSONField()),
    )
    title = models.CharField(_("title"), max_length=TITLE_MAX_LENGTH, blank=True)
    body = models.TextField(_("text"), blank=True)
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
        triggers = [EMAIL_WORKFLOW.trigger("notification_email_state_fsm")]

    # (title, body) in the reader's language, set by ``messages.notifications_render``.
    shown: tuple[str, str] | None = None

    def __str__(self) -> str:
        return self.title or self.message

    def _shown(self) -> tuple[str, str]:
        if self.shown is None:
            from .messages import notifications_render

            # A row shown on its own; pages render theirs together (one query per kind).
            notifications_render([self])
        assert self.shown is not None
        return self.shown

    @property
    def shown_title(self) -> str:
        """The title in the active language."""
        return self._shown()[0]

    @property
    def shown_body(self) -> str:
        """The body in the active language."""
        return self._shown()[1]

    @property
    def body_is_typed(self) -> bool:
        """Whether the body is what someone typed, shown as written (``Message.body_is_typed``)."""
        from .messages import notification_message

        if not self.message:
            return False
        try:
            return notification_message(self.message).body_is_typed
        except ValueError:
            return False

    @property
    def is_unread(self) -> bool:
        return self.read_at is None


class OutboxEvent(models.Model):
    """A domain event for partner systems, written in the same transaction as the change
    that causes it (the outbox of §13). Webhook delivery reads these rows; an event whose
    change rolled back was never written.

    ``kind`` is a registered outbox event type (``fundapp.kernel.events``) and ``payload``
    its ``data`` (the resource under its API field names, §21). ``envelope()`` is what a
    partner receives (§13.2): ``{"id": "evt_…", "type", "created_at", "api_version",
    "data": {…, "resource_version"}}``.

    ``resource_version`` is the row's own id. Ids are drawn from the table's sequence when
    the row is inserted, and every writer inserts its event after it has locked the
    resource it changes (the transition services lock first), so of two changes to one
    resource the later one always draws the larger number: it grows with every change of
    that resource (with gaps), at no cost — no counter column on every resource, no extra
    query, nothing to keep in step across the batch and one-statement paths. Receivers
    keep the highest version they have applied and drop an older delivery.
    """

    # Indexed in ``Meta.indexes``: compared whole, never by pattern (no ``LIKE`` index).
    kind = models.CharField(_("event"), max_length=64)
    # The event's public id (``evt_`` + hex): the ``webhook-id`` of every delivery of it.
    # Drawn by the database, so the bulk and one-statement writers need not send it.
    uuid = models.UUIDField(
        db_default=models.Func(function="gen_random_uuid", output_field=models.UUIDField()),
        unique=True,
        editable=False,
    )
    api_version = models.CharField(max_length=8, db_default=API_VERSION, editable=False)
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
        indexes = [
            GinIndex(fields=["organisation_ids"], name="outbox_orgs_gin"),
            models.Index(fields=["kind"], name="outbox_kind_idx"),
        ]
        triggers = [
            pgtrigger.Protect(
                name="outbox_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_type}:{self.object_id}"

    @property
    def event_id(self) -> str:
        return f"evt_{self.uuid.hex}"

    @property
    def resource_version(self) -> int:
        assert self.pk is not None
        return int(self.pk)

    def envelope(self) -> dict[str, Any]:
        """The event as a partner receives it (§13.2)."""
        return {
            "id": self.event_id,
            "type": self.kind,
            "created_at": self.created_at.isoformat(),
            "api_version": self.api_version,
            "data": {**self.payload, "resource_version": self.resource_version},
        }


from fundapp.notifications.webhooks.models import (  # noqa: E402  (registered with this app)
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSecret,
    WebhookSubscription,
)

__all__ = [
    "DeliveryState",
    "EmailState",
    "Notification",
    "NotificationKind",
    "OutboxEvent",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSecret",
    "WebhookSubscription",
]
