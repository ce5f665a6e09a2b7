"""Organisations, people, roles and API keys (§2, §3, §14)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from .validators import validate_orcid


class Side(models.TextChoices):
    JP = "JP", _("Japan")
    KR = "KR", _("Korea")
    OTHER = "OTHER", _("Other")


class Currency(models.TextChoices):
    JPY = "JPY", _("Japanese yen")
    KRW = "KRW", _("Korean won")


SIDE_CURRENCY = {Side.JP: Currency.JPY, Side.KR: Currency.KRW}


def side_for_country(country: str) -> str:
    if country == "JP":
        return Side.JP
    if country == "KR":
        return Side.KR
    return Side.OTHER


class MultilingualName(models.Model):
    """Abstract: a name in English, Japanese and Korean, shown in the active language."""

    name_en = models.CharField(_("name (English)"), max_length=200)
    name_ja = models.CharField(_("name (Japanese)"), max_length=200, blank=True)
    name_ko = models.CharField(_("name (Korean)"), max_length=200, blank=True)

    class Meta:
        abstract = True

    @property
    def name(self) -> str:
        lang = (get_language() or "en")[:2]
        return getattr(self, f"name_{lang}", "") or self.name_en

    def __str__(self) -> str:
        return self.name


class Organisation(MultilingualName):
    class Kind(models.TextChoices):
        UNIVERSITY = "university", _("University")
        INSTITUTE = "institute", _("Research institute")
        COMPANY = "company", _("Company")
        AGENCY = "agency", _("Agency")

    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Z0-9][A-Z0-9-]{1,31}$", _("Use capital letters, digits and hyphens.")
            )
        ],
    )
    country = models.CharField(
        _("country"),
        max_length=2,
        validators=[RegexValidator(r"^[A-Z]{2}$", _("Use an ISO 3166-1 alpha-2 code."))],
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    side = models.CharField(_("side"), max_length=8, choices=Side.choices, editable=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def save(self, *args, **kwargs):
        # `side` follows the country (§3); it is never set by hand.
        self.side = side_for_country(self.country)
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    RESEARCHER = "researcher", _("Researcher")
    REVIEWER = "reviewer", _("Reviewer")
    FUND_OFFICER = "fund_officer", _("Fund officer")
    FINANCE_OFFICER = "finance_officer", _("Finance officer")
    SCREENING_OFFICER = "screening_officer", _("Screening officer")
    ADMIN = "admin", _("Administrator")


STAFF_ROLES = {Role.FUND_OFFICER, Role.FINANCE_OFFICER, Role.SCREENING_OFFICER, Role.ADMIN}


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.RESEARCHER)
    side = models.CharField(
        _("side"),
        max_length=8,
        choices=[(Side.JP, Side.JP.label), (Side.KR, Side.KR.label)],
        blank=True,
    )
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    preferred_language = models.CharField(
        _("language"),
        max_length=8,
        choices=[("en", "English"), ("ja", "日本語"), ("ko", "한국어")],
        blank=True,
    )
    erad_number = models.CharField(_("e-Rad researcher number"), max_length=16, blank=True)
    kr_researcher_number = models.CharField(
        _("Korean researcher number"), max_length=16, blank=True
    )
    orcid = models.CharField(
        _("ORCID iD"),
        max_length=19,
        blank=True,
        validators=[validate_orcid],
        help_text=_("As 0000-0000-0000-0000; the last character may be X."),
    )
    organisations: models.ManyToManyField[Organisation, Membership] = models.ManyToManyField(
        Organisation, through="Membership", related_name="people", blank=True
    )

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        # The duplicate-funding check (§22) finds people by their national numbers and ORCID.
        indexes = [
            models.Index(
                fields=[field], condition=~models.Q(**{field: ""}), name=f"user_{field}_idx"
            )
            for field in ("erad_number", "kr_researcher_number", "orcid")
        ]
        constraints = [
            # The format only; the check digit is the validator's (ISO 7064 11,2).
            models.CheckConstraint(
                condition=models.Q(orcid="")
                | models.Q(orcid__regex=r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$"),
                name="user_orcid_format",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @property
    def is_fund_officer(self) -> bool:
        return self.role == Role.FUND_OFFICER or self.is_superuser

    @property
    def is_fund_staff(self) -> bool:
        return self.role in STAFF_ROLES or self.is_superuser


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    research_office = models.BooleanField(
        _("research office"),
        default=False,
        help_text=_("May endorse proposals for the organisation."),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="membership_unique")
        ]


class Scope(models.TextChoices):
    PROPOSALS_READ = "proposals:read", "proposals:read"
    PROPOSALS_WRITE = "proposals:write", "proposals:write"
    PROJECTS_READ = "projects:read", "projects:read"
    KPI_WRITE = "kpi:write", "kpi:write"
    KPI_ATTEST = "kpi:attest", "kpi:attest"
    GATES_READ = "gates:read", "gates:read"
    GATES_WRITE = "gates:write", "gates:write"
    PAYMENTS_WRITE = "payments:write", "payments:write"
    LEDGER_READ = "ledger:read", "ledger:read"
    LICENCES_READ = "licences:read", "licences:read"
    LICENCES_CHECK = "licences:check", "licences:check"
    ROYALTIES_WRITE = "royalties:write", "royalties:write"
    WEBHOOKS_MANAGE = "webhooks:manage", "webhooks:manage"


API_KEY_PREFIX = "jkf"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    """A partner system's key. Only the SHA-256 of the secret is stored (§14)."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=100)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = ArrayField(models.CharField(max_length=32, choices=Scope.choices), default=list)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({API_KEY_PREFIX}_{self.key_id}…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """Return (key_id, secret, full key). The full key is shown once and never stored."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        return key_id, secret, f"{API_KEY_PREFIX}_{key_id}_{secret}"

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hash_secret(secret))

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return not (self.expires_at is not None and self.expires_at <= now)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    # DRF treats request.user as authenticated; the key stands beside it as request.auth.
    @property
    def is_authenticated(self) -> bool:
        return True
