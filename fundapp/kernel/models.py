"""The fund and its research areas (§4), which calls, projects and IP assets all name.

The tables keep the names they were created with (``projects_fund``,
``projects_researcharea``), and audit events about them keep their object types, so
histories written before these models moved to the kernel still read.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import MultilingualName

LANGUAGES = ("en", "ja", "ko")


def localized(obj, field: str) -> str:
    """``obj.<field>_<active language>``, falling back to English, then to whichever of
    Japanese and Korean has one (a Japanese-only KPI reads in Japanese to everyone), then
    to ""."""
    lang = (get_language() or "en")[:2]
    for candidate in (lang, *LANGUAGES):
        value = getattr(obj, f"{field}_{candidate}", "")
        if value:
            return value
    return ""


class Fund(MultilingualName):
    audit_object_type = "projects.fund"

    jp_agency = models.CharField(_("Japanese agency"), max_length=200)
    kr_agency = models.CharField(_("Korean agency"), max_length=200)
    reference_rate_krw_per_jpy = models.DecimalField(
        _("reference rate (KRW per JPY)"),
        max_digits=12,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0.0001"))],
    )
    fund_share_bp = models.PositiveIntegerField(
        _("fund share of royalties (basis points)"),
        default=1000,
        validators=[MaxValueValidator(10000)],
    )
    max_licence_years = models.PositiveSmallIntegerField(
        _("maximum licence term (years)"), default=5
    )
    # §23: an overdue licence obligation is breached when this many days have passed.
    cure_days = models.PositiveSmallIntegerField(
        _("cure period of licence obligations (days)"),
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    # Simple interest a year on royalties paid late (§23), a decimal fraction.
    late_interest_rate = models.DecimalField(
        _("late interest rate (a year)"),
        max_digits=6,
        decimal_places=4,
        default=Decimal("0.0800"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
    )

    class Meta:
        db_table = "projects_fund"
        verbose_name = _("fund")
        verbose_name_plural = _("funds")


class Sensitivity(models.TextChoices):
    NORMAL = "normal", _("Normal")
    SENSITIVE = "sensitive", _("Sensitive")
    CONTROLLED = "controlled", _("Controlled")


class ResearchArea(MultilingualName):
    audit_object_type = "projects.researcharea"

    code = models.CharField(
        _("code"),
        max_length=120,
        unique=True,
        validators=[
            RegexValidator(
                r"^[a-z][a-z0-9_]*(\.[a-z0-9][a-z0-9_]*)*$", _("Use dotted lower-case codes.")
            )
        ],
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    sensitivity = models.CharField(
        _("sensitivity"), max_length=16, choices=Sensitivity.choices, default=Sensitivity.NORMAL
    )

    class Meta:
        db_table = "projects_researcharea"
        ordering = ["code"]
        verbose_name = _("research area")
        verbose_name_plural = _("research areas")

    def covers(self, code: str) -> bool:
        return code == self.code or code.startswith(self.code + ".")
