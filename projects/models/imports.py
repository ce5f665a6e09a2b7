"""A CSV import of KPI measurements running in Celery, with its progress (§7, §15)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.workflow import SYSTEM, Workflow, edges

from .projects import Project


class ImportState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


# RUNNING → RUNNING: a worker that died mid-import left nothing behind (the rows are written
# in one transaction at the end), so a redelivered message starts the checks again.
IMPORT_WORKFLOW = Workflow(
    name="measurement import",
    states=ImportState,
    refusal=_("An import in state “%(state)s” cannot become “%(target)s”."),
    edges=edges(
        {
            ImportState.QUEUED: [ImportState.RUNNING, ImportState.FAILED],
            ImportState.RUNNING: [ImportState.RUNNING, ImportState.SUCCEEDED, ImportState.FAILED],
        },
        by={SYSTEM},
    ),
)


class ImportJob(models.Model):
    """One uploaded measurements CSV: all its rows are imported, or none (§7).

    ``errors`` lists every refused row as ``{"row": n, "field": "...", "message": "..."}``,
    ``row`` being the line of the file (the header is line 1). Messages are translated into
    ``language``, the uploader's language at the time of the upload.
    """

    workflow: ClassVar[Workflow] = IMPORT_WORKFLOW

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="import_jobs")
    state = models.CharField(
        _("state"), max_length=12, choices=ImportState.choices, default=ImportState.QUEUED
    )
    original_name = models.CharField(_("file name"), max_length=255)
    storage_name = models.CharField(max_length=255)
    # The zip of evidence files uploaded with the CSV (§22), stored beside it; "" without one.
    evidence_archive_name = models.CharField(max_length=255, blank=True)
    evidence_archive_storage = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    language = models.CharField(max_length=8, default="en")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("measurement import")
        verbose_name_plural = _("measurement imports")
        indexes = [models.Index(fields=["project", "-created_at"], name="import_job_project_idx")]
        triggers = [IMPORT_WORKFLOW.trigger("import_job_state_fsm")]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress_done__lte=models.F("progress_total")),
                name="import_job_progress_within_total",
            ),
            models.CheckConstraint(
                condition=Q(created_by__isnull=False) | Q(created_by_api_key__isnull=False),
                name="import_job_has_creator",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.get_state_display()})"

    @property
    def finished(self) -> bool:
        return self.state in (ImportState.SUCCEEDED, ImportState.FAILED)

    @property
    def percent(self) -> int:
        if self.state == ImportState.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(100, self.progress_done * 100 // self.progress_total)


__all__ = ["IMPORT_WORKFLOW", "ImportJob", "ImportState"]
