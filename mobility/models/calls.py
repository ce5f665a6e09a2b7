"""The terms of a mobility call (§25): the call itself is a ``projects.Call`` of kind
``mobility``; what only a mobility call has lives here, one row per call."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from fundapp.fields import AmountField
from mobility.rules import MOBILITY_COUNTRIES
from projects.models import Call


class MobilityCountry(models.TextChoices):
    JP = "JP", _("Japan")
    KR = "KR", _("Korea")
    US = "US", _("United States")


def all_mobility_countries() -> list[str]:
    return list(MOBILITY_COUNTRIES)


class MobilityTerms(models.Model):
    """Stipend, travel sum, visit length and countries of one mobility call."""

    call = models.OneToOneField(
        Call,
        on_delete=models.CASCADE,
        related_name="mobility_terms",
        verbose_name=_("call"),
    )
    stipend_month_jpy = AmountField(_("monthly stipend, JP side (JPY)"))
    stipend_month_krw = AmountField(_("monthly stipend, KR side (KRW)"))
    travel_jpy = AmountField(_("travel lump sum, JP side (JPY)"))
    travel_krw = AmountField(_("travel lump sum, KR side (KRW)"))
    min_months = models.PositiveSmallIntegerField(
        _("minimum visit months"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
    )
    max_months = models.PositiveSmallIntegerField(
        _("maximum visit months"),
        default=12,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
    )
    eligible_countries = ArrayField(
        models.CharField(max_length=2, choices=MobilityCountry.choices),
        default=all_mobility_countries,
        verbose_name=_("eligible countries"),
    )

    class Meta:
        verbose_name = _("mobility terms")
        verbose_name_plural = _("mobility terms")
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    stipend_month_jpy__gte=0,
                    stipend_month_krw__gte=0,
                    travel_jpy__gte=0,
                    travel_krw__gte=0,
                ),
                name="mobility_terms_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(min_months__gte=1, max_months__lte=12)
                & Q(min_months__lte=F("max_months")),
                name="mobility_terms_month_bounds",
            ),
            # A visit goes from one country to another: two of JP/KR/US at least.
            models.CheckConstraint(
                condition=Q(eligible_countries__contained_by=list(MOBILITY_COUNTRIES))
                & Q(eligible_countries__len__gte=2),
                name="mobility_terms_countries",
            ),
        ]

    def __str__(self) -> str:
        return str(self.call)

    def stipend_month(self, currency: str) -> int:
        return self.stipend_month_jpy if currency == "JPY" else self.stipend_month_krw

    def travel(self, currency: str) -> int:
        return self.travel_jpy if currency == "JPY" else self.travel_krw
