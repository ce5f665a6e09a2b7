"""Calls for proposals (§4); the fund and research areas they name live in the kernel."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fundapp.accounts.models import MultilingualName
from fundapp.fields import AmountField
from fundapp.kernel.models import Fund, ResearchArea, localized
from fundapp.workflow import OFFICERS, SYSTEM, Workflow, edges


class CallKind(models.TextChoices):
    RESEARCH = "research", _("Research")
    MOBILITY = "mobility", _("Talent exchange")


class CallState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    OPEN = "open", pgettext_lazy("call state", "Open")
    CLOSED = "closed", _("Closed")
    ARCHIVED = "archived", _("Archived")


# §4: officers open, close and archive; the clock (the system) opens a draft at its
# opening time and closes an open call at its deadline.
CALL_WORKFLOW = Workflow(
    name="call",
    states=CallState,
    refusal={
        CallState.OPEN: _("Only a draft call can be opened (state: %(state)s)."),
        CallState.CLOSED: _("Only an open call can be closed (state: %(state)s)."),
        CallState.ARCHIVED: _("Only a closed call can be archived (state: %(state)s)."),
        CallState.DRAFT: _("A call never returns to draft (state: %(state)s)."),
    },
    code="call_state",
    edges=[
        *edges(
            {CallState.DRAFT: [CallState.OPEN], CallState.OPEN: [CallState.CLOSED]},
            by=OFFICERS | {SYSTEM},
        ),
        *edges({CallState.CLOSED: [CallState.ARCHIVED]}, by=OFFICERS),
    ],
)


class Call(models.Model):
    workflow: ClassVar[Workflow] = CALL_WORKFLOW

    fund = models.ForeignKey(Fund, on_delete=models.PROTECT, related_name="calls")
    # §25: a mobility call funds visits (its terms in ``mobility.MobilityTerms``); a
    # research call funds proposals. Each path refuses the other kind.
    kind = models.CharField(
        _("kind"), max_length=16, choices=CallKind.choices, default=CallKind.RESEARCH
    )
    title_en = models.CharField(_("title (English)"), max_length=300)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300, blank=True)
    title_ko = models.CharField(_("title (Korean)"), max_length=300, blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    description_ja = models.TextField(_("description (Japanese)"), blank=True)
    description_ko = models.TextField(_("description (Korean)"), blank=True)
    research_areas = models.ManyToManyField(
        ResearchArea, related_name="calls", verbose_name=_("research areas")
    )
    opens_at = models.DateTimeField(_("opens at"))
    closes_at = models.DateTimeField(_("closes at"))
    state = models.CharField(
        _("state"), max_length=16, choices=CallState.choices, default=CallState.DRAFT
    )
    max_budget_jpy = AmountField(_("maximum budget, JP side (JPY)"))
    max_budget_krw = AmountField(_("maximum budget, KR side (KRW)"))
    min_stages = models.PositiveSmallIntegerField(
        _("minimum stages"), default=2, validators=[MinValueValidator(2), MaxValueValidator(5)]
    )
    max_stages = models.PositiveSmallIntegerField(
        _("maximum stages"), default=5, validators=[MinValueValidator(2), MaxValueValidator(5)]
    )
    max_project_months = models.PositiveSmallIntegerField(
        _("maximum project months"), default=60, validators=[MinValueValidator(1)]
    )
    # Gate policy (§4, §8)
    pass_threshold = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal("1.0"))
    conditional_threshold = models.DecimalField(
        max_digits=6, decimal_places=4, default=Decimal("0.8")
    )
    conditional_floor = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal("0.8"))
    bonus_rate = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal("0.5"))
    max_multiplier = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal("1.2"))
    conditional_rate = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal("0.8"))
    max_extensions = models.PositiveSmallIntegerField(default=1)
    max_extension_months = models.PositiveSmallIntegerField(default=6)
    auto_release_on_pass = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-opens_at", "id"]
        triggers = [CALL_WORKFLOW.trigger("call_state_fsm")]
        verbose_name = _("call for proposals")
        verbose_name_plural = _("calls for proposals")
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")), name="call_closes_after_opens"
            ),
            models.CheckConstraint(
                condition=Q(min_stages__lte=F("max_stages")), name="call_stage_bounds"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return localized(self, "title")

    @property
    def description(self) -> str:
        return localized(self, "description")

    def is_open_at(self, when) -> bool:
        """Open for submissions: the state and the server clock both say so."""
        return self.state == CallState.OPEN and self.opens_at <= when < self.closes_at


class ReviewCriterion(MultilingualName):
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="criteria")
    weight = models.DecimalField(
        max_digits=6, decimal_places=3, validators=[MinValueValidator(Decimal("0.001"))]
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["call", "order", "id"]
