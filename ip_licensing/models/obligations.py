"""Licence obligations (diligence, §23): what a licensee promised to do by when, the
evidence it gives, and the two-person decisions that waive an obligation or answer its
breach (convert the licence to non-exclusive, suspend it or terminate it)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fundapp.kernel.approvals import (
    TwoPersonDecision,
    live_condition,
    two_person_constraints,
)
from fundapp.kernel.models import localized
from fundapp.workflow import APPLICANTS, OFFICERS, SYSTEM, Workflow, edges

from .licences import Licence

DEFAULT_CURE_DAYS = 60


class ObligationKind(models.TextChoices):
    DEVELOPMENT_MILESTONE = "development_milestone", _("Development milestone")
    FIRST_COMMERCIAL_SALE = "first_commercial_sale", _("First commercial sale")
    MINIMUM_SALES = "minimum_sales", _("Minimum sales")
    REPORT = "report", _("Report")
    OTHER = "other", _("Other")


class ObligationState(models.TextChoices):
    OPEN = "open", pgettext_lazy("obligation state", "Open")
    MET = "met", _("Met")
    OVERDUE = "overdue", _("Overdue (in cure period)")
    CURED = "cured", _("Cured")
    BREACHED = "breached", _("Breached")
    WAIVED = "waived", _("Waived")


# §23. The licensor's people (or a fund officer) accept the licensee's evidence: an open
# obligation is met, an overdue one cured. The daily job makes an open obligation overdue
# the day after its due date and an overdue one breached once the cure period is over.
# Two fund officers, one of each side, waive an open or overdue obligation.
OBLIGATION_WORKFLOW = Workflow(
    name="obligation",
    states=ObligationState,
    refusal=_("An obligation that is “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {ObligationState.OPEN: [ObligationState.MET]},
            by=APPLICANTS | OFFICERS,
        ),
        *edges(
            {ObligationState.OVERDUE: [ObligationState.CURED]},
            by=APPLICANTS | OFFICERS,
        ),
        *edges(
            {
                ObligationState.OPEN: [ObligationState.OVERDUE],
                ObligationState.OVERDUE: [ObligationState.BREACHED],
            },
            by={SYSTEM},
        ),
        *edges(
            {
                ObligationState.OPEN: [ObligationState.WAIVED],
                ObligationState.OVERDUE: [ObligationState.WAIVED],
            },
            by=OFFICERS,
            two_person=True,
        ),
    ],
)

# States in which an obligation still asks something of the licensee.
PENDING_STATES = (ObligationState.OPEN, ObligationState.OVERDUE)


class Obligation(models.Model):
    workflow: ClassVar[Workflow] = OBLIGATION_WORKFLOW

    licence = models.ForeignKey(
        Licence, on_delete=models.PROTECT, related_name="obligations", verbose_name=_("licence")
    )
    kind = models.CharField(_("kind"), max_length=24, choices=ObligationKind.choices)
    description_en = models.TextField(_("description (English)"), blank=True)
    description_ja = models.TextField(_("description (Japanese)"), blank=True)
    description_ko = models.TextField(_("description (Korean)"), blank=True)
    due_on = models.DateField(_("due date"))
    state = models.CharField(
        _("state"),
        max_length=12,
        choices=ObligationState.choices,
        default=ObligationState.OPEN,
    )
    evidence_note = models.TextField(_("evidence"), blank=True)
    evidence_submitted_at = models.DateTimeField(null=True, blank=True)
    evidence_submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    evidence_submitted_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set by the daily job: the first Asia/Tokyo day it was overdue, and the last day of
    # its cure period (``Fund.cure_days`` counted from the day it became overdue).
    overdue_on = models.DateField(_("overdue since"), null=True, blank=True)
    cure_ends_on = models.DateField(_("cure period ends"), null=True, blank=True)
    breached_on = models.DateField(_("breached on"), null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    accepted_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    waived_at = models.DateTimeField(null=True, blank=True)
    waiver_reason = models.TextField(_("reason for waiving"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("obligation")
        verbose_name_plural = _("obligations")
        indexes = [
            models.Index(fields=["licence", "due_on", "id"], name="obligation_licence_due_idx"),
            # The daily job and the officers' queue read the obligations still pending.
            models.Index(
                fields=["state", "due_on", "id"],
                condition=Q(state__in=["open", "overdue"]),
                name="obligation_pending_due_idx",
            ),
        ]
        triggers = [OBLIGATION_WORKFLOW.trigger("obligation_state_fsm")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ObligationKind.values), name="obligation_kind_valid"
            ),
            models.CheckConstraint(
                condition=~Q(description_en="") | ~Q(description_ja="") | ~Q(description_ko=""),
                name="obligation_has_description",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["overdue", "cured", "breached"])
                | Q(overdue_on__isnull=False, cure_ends_on__isnull=False),
                name="obligation_overdue_has_cure_period",
            ),
            models.CheckConstraint(
                condition=~Q(state="breached") | Q(breached_on__isnull=False),
                name="obligation_breached_has_day",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["met", "cured"]) | Q(accepted_at__isnull=False),
                name="obligation_met_is_accepted",
            ),
            models.CheckConstraint(
                condition=~Q(state="waived") | (Q(waived_at__isnull=False) & ~Q(waiver_reason="")),
                name="obligation_waived_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.licence_id}/{self.pk}"

    @property
    def description(self) -> str:
        return localized(self, "description")


class ObligationWaiver(TwoPersonDecision):
    """Two fund officers, one of each side, waive an open or overdue obligation (§23)."""

    audit_kind = "obligation_waiver"

    obligation = models.ForeignKey(Obligation, on_delete=models.PROTECT, related_name="waivers")
    reason = models.TextField(_("reason"))

    class Meta:
        constraints = [
            *two_person_constraints("obligation_waiver"),
            models.UniqueConstraint(
                fields=["obligation"],
                condition=live_condition(),
                name="obligation_waiver_one_live",
            ),
        ]


class BreachRemedy(models.TextChoices):
    CONVERT = "convert", _("Convert to non-exclusive")
    SUSPEND = "suspend", _("Suspend the licence")
    TERMINATE = "terminate", _("Terminate the licence")


class BreachDecision(TwoPersonDecision):
    """Two fund officers, one of each side, answer a breached obligation of an exclusive
    licence: convert the licence to non-exclusive, suspend it or terminate it (§23)."""

    audit_kind = "breach_decision"

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="breach_decisions")
    obligation = models.ForeignKey(
        Obligation, on_delete=models.PROTECT, related_name="breach_decisions"
    )
    remedy = models.CharField(_("remedy"), max_length=12, choices=BreachRemedy.choices)
    reason = models.TextField(_("reason"))

    class Meta:
        constraints = [
            *two_person_constraints("breach_decision"),
            models.CheckConstraint(
                condition=Q(remedy__in=BreachRemedy.values), name="breach_decision_remedy_valid"
            ),
            # One pending decision per licence; completed ones stay as its history.
            models.UniqueConstraint(
                fields=["licence"],
                condition=Q(state="pending"),
                name="breach_decision_one_pending",
            ),
        ]


__all__ = [
    "DEFAULT_CURE_DAYS",
    "OBLIGATION_WORKFLOW",
    "PENDING_STATES",
    "BreachDecision",
    "BreachRemedy",
    "Obligation",
    "ObligationKind",
    "ObligationState",
    "ObligationWaiver",
]
