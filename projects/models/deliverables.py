"""Deliverables of a stage (§24): planned in the proposal's stage plan, frozen at award,
submitted by the consortium, accepted or sent back by a fund officer.

The stage plan has months, not dates, so a planned deliverable is due ``due_month`` months
into its stage (at most the stage's months: by its gate). At award it becomes a
``Deliverable`` row of the project's stage with its due date computed from the stage's
schedule. A mandatory deliverable that is not accepted holds its stage's gate: no release
(``projects.services.decisions``), like the final gate's results list (§7).

The daily job reminds the project's PIs of a deliverable not yet submitted 7 and 1 days
before its due date and once it is overdue, each once per due date (``DeliverableReminder``).

A submission's files are facts like a measurement's evidence: stored once outside the web
root with their SHA-256, never changed or deleted (the database refuses both); a
resubmission adds files, it replaces none.
"""

from __future__ import annotations

from typing import ClassVar

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.kernel.models import localized
from fundapp.workflow import APPLICANTS, OFFICERS, Workflow, edges

from .projects import Project, Stage
from .proposals import Proposal, ProposalStage
from .reports import ReminderKind


class DeliverableKind(models.TextChoices):
    REPORT = "report", _("Report")
    DATASET = "dataset", _("Dataset")
    SOFTWARE = "software", _("Software")
    PROTOTYPE = "prototype", _("Prototype")
    PUBLICATION = "publication", _("Publication")
    OTHER = "other", _("Other")


class DeliverableState(models.TextChoices):
    PENDING = "pending", _("Not submitted")
    SUBMITTED = "submitted", _("Awaiting acceptance")
    ACCEPTED = "accepted", _("Accepted")
    CHANGES_REQUESTED = "changes_requested", _("Changes requested")


# §24: the consortium (its researchers, its systems with kpi:write) submits and, after a
# request for changes, submits again; a fund officer accepts or requests changes with a
# reason. An accepted deliverable is final.
DELIVERABLE_WORKFLOW = Workflow(
    name="deliverable",
    states=DeliverableState,
    refusal=_("A deliverable in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {
                DeliverableState.PENDING: [DeliverableState.SUBMITTED],
                DeliverableState.CHANGES_REQUESTED: [DeliverableState.SUBMITTED],
            },
            by=APPLICANTS,
        ),
        *edges(
            {
                DeliverableState.SUBMITTED: [
                    DeliverableState.ACCEPTED,
                    DeliverableState.CHANGES_REQUESTED,
                ]
            },
            by=OFFICERS,
        ),
    ],
)


class ProposalDeliverable(models.Model):
    """A deliverable in the proposal's stage plan (§24)."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="deliverables")
    stage = models.ForeignKey(ProposalStage, on_delete=models.CASCADE, related_name="deliverables")
    title_en = models.CharField(_("title (English)"), max_length=300, blank=True)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300, blank=True)
    title_ko = models.CharField(_("title (Korean)"), max_length=300, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=DeliverableKind.choices)
    due_month = models.PositiveSmallIntegerField(_("due in month"))
    mandatory = models.BooleanField(_("mandatory"), default=True)

    class Meta:
        ordering = ["stage__number", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(title_en="", title_ja="", title_ko=""),
                name="proposal_deliverable_titled",
            ),
            models.CheckConstraint(
                condition=Q(due_month__gte=1), name="proposal_deliverable_due_month"
            ),
        ]

    @property
    def title(self) -> str:
        return localized(self, "title")


class Deliverable(models.Model):
    """A stage's deliverable, frozen at award (§24)."""

    workflow: ClassVar[Workflow] = DELIVERABLE_WORKFLOW

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deliverables")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="deliverables")
    title_en = models.CharField(_("title (English)"), max_length=300, blank=True)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300, blank=True)
    title_ko = models.CharField(_("title (Korean)"), max_length=300, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=DeliverableKind.choices)
    due_month = models.PositiveSmallIntegerField(_("due in month"))
    due_on = models.DateField(_("due date"))
    mandatory = models.BooleanField(_("mandatory"), default=True)
    state = models.CharField(
        _("state"),
        max_length=20,
        choices=DeliverableState.choices,
        default=DeliverableState.PENDING,
    )
    # The latest submission (each one is also in the audit trail with its files' hashes).
    submissions = models.PositiveSmallIntegerField(default=0)
    note = models.TextField(_("note"), blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The officer's answer to the latest submission.
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        ordering = ["stage__number", "due_on", "id"]
        indexes = [
            # The officers' queue: submitted deliverables, oldest submission first.
            models.Index(
                fields=["state", "submitted_at", "id"], name="deliverable_state_queue_idx"
            ),
            models.Index(fields=["stage", "mandatory", "state"], name="deliverable_stage_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(title_en="", title_ja="", title_ko=""), name="deliverable_titled"
            ),
            models.CheckConstraint(
                condition=Q(state="pending") | Q(submitted_at__isnull=False, submissions__gte=1),
                name="deliverable_submitted_has_submission",
            ),
            models.CheckConstraint(
                condition=~Q(state="changes_requested") | ~Q(reason=""),
                name="deliverable_changes_have_reason",
            ),
        ]
        triggers = [DELIVERABLE_WORKFLOW.trigger("deliverable_state_fsm")]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return localized(self, "title")


class DeliverableFile(models.Model):
    """One file of a deliverable's submission: immutable, with its SHA-256 (§24)."""

    deliverable = models.ForeignKey(Deliverable, on_delete=models.PROTECT, related_name="files")
    submission = models.PositiveSmallIntegerField()
    name = models.CharField(_("file name"), max_length=255)
    storage = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["deliverable_id", "-submission", "id"]
        triggers = [
            pgtrigger.Protect(name="deliverable_file_no_delete", operation=pgtrigger.Delete),
            pgtrigger.Protect(name="deliverable_file_immutable", operation=pgtrigger.Update),
        ]

    def __str__(self) -> str:
        return f"{self.deliverable_id}: {self.name}"


class DeliverableReminder(models.Model):
    """One reminder sent about a deliverable (§24): the record that makes it once. Kinds
    are the stage reports' (7 and 1 days before the due date, overdue)."""

    deliverable = models.ForeignKey(Deliverable, on_delete=models.PROTECT, related_name="reminders")
    # The due date it was about: a stage that moves re-dates its deliverables, and the
    # new date is reminded of again.
    due_on = models.DateField()
    kind = models.CharField(max_length=8, choices=ReminderKind.choices)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deliverable", "due_on", "kind"], name="deliverable_reminder_once"
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="deliverable_reminder_immutable",
                operation=pgtrigger.Update | pgtrigger.Delete,
            )
        ]


__all__ = [
    "DELIVERABLE_WORKFLOW",
    "Deliverable",
    "DeliverableFile",
    "DeliverableReminder",
    "DeliverableKind",
    "DeliverableState",
    "ProposalDeliverable",
]
