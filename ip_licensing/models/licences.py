"""Licences (§10.2–§10.3), their two-person approvals, royalty reports (§10.5) and
changes of a project's return-allocation table."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import UserObjectPermissionBase

from fundapp.accounts.models import Organisation
from fundapp.fields import AmountField
from fundapp.kernel.approvals import (
    TwoPersonDecision,
    live_condition,
    two_person_constraints,
)
from fundapp.workflow import APPLICANTS, OFFICERS, SYSTEM, Workflow, edges

from .assets import IPAsset


class Purpose(models.TextChoices):
    RESEARCH = "research", _("Research")
    DEVELOPMENT = "development", _("Development")
    MANUFACTURING = "manufacturing", _("Manufacturing")
    SALE = "sale", _("Sale")
    INTERNAL_USE = "internal_use", _("Internal use")


class Exclusivity(models.TextChoices):
    NON_EXCLUSIVE = "non_exclusive", _("Non-exclusive")
    EXCLUSIVE = "exclusive", _("Exclusive")


class LicenceState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING = "pending", _("Pending approval")
    APPROVED = "approved", _("Approved")
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    TERMINATED = "terminated", _("Terminated")
    SUSPENDED = "suspended", _("Suspended")


# §10.3. The parties accept a draft (pending); two fund officers, one from each side,
# approve it; it activates on its start day (at once when that has come) and expires after
# its end day; officers suspend, resume and terminate; a party may withdraw its own draft.
LICENCE_WORKFLOW = Workflow(
    name="licence",
    states=LicenceState,
    refusal=_("A licence that is “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {LicenceState.DRAFT: [LicenceState.PENDING, LicenceState.TERMINATED]},
            by=APPLICANTS | OFFICERS,
        ),
        *edges({LicenceState.PENDING: [LicenceState.DRAFT]}, by=APPLICANTS | OFFICERS),
        *edges({LicenceState.PENDING: [LicenceState.APPROVED]}, by=OFFICERS, two_person=True),
        *edges(
            {
                LicenceState.PENDING: [LicenceState.TERMINATED],
                LicenceState.APPROVED: [LicenceState.TERMINATED],
                LicenceState.ACTIVE: [LicenceState.SUSPENDED, LicenceState.TERMINATED],
                LicenceState.SUSPENDED: [LicenceState.ACTIVE, LicenceState.TERMINATED],
            },
            by=OFFICERS,
        ),
        *edges({LicenceState.APPROVED: [LicenceState.ACTIVE]}, by=OFFICERS | {SYSTEM}),
        *edges(
            {
                LicenceState.APPROVED: [LicenceState.EXPIRED],
                LicenceState.ACTIVE: [LicenceState.EXPIRED],
                LicenceState.SUSPENDED: [LicenceState.EXPIRED],
            },
            by={SYSTEM},
        ),
    ],
)


class Licence(models.Model):
    workflow: ClassVar[Workflow] = LICENCE_WORKFLOW

    reference = models.CharField(_("reference"), max_length=32, unique=True)
    licensor = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="licences_granted",
        verbose_name=_("licensor"),
    )
    licensee = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="licences_held",
        verbose_name=_("licensee"),
    )
    assets: models.ManyToManyField[IPAsset, LicenceAsset] = models.ManyToManyField(
        IPAsset, through="LicenceAsset", related_name="licences", verbose_name=_("assets")
    )
    fields_of_use = ArrayField(models.CharField(max_length=120), verbose_name=_("fields of use"))
    purposes = ArrayField(
        models.CharField(max_length=16, choices=Purpose.choices), verbose_name=_("purposes")
    )
    territories = ArrayField(models.CharField(max_length=2), verbose_name=_("territories"))
    start_on = models.DateField(_("start"))
    end_on = models.DateField(_("end"))
    exclusivity = models.CharField(_("exclusivity"), max_length=16, choices=Exclusivity.choices)
    sublicensable = models.BooleanField(_("sublicensable"), default=False)
    # The Asia/Tokyo day from which an exclusive licence is non-exclusive because officers
    # converted it after a diligence breach (§23); the licence check answers
    # ``diligence_breach`` to a use that needs exclusivity from that day on.
    exclusivity_lost_on = models.DateField(_("exclusivity lost on"), null=True, blank=True)
    # §23: the parent's share of the income its licensee reports from sublicences, in basis
    # points of that income (rounded half up when due, see rules.sublicence_due).
    sublicence_share_bp = models.PositiveIntegerField(
        _("sublicence share (basis points)"),
        default=0,
        validators=[MaxValueValidator(10000)],
    )
    # §23: a sublicence is a licence granted by the licensee of its parent (its licensor),
    # inside the parent's scope; it ends when the parent ends.
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sublicences",
        verbose_name=_("parent licence"),
    )
    royalty_rate = models.DecimalField(
        _("royalty rate"),
        max_digits=7,
        decimal_places=6,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
    )
    minimum_annual_royalty = AmountField(_("minimum annual royalty"))
    upfront_fee = AmountField(_("upfront fee"))
    currency = models.CharField(
        _("currency"), max_length=3, choices=[("JPY", "JPY"), ("KRW", "KRW")]
    )
    state = models.CharField(
        _("state"), max_length=12, choices=LicenceState.choices, default=LicenceState.DRAFT
    )
    licensor_accepted_at = models.DateTimeField(null=True, blank=True)
    licensee_accepted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True)
    renewal_of = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="renewed_by",
        verbose_name=_("renewal of"),
    )
    upfront_posted = models.BooleanField(default=False)
    reminded_30_at = models.DateTimeField(null=True, blank=True)
    reminded_7_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("licence")
        verbose_name_plural = _("licences")
        indexes = [
            models.Index(fields=["licensee", "state"], name="licence_licensee_state_idx"),
            models.Index(fields=["state", "start_on", "end_on"], name="licence_state_term_idx"),
            # The lists' order (newest first), read backwards: a page is the first rows of
            # the index, not a sort of every licence.
            models.Index(fields=["created_at", "id"], name="licence_created_idx"),
            models.Index(
                fields=["parent"], condition=Q(parent__isnull=False), name="licence_parent_idx"
            ),
        ]
        triggers = [LICENCE_WORKFLOW.trigger("licence_state_fsm")]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_on__gte=F("start_on")), name="licence_end_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(licensor=F("licensee")), name="licence_not_to_itself"
            ),
            models.CheckConstraint(
                condition=Q(royalty_rate__gte=0, royalty_rate__lte=1), name="licence_rate_fraction"
            ),
            models.CheckConstraint(
                condition=Q(exclusivity_lost_on__isnull=True) | Q(exclusivity="non_exclusive"),
                name="licence_converted_is_non_exclusive",
            ),
            models.CheckConstraint(
                condition=Q(sublicence_share_bp__lte=10000), name="licence_sublicence_share_range"
            ),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="licence_not_its_own_parent"),
        ]

    def __str__(self) -> str:
        return self.reference


class LicenceUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Licence, on_delete=models.CASCADE)


class LicenceAsset(models.Model):
    """One asset of a licence, with its share of the licence's royalties in basis points
    (§23): the shares of a licence sum to 10,000 (checked by the service that writes them
    all at once; the database keeps each within range)."""

    licence = models.ForeignKey(Licence, on_delete=models.CASCADE, related_name="licence_assets")
    asset = models.ForeignKey(IPAsset, on_delete=models.PROTECT, related_name="licence_links")
    share_bp = models.PositiveIntegerField(_("share (basis points)"), default=10000)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["licence", "asset"], name="licence_asset_unique"),
            models.CheckConstraint(
                condition=Q(share_bp__lte=10000), name="licence_asset_share_range"
            ),
        ]
        indexes = [models.Index(fields=["asset", "licence"], name="licence_asset_lookup_idx")]


class LicenceApproval(TwoPersonDecision):
    """The two-person approval of a licence (§2): a fund officer of each side."""

    audit_kind = "licence_approval"

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="approvals")

    class Meta:
        constraints = [
            *two_person_constraints("licence_approval"),
            models.UniqueConstraint(
                fields=["licence"],
                condition=live_condition(),
                name="licence_approval_one_live",
            ),
        ]


class RoyaltyReport(models.Model):
    """A licensee's net sales for one licence and quarter. Immutable: a correction is a new
    report that supersedes it, and only the difference is posted (§10.5)."""

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="royalty_reports")
    quarter = models.CharField(_("quarter"), max_length=7)  # 2026-Q3
    net_sales = AmountField(_("net sales"))
    royalty_due = models.BigIntegerField(_("royalty due"))
    # §23: income from the licence's sublicences in the quarter, and the parent's share of
    # it that is due on top of the royalty (posted and split with it).
    sublicence_income = AmountField(_("sublicence income"))
    sublicence_due = AmountField(_("sublicence share due"))
    posted_amount = models.BigIntegerField(
        _("posted"),
        help_text=_("What this report posted: the difference to the one it supersedes."),
    )
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    reported_at = models.DateTimeField(default=timezone.now)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reported_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ledger_transaction = models.OneToOneField(
        "ledger.Transaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="royalty_report",
    )
    # Royalty integrity (§23), fixed when the report is written: the days it came after
    # the quarter's deadline, the simple interest that accrued (posted as its own linked
    # transaction ``royalty-interest:{id}``), and the anomaly flag against the trailing
    # four-quarter mean of net sales.
    late_days = models.PositiveIntegerField(_("days late"), default=0)
    late_interest = models.BigIntegerField(_("late interest"), default=0)
    interest_transaction = models.OneToOneField(
        "ledger.Transaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="royalty_interest_report",
    )
    trailing_mean = models.BigIntegerField(_("trailing four-quarter mean"), null=True, blank=True)
    flagged = models.BooleanField(_("flagged"), default=False)

    class Meta:
        ordering = ["licence", "quarter", "reported_at"]
        indexes = [
            # The API list's order (newest first), read backwards.
            models.Index(fields=["reported_at", "id"], name="royalty_report_reported_idx"),
            # The officers' list of flagged reports.
            models.Index(
                fields=["reported_at", "id"],
                condition=Q(flagged=True),
                name="royalty_report_flagged_idx",
            ),
        ]
        constraints = [
            # One first report per licence and quarter; corrections chain through `supersedes`.
            models.UniqueConstraint(
                fields=["licence", "quarter"],
                condition=Q(supersedes__isnull=True),
                name="royalty_report_first_unique",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="royalty_report_immutable", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]


class AllocationChange(TwoPersonDecision):
    """A proposed new return-allocation table for a project, applied on the second
    approval (two-person rule, §10.5)."""

    audit_kind = "allocation_change"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="allocation_changes"
    )
    table = models.JSONField(help_text=_("[[organisation id, basis points], …] summing to 10,000"))
    reason = models.TextField(_("reason"))

    class Meta:
        constraints = [
            *two_person_constraints("allocation_change"),
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(state="pending"),
                name="allocation_change_one_pending",
            ),
        ]


class ReturnAllocationEntry(models.Model):
    """One row of the project's return-allocation table in basis points (§10.5).

    The table keeps the name it was created with (``projects_returnallocationentry``).
    """

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="return_allocation"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    basis_points = models.PositiveIntegerField()

    class Meta:
        db_table = "projects_returnallocationentry"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "organisation"], name="return_allocation_unique"
            ),
            models.CheckConstraint(
                condition=Q(basis_points__lte=10000), name="return_allocation_bp_range"
            ),
        ]
