"""Visits (§25): created by the award of a visit application, paid by one side of the fund
(``mobility.rules.paying_side``) from the sum the award committed in the ledger."""

from __future__ import annotations

from typing import ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Currency, Organisation
from fundapp.fields import AmountField
from fundapp.workflow import APPLICANTS, OFFICERS, SYSTEM, Workflow, edges

from .applications import VisitApplication


class PayingSide(models.TextChoices):
    JP = "JP", _("Japan")
    KR = "KR", _("Korea")


class VisitState(models.TextChoices):
    AWARDED = "awarded", _("Awarded")
    ACTIVE = "active", _("Active")
    ENDED = "ended", _("Ended")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


# §25: the host organisation's office (or its system) confirms the arrival and the
# departure (an officer may stand in); the visitor's final report closes the visit; an
# officer cancels a visit before the arrival, which returns everything to the pool.
VISIT_WORKFLOW = Workflow(
    name="visit",
    states=VisitState,
    refusal=_("A visit in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {
                VisitState.AWARDED: [VisitState.ACTIVE],
                VisitState.ACTIVE: [VisitState.ENDED],
                VisitState.ENDED: [VisitState.CLOSED],
            },
            by=APPLICANTS | OFFICERS,
        ),
        *edges({VisitState.AWARDED: [VisitState.CANCELLED]}, by=OFFICERS | {SYSTEM}),
    ],
)


class Visit(models.Model):
    """One awarded visit; its amounts are frozen from the call's terms at the award."""

    workflow: ClassVar[Workflow] = VISIT_WORKFLOW

    application = models.OneToOneField(
        VisitApplication,
        on_delete=models.PROTECT,
        related_name="visit",
        verbose_name=_("visit application"),
    )
    paying_side = models.CharField(_("paying side"), max_length=2, choices=PayingSide.choices)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    payee = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("payee")
    )
    stipend_month_amount = AmountField(_("monthly stipend"))
    travel_amount = AmountField(_("travel lump sum"))
    months = models.PositiveSmallIntegerField(
        _("months"), validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    planned_start = models.DateField(_("planned start"))
    arrived_on = models.DateField(_("arrived on"), null=True, blank=True)
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    # The visitor's final report (§25), which closes the visit: a narrative in at least one
    # language.
    report_en = models.TextField(_("final report (English)"), blank=True)
    report_ja = models.TextField(_("final report (Japanese)"), blank=True)
    report_ko = models.TextField(_("final report (Korean)"), blank=True)
    report_submitted_at = models.DateTimeField(_("final report filed at"), null=True, blank=True)
    # An optional PDF filed with the report, kept outside the web root (PRIVATE_MEDIA_ROOT)
    # and served only through the permission-checked download.
    report_pdf_storage = models.CharField(max_length=200, blank=True)
    report_pdf_name = models.CharField(_("final report PDF"), max_length=200, blank=True)
    report_pdf_size = models.PositiveIntegerField(null=True, blank=True)
    report_pdf_sha256 = models.CharField(max_length=64, blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=VisitState.choices, default=VisitState.AWARDED
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        indexes = [models.Index(fields=["state"], name="visit_state_idx")]
        triggers = [VISIT_WORKFLOW.trigger("visit_state_fsm")]
        constraints = [
            models.CheckConstraint(
                condition=Q(paying_side=PayingSide.JP, currency=Currency.JPY)
                | Q(paying_side=PayingSide.KR, currency=Currency.KRW),
                name="visit_currency_of_side",
            ),
            models.CheckConstraint(
                condition=Q(months__gte=1, months__lte=12), name="visit_months_range"
            ),
            models.CheckConstraint(
                condition=Q(stipend_month_amount__gte=0, travel_amount__gte=0),
                name="visit_amounts_non_negative",
            ),
            # Arrival and departure are recorded with the moves that need them.
            models.CheckConstraint(
                condition=Q(state__in=[VisitState.AWARDED, VisitState.CANCELLED])
                | Q(arrived_on__isnull=False),
                name="visit_arrived_when_active",
            ),
            models.CheckConstraint(
                condition=Q(state__in=[VisitState.ENDED, VisitState.CLOSED])
                | Q(ended_on__isnull=True),
                name="visit_ended_only_when_ended",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=[VisitState.ENDED, VisitState.CLOSED])
                | Q(ended_on__isnull=False),
                name="visit_ended_on_when_ended",
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("arrived_on")),
                name="visit_ends_after_arrival",
            ),
            # A closed visit has its final report, with a narrative in one language at least.
            models.CheckConstraint(
                condition=~Q(state=VisitState.CLOSED)
                | (
                    Q(report_submitted_at__isnull=False)
                    & ~Q(report_en="", report_ja="", report_ko="")
                ),
                name="visit_closed_with_report",
            ),
        ]

    def __str__(self) -> str:
        return str(self.application)

    @property
    def committed_amount(self) -> int:
        """What the award commits: every month's stipend and the travel sum."""
        return self.months * self.stipend_month_amount + self.travel_amount


class PaymentKind(models.TextChoices):
    TRAVEL = "travel", _("Travel lump sum")
    STIPEND = "stipend", _("Monthly stipend")


class VisitPayment(models.Model):
    """One release of a visit's money; the unique key makes each exactly-once."""

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(_("kind"), max_length=8, choices=PaymentKind.choices)
    # 0 for the travel sum; 1..months for the stipend of that visit-month.
    month = models.PositiveSmallIntegerField(_("month"))
    amount = AmountField(_("amount"))
    transaction = models.OneToOneField(
        "ledger.Transaction",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ledger transaction"),
    )
    released_at = models.DateTimeField(_("released at"), default=timezone.now)

    class Meta:
        ordering = ["visit", "kind", "month"]
        verbose_name = _("visit payment")
        verbose_name_plural = _("visit payments")
        constraints = [
            models.UniqueConstraint(fields=["visit", "kind", "month"], name="visit_payment_once"),
            models.CheckConstraint(
                condition=Q(kind=PaymentKind.TRAVEL, month=0)
                | Q(kind=PaymentKind.STIPEND, month__gte=1, month__lte=12),
                name="visit_payment_month_of_kind",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="visit_payment_amount"),
        ]
