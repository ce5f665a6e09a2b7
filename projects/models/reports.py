"""Stage reports (§24): before each gate the consortium files a narrative and a financial
statement per organisation and budget category; an officer accepts it or returns it.

A report belongs to one stage (one report per stage, whatever the gate's rounds). Its
statement lines hold only what the consortium enters: the amount **spent**, cumulative
since the project started, in whole yen or won of the organisation's side. The budget
(the award's budget lines) and the released money (the organisation's disbursements of the
tranches of this and earlier stages) are read beside them by
``projects.selectors.reports``, so they can never disagree with the proposal or the ledger.

The report is due 14 days before its gate day (``REPORT_DUE_DAYS_BEFORE_GATE``). Each
reminder the daily job sends is a row of ``ReportReminder``, unique per stage, due date and
kind: a rerun, a redelivered task or a second worker sends nothing twice.
"""

from __future__ import annotations

from typing import ClassVar

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Organisation
from fundapp.fields import AmountField
from fundapp.kernel.models import localized
from fundapp.workflow import APPLICANTS, OFFICERS, RESEARCHER, Workflow, edges

from .projects import Project, Stage
from .proposals import BudgetCategory

REPORT_DUE_DAYS_BEFORE_GATE = 14


class ReportState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    ACCEPTED = "accepted", _("Accepted")
    RETURNED = "returned", _("Returned for changes")


# The PI submits (a draft, or a report returned for changes); a fund officer accepts it or
# returns it with a reason. Partner systems enter their organisation's spending lines but
# do not submit: the narrative and the submission are the PI's (§24).
REPORT_WORKFLOW = Workflow(
    name="stage report",
    states=ReportState,
    refusal=_("A stage report in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {
                ReportState.DRAFT: [ReportState.SUBMITTED],
                ReportState.RETURNED: [ReportState.SUBMITTED],
            },
            by={RESEARCHER},
        ),
        *edges({ReportState.SUBMITTED: [ReportState.ACCEPTED, ReportState.RETURNED]}, by=OFFICERS),
    ],
)

# Who may enter lines at all, by the table's names; the object-level rules (which
# organisation) are ``projects.permissions``.
LINE_WRITERS = APPLICANTS


class StageReport(models.Model):
    """The consortium's report on one stage, before its gate (§24)."""

    workflow: ClassVar[Workflow] = REPORT_WORKFLOW

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="stage_reports")
    stage = models.OneToOneField(Stage, on_delete=models.PROTECT, related_name="report")
    narrative_en = models.TextField(_("narrative (English)"), blank=True)
    narrative_ja = models.TextField(_("narrative (Japanese)"), blank=True)
    narrative_ko = models.TextField(_("narrative (Korean)"), blank=True)
    state = models.CharField(
        _("state"), max_length=12, choices=ReportState.choices, default=ReportState.DRAFT
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    return_reason = models.TextField(_("reason"), blank=True)
    # Raised by every change of the report or its lines (§13.2 ``resource_version``; a
    # stale save of the narrative answers 409).
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["project", "stage__number"]
        verbose_name = _("stage report")
        verbose_name_plural = _("stage reports")
        indexes = [models.Index(fields=["project", "state"], name="stage_report_project_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state="draft") | Q(submitted_at__isnull=False),
                name="stage_report_submitted_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="returned") | ~Q(return_reason=""),
                name="stage_report_returned_has_reason",
            ),
        ]
        triggers = [REPORT_WORKFLOW.trigger("stage_report_state_fsm")]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.stage_id}"

    @property
    def narrative(self) -> str:
        return localized(self, "narrative")

    @property
    def is_open(self) -> bool:
        """Whether the consortium may still change it (a draft, or returned for changes)."""
        return self.state in (ReportState.DRAFT, ReportState.RETURNED)


class StatementLine(models.Model):
    """What one organisation spent in one budget category, cumulative since the project
    started, in its side's currency (§24). Entered by the consortium; changed only while
    the report is open (the database refuses otherwise)."""

    report = models.ForeignKey(StageReport, on_delete=models.CASCADE, related_name="lines")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("organisation")
    )
    category = models.CharField(_("category"), max_length=16, choices=BudgetCategory.choices)
    currency = models.CharField(_("currency"), max_length=3)
    spent = AmountField(_("spent"))
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["report", "organisation_id", "category"]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "organisation", "category"], name="statement_line_unique"
            ),
            models.CheckConstraint(condition=Q(spent__gte=0), name="statement_line_spent_gte_0"),
            models.CheckConstraint(
                condition=Q(currency__in=["JPY", "KRW"]), name="statement_line_currency"
            ),
        ]
        triggers = [
            # A submitted or accepted report's statement is what the officers judged.
            pgtrigger.Trigger(
                name="statement_line_only_while_open",
                operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
                func="""
                    IF (SELECT state FROM projects_stagereport WHERE id = CASE
                          WHEN TG_OP = 'DELETE' THEN OLD.report_id ELSE NEW.report_id END)
                       NOT IN ('draft', 'returned') THEN
                        RAISE EXCEPTION 'statement line of a report that is not open'
                            USING ERRCODE = 'check_violation';
                    END IF;
                    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
                    RETURN NEW;
                """,
            ),
        ]


class ReminderKind(models.TextChoices):
    DAYS_30 = "30", _("30 days before the due date")
    DAYS_7 = "7", _("7 days before the due date")
    DAYS_1 = "1", _("1 day before the due date")
    OVERDUE = "overdue", _("Overdue")


class ReportReminder(models.Model):
    """One reminder sent about a stage's report (§24): the record that makes it once."""

    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="report_reminders")
    # The due date it was about: an extension moves the gate, and the new date is reminded
    # of again.
    due_on = models.DateField()
    kind = models.CharField(max_length=8, choices=ReminderKind.choices)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stage", "due_on", "kind"], name="report_reminder_once"
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="report_reminder_immutable", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]


__all__ = [
    "REPORT_DUE_DAYS_BEFORE_GATE",
    "REPORT_WORKFLOW",
    "ReminderKind",
    "ReportReminder",
    "ReportState",
    "StageReport",
    "StatementLine",
]
