"""Royalty integrity (§23): the quarters whose report is due or overdue, and royalty audits
whose finding posts a correcting ledger transaction."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fundapp.workflow import APPLICANTS, OFFICERS, SYSTEM, Workflow, edges

from .licences import Licence


class RoyaltyPeriodState(models.TextChoices):
    DUE = "due", pgettext_lazy("royalty period state", "Report due")
    OVERDUE = "overdue", _("Report overdue")
    REPORTED = "reported", _("Reported")


# The daily job opens a period 30 days after its quarter ends (``due``, first reminder) or,
# if it first sees it 45 days after, as ``overdue`` at once; a report of the quarter by the
# licensee (its people or its system) closes it.
ROYALTY_PERIOD_WORKFLOW = Workflow(
    name="royalty period",
    states=RoyaltyPeriodState,
    initial=[RoyaltyPeriodState.OVERDUE, RoyaltyPeriodState.REPORTED],
    refusal=_("A royalty period that is “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges({RoyaltyPeriodState.DUE: [RoyaltyPeriodState.OVERDUE]}, by={SYSTEM}),
        *edges(
            {
                RoyaltyPeriodState.DUE: [RoyaltyPeriodState.REPORTED],
                RoyaltyPeriodState.OVERDUE: [RoyaltyPeriodState.REPORTED],
            },
            by=APPLICANTS | OFFICERS | {SYSTEM},
        ),
    ],
)


class RoyaltyPeriod(models.Model):
    """One licence's quarter whose report the daily job is waiting for (§23): reminded 30
    days after the quarter ends, overdue 45 days after (``deadline_on``) until reported."""

    workflow: ClassVar[Workflow] = ROYALTY_PERIOD_WORKFLOW

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="royalty_periods")
    quarter = models.CharField(_("quarter"), max_length=7)
    deadline_on = models.DateField(_("report due by"))
    state = models.CharField(
        _("state"),
        max_length=12,
        choices=RoyaltyPeriodState.choices,
        default=RoyaltyPeriodState.DUE,
    )
    reminded_30_at = models.DateTimeField(null=True, blank=True)
    reminded_45_at = models.DateTimeField(null=True, blank=True)
    overdue_on = models.DateField(_("overdue since"), null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-deadline_on", "-id"]
        verbose_name = _("royalty period")
        verbose_name_plural = _("royalty periods")
        triggers = [ROYALTY_PERIOD_WORKFLOW.trigger("royalty_period_state_fsm")]
        constraints = [
            # The job's idempotency: one period per licence and quarter, whatever reruns.
            models.UniqueConstraint(fields=["licence", "quarter"], name="royalty_period_unique"),
        ]
        indexes = [
            models.Index(fields=["state", "deadline_on"], name="royalty_period_state_idx"),
            models.Index(fields=["deadline_on", "id"], name="royalty_period_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.licence_id} {self.quarter}"


class RoyaltyAuditState(models.TextChoices):
    OPEN = "open", pgettext_lazy("royalty audit state", "Open")
    CLOSED = "closed", _("Closed")


ROYALTY_AUDIT_WORKFLOW = Workflow(
    name="royalty audit",
    states=RoyaltyAuditState,
    refusal=_("A royalty audit that is “%(state)s” cannot become “%(target)s”."),
    edges=edges({RoyaltyAuditState.OPEN: [RoyaltyAuditState.CLOSED]}, by=OFFICERS),
)


class RoyaltyAudit(models.Model):
    """A fund officer's audit of one licence's royalties for one quarter (§23). Its finding
    (the amount under- or overpaid, with interest on an underpayment) posts a correcting
    ledger transaction ``royalty-audit:{id}`` when it is closed."""

    workflow: ClassVar[Workflow] = ROYALTY_AUDIT_WORKFLOW

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="royalty_audits")
    quarter = models.CharField(_("quarter"), max_length=7)
    state = models.CharField(
        _("state"), max_length=8, choices=RoyaltyAuditState.choices, default=RoyaltyAuditState.OPEN
    )
    scope = models.TextField(_("scope"), blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The finding, set when the audit closes: positive = underpaid, negative = overpaid.
    finding_amount = models.BigIntegerField(_("amount under- (+) or overpaid (−)"), null=True)
    finding_interest = models.BigIntegerField(_("interest"), null=True)
    finding_days = models.PositiveIntegerField(_("days of interest"), null=True)
    finding_note = models.TextField(_("finding"), blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    ledger_transaction = models.OneToOneField(
        "ledger.Transaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="royalty_audit",
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("royalty audit")
        verbose_name_plural = _("royalty audits")
        triggers = [ROYALTY_AUDIT_WORKFLOW.trigger("royalty_audit_state_fsm")]
        constraints = [
            models.UniqueConstraint(
                fields=["licence", "quarter"],
                condition=Q(state="open"),
                name="royalty_audit_one_open",
            ),
            models.CheckConstraint(
                condition=Q(state="open")
                | Q(finding_amount__isnull=False, finding_interest__gte=0, closed_at__isnull=False),
                name="royalty_audit_closed_has_finding",
            ),
        ]
        indexes = [models.Index(fields=["opened_at", "id"], name="royalty_audit_order_idx")]

    def __str__(self) -> str:
        return f"{self.licence_id} {self.quarter}"

    @property
    def correction_total(self) -> int:
        return (self.finding_amount or 0) + (self.finding_interest or 0)
