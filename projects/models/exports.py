"""A transactions CSV export running in Celery, with its progress, for one finance reader
(§9, §15)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.workflow import SYSTEM, Workflow, edges


class ExportState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


# RUNNING → RUNNING: a worker that died mid-export left a partial file nobody may download,
# so a redelivered message writes the file again from the start. QUEUED → FAILED and
# RUNNING → FAILED are also the tidying job's, for exports stuck too long.
EXPORT_WORKFLOW = Workflow(
    name="transaction export",
    states=ExportState,
    refusal=_("An export in state “%(state)s” cannot become “%(target)s”."),
    edges=edges(
        {
            ExportState.QUEUED: [ExportState.RUNNING, ExportState.FAILED],
            ExportState.RUNNING: [ExportState.RUNNING, ExportState.COMPLETED, ExportState.FAILED],
            ExportState.COMPLETED: [ExportState.EXPIRED],
        },
        by={SYSTEM},
    ),
)


class TransactionExport(models.Model):
    """One requested CSV of the ledger's transactions (one row per entry), written in the
    requester's language at the time of the request and downloadable by the requester
    alone until ``expires_at``.

    ``filters`` holds the transactions page's filter (``kind``, ``currency``, ``date_from``,
    ``date_to``; dates as ISO days); the currencies are those the requester may see when
    the export runs. ``progress_total`` is the number of entries to write, fixed when the
    export starts; ``progress_done`` the number written so far.
    """

    workflow: ClassVar[Workflow] = EXPORT_WORKFLOW

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    filters = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=8, default="en")
    state = models.CharField(
        _("state"), max_length=12, choices=ExportState.choices, default=ExportState.QUEUED
    )
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    storage_name = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("transaction export")
        verbose_name_plural = _("transaction exports")
        indexes = [
            models.Index(fields=["requested_by", "-created_at"], name="txn_export_requester_idx"),
            models.Index(fields=["state", "expires_at"], name="txn_export_state_idx"),
        ]
        triggers = [EXPORT_WORKFLOW.trigger("transaction_export_state_fsm")]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress_done__lte=models.F("progress_total")),
                name="txn_export_progress_within_total",
            ),
            models.CheckConstraint(
                condition=~Q(state=ExportState.COMPLETED)
                | (~Q(storage_name="") & Q(expires_at__isnull=False)),
                name="txn_export_completed_has_file",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} ({self.get_state_display()})"

    @property
    def finished(self) -> bool:
        return self.state in (ExportState.COMPLETED, ExportState.FAILED, ExportState.EXPIRED)

    @property
    def percent(self) -> int:
        if self.state in (ExportState.COMPLETED, ExportState.EXPIRED):
            return 100
        if not self.progress_total:
            return 0
        return min(100, self.progress_done * 100 // self.progress_total)


__all__ = ["EXPORT_WORKFLOW", "ExportState", "TransactionExport"]
