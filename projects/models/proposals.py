"""Proposals and everything a consortium puts into one (§5)."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from fundapp.accounts.models import Organisation
from fundapp.fields import AmountField
from fundapp.kernel.models import ResearchArea, localized
from fundapp.workflow import APPLICANTS, OFFICERS, SYSTEM, Workflow, edges

from .calls import Call


class ProposalState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    ELIGIBLE = "eligible", _("Eligible")
    INELIGIBLE = "ineligible", _("Ineligible")
    UNDER_REVIEW = "under_review", _("Under review")
    AWARDED = "awarded", _("Awarded")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# §5, §6. The consortium (its researchers in the browser, its systems through the API)
# submits and withdraws; a lead organisation's research office (or its system) may return
# a submission awaiting endorsement to the PIs as a draft; the eligibility rules decide at
# submission and endorsement; an officer opens the review; the award decision of two
# officers, one from each side, awards or rejects. Only the services of
# projects.services.proposals/reviews/awards move it.
PROPOSAL_WORKFLOW = Workflow(
    name="proposal",
    states=ProposalState,
    refusal=_("A proposal in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {
                ProposalState.DRAFT: [ProposalState.SUBMITTED, ProposalState.WITHDRAWN],
                ProposalState.SUBMITTED: [ProposalState.WITHDRAWN, ProposalState.DRAFT],
                ProposalState.ELIGIBLE: [ProposalState.WITHDRAWN],
                ProposalState.UNDER_REVIEW: [ProposalState.WITHDRAWN],
            },
            by=APPLICANTS,
        ),
        *edges(
            {ProposalState.SUBMITTED: [ProposalState.ELIGIBLE, ProposalState.INELIGIBLE]},
            by={SYSTEM},
        ),
        *edges({ProposalState.ELIGIBLE: [ProposalState.UNDER_REVIEW]}, by=OFFICERS),
        *edges(
            {ProposalState.UNDER_REVIEW: [ProposalState.AWARDED, ProposalState.REJECTED]},
            by=OFFICERS,
            two_person=True,
        ),
    ],
)

# States in which the proposal still claims its people's effort (§5, the e-Rad rule).
PENDING_STATES = (
    ProposalState.SUBMITTED,
    ProposalState.ELIGIBLE,
    ProposalState.UNDER_REVIEW,
)


class Proposal(models.Model):
    workflow: ClassVar[Workflow] = PROPOSAL_WORKFLOW

    call = models.ForeignKey(
        Call, on_delete=models.PROTECT, related_name="proposals", verbose_name=_("call")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(
        _("state"), max_length=16, choices=ProposalState.choices, default=ProposalState.DRAFT
    )
    version = models.PositiveIntegerField(
        default=1, help_text=_("Incremented by every saved change of the draft.")
    )
    title_en = models.CharField(_("title (English)"), max_length=300, blank=True)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300, blank=True)
    title_ko = models.CharField(_("title (Korean)"), max_length=300, blank=True)
    abstract_en = models.TextField(_("abstract (English)"), blank=True)
    abstract_ja = models.TextField(_("abstract (Japanese)"), blank=True)
    abstract_ko = models.TextField(_("abstract (Korean)"), blank=True)
    research_area = models.ForeignKey(
        ResearchArea,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="proposals",
        verbose_name=_("research area"),
    )
    keywords = ArrayField(
        models.CharField(max_length=60), default=list, blank=True, verbose_name=_("keywords")
    )
    trl_now = models.PositiveSmallIntegerField(
        _("TRL now"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(9)]
    )
    trl_target = models.PositiveSmallIntegerField(
        _("TRL target"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(9)],
    )
    # IP plan (§5, §10): intended licence terms for results.
    ip_licence_terms = models.TextField(_("intended licence terms for results"), blank=True)
    # Security self-assessment (§5, §11)
    dual_use = models.BooleanField(_("dual-use technology"), default=False)
    controlled_categories = ArrayField(
        models.CharField(max_length=60),
        default=list,
        blank=True,
        verbose_name=_("controlled-technology categories"),
    )
    security_notes = models.TextField(_("security notes"), blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    eligibility_reasons = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("proposal")
        verbose_name_plural = _("proposals")
        indexes = [
            models.Index(fields=["call", "state"], name="proposal_call_state_idx"),
            models.Index(fields=["-updated_at", "-id"], name="proposal_list_order_idx"),
            # Trigram indexes (pg_trgm) for the duplicate-funding similarity of §22.
            *(
                GinIndex(
                    fields=[f"{field}_{lang}"],
                    opclasses=["gin_trgm_ops"],
                    name=f"proposal_{field}_{lang}_trgm",
                )
                for field in ("title", "abstract")
                for lang in ("en", "ja", "ko")
            ),
        ]
        triggers = [PROPOSAL_WORKFLOW.trigger("proposal_state_fsm")]
        constraints = [
            models.CheckConstraint(
                condition=Q(trl_now__isnull=True) | Q(trl_now__gte=1, trl_now__lte=9),
                name="proposal_trl_now_range",
            ),
            models.CheckConstraint(
                condition=Q(trl_target__isnull=True) | Q(trl_target__gte=1, trl_target__lte=9),
                name="proposal_trl_target_range",
            ),
        ]

    def __str__(self) -> str:
        return self.title or _("Untitled proposal #%(id)s") % {"id": self.pk}

    @property
    def title(self) -> str:
        return localized(self, "title")

    @property
    def abstract(self) -> str:
        return localized(self, "abstract")

    @property
    def is_editable(self) -> bool:
        return self.state == ProposalState.DRAFT

    @property
    def needs_screening(self) -> bool:
        """§11: sensitive or controlled area, dual use, or any organisation outside JP/KR."""
        if self.dual_use:
            return True
        if self.research_area is not None and self.research_area.sensitivity != "normal":
            return True
        return self.members.exclude(organisation__country__in=["JP", "KR"]).exists()


class ProposalUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Proposal, on_delete=models.CASCADE)


class ProposalGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Proposal, on_delete=models.CASCADE)


class ConsortiumRole(models.TextChoices):
    LEAD_JP = "lead_jp", _("Japanese lead")
    LEAD_KR = "lead_kr", _("Korean lead")
    PARTNER = "partner", _("Partner")
    IN_KIND = "in_kind", _("In-kind partner")


class ConsortiumMember(models.Model):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="members")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("organisation")
    )
    role = models.CharField(_("role"), max_length=16, choices=ConsortiumRole.choices)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["proposal", "organisation"], name="consortium_member_unique"
            ),
        ]
        # The proposals of an organisation (research offices, API keys), off the index.
        indexes = [
            models.Index(fields=["organisation", "proposal"], name="consortium_member_by_org_idx")
        ]


class PersonRole(models.TextChoices):
    PI = "pi", _("Principal investigator")
    CO_INVESTIGATOR = "co_investigator", _("Co-investigator")


class ProposalPerson(models.Model):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="people")
    member = models.ForeignKey(ConsortiumMember, on_delete=models.CASCADE, related_name="people")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="proposal_roles"
    )
    role = models.CharField(_("role"), max_length=16, choices=PersonRole.choices)
    effort_percent = models.PositiveSmallIntegerField(
        _("effort (percentage of working time)"),
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )

    class Meta:
        ordering = ["member__order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "user"], name="proposal_person_unique"),
            models.CheckConstraint(
                condition=Q(effort_percent__gte=1, effort_percent__lte=100),
                name="proposal_person_effort_range",
            ),
        ]


class ProposalStage(models.Model):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="stages")
    number = models.PositiveSmallIntegerField(_("stage"))
    title = models.CharField(_("title"), max_length=300)
    months = models.PositiveSmallIntegerField(
        _("months"), validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    deliverable = models.TextField(_("deliverable"), blank=True)
    planned_jpy = AmountField(_("planned tranche, JP side (JPY)"))
    planned_krw = AmountField(_("planned tranche, KR side (KRW)"))

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "number"], name="proposal_stage_unique"),
            models.CheckConstraint(
                condition=Q(planned_jpy__gte=0, planned_krw__gte=0), name="proposal_stage_amounts"
            ),
        ]


class KpiDirection(models.TextChoices):
    HIGHER = "higher_is_better", _("Higher is better")
    LOWER = "lower_is_better", _("Lower is better")


class KpiAggregation(models.TextChoices):
    LATEST = "latest", _("Latest")
    MAX = "max", _("Maximum")
    MIN = "min", _("Minimum")
    SUM = "sum", _("Sum")
    MEAN = "mean", _("Mean")


class EvidenceLevel(models.TextChoices):
    """What a measurement of a KPI needs to count at its gate (§22)."""

    NONE = "none", _("No evidence required")
    DOCUMENT = "document", _("An evidence file")
    ATTESTED = "attested", _("Attested by an independent verifier")


class ProposalKPI(models.Model):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="kpis")
    stage = models.ForeignKey(ProposalStage, on_delete=models.CASCADE, related_name="kpis")
    code = models.CharField(_("code"), max_length=40)
    # A name in at least one language (§5): a Japanese-only or Korean-only KPI is fine.
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    name_ja = models.CharField(_("name (Japanese)"), max_length=200, blank=True)
    name_ko = models.CharField(_("name (Korean)"), max_length=200, blank=True)
    unit = models.CharField(_("unit"), max_length=40, blank=True)
    direction = models.CharField(_("direction"), max_length=20, choices=KpiDirection.choices)
    baseline = models.DecimalField(_("baseline"), max_digits=20, decimal_places=6)
    target = models.DecimalField(_("target"), max_digits=20, decimal_places=6)
    weight = models.DecimalField(
        _("weight"),
        max_digits=8,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0.0001"))],
    )
    mandatory = models.BooleanField(_("mandatory"), default=False)
    aggregation = models.CharField(
        _("aggregation"),
        max_length=8,
        choices=KpiAggregation.choices,
        default=KpiAggregation.LATEST,
    )
    # How the KPI is verified (§22), in any of the three languages, like its name.
    means_of_verification_en = models.TextField(_("means of verification (English)"), blank=True)
    means_of_verification_ja = models.TextField(_("means of verification (Japanese)"), blank=True)
    means_of_verification_ko = models.TextField(_("means of verification (Korean)"), blank=True)
    evidence = models.CharField(
        _("evidence level"),
        max_length=8,
        choices=EvidenceLevel.choices,
        default=EvidenceLevel.NONE,
    )

    class Meta:
        ordering = ["stage__number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "code"], name="proposal_kpi_code_unique"),
            # A mandatory KPI needs at least a document behind each measurement (§22).
            models.CheckConstraint(
                condition=~Q(mandatory=True, evidence=EvidenceLevel.NONE),
                name="proposal_kpi_mandatory_evidenced",
            ),
            models.CheckConstraint(
                condition=~Q(target=F("baseline")), name="proposal_kpi_target_differs"
            ),
            models.CheckConstraint(condition=Q(weight__gt=0), name="proposal_kpi_weight_positive"),
            models.CheckConstraint(
                condition=~Q(name_en="", name_ja="", name_ko=""), name="proposal_kpi_named"
            ),
        ]

    @property
    def name(self) -> str:
        """In the reader's language, else in any language it has one."""
        return localized(self, "name")

    @property
    def means_of_verification(self) -> str:
        """In the reader's language, else in any language it has one."""
        return localized(self, "means_of_verification")


class BudgetCategory(models.TextChoices):
    PERSONNEL = "personnel", _("Personnel")
    EQUIPMENT = "equipment", _("Equipment")
    CONSUMABLES = "consumables", _("Consumables")
    TRAVEL = "travel", _("Travel")
    OTHER = "other", _("Other")


class BudgetLine(models.Model):
    """One organisation's budget in one category, in its side's currency."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="budget_lines")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("organisation")
    )
    category = models.CharField(_("category"), max_length=16, choices=BudgetCategory.choices)
    currency = models.CharField(
        _("currency"), max_length=3, choices=[("JPY", "JPY"), ("KRW", "KRW")]
    )
    amount = AmountField(_("amount"))

    class Meta:
        ordering = ["organisation__code", "category"]
        constraints = [
            models.UniqueConstraint(
                fields=["proposal", "organisation", "category"], name="budget_line_unique"
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="budget_line_amount_non_negative"
            ),
        ]


class BackgroundIP(models.Model):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="background_ip")
    title = models.CharField(_("title"), max_length=300)
    owner = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner")
    )
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["id"]


class Attachment(models.Model):
    class Kind(models.TextChoices):
        RESEARCH_PLAN = "research_plan", _("Research plan")
        CV = "cv", _("Curriculum vitae")
        LETTER = "letter", _("Letter of support")
        OTHER = "other", _("Other")

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.OTHER)
    original_name = models.CharField(_("file name"), max_length=255)
    storage_name = models.CharField(max_length=255, unique=True)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at", "id"]


class Endorsement(models.Model):
    """A lead organisation's research office vouches for the submission (§5)."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="endorsements")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    endorsed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    endorsed_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    endorsed_at = models.DateTimeField(default=timezone.now)
    comment = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["proposal", "organisation"], name="endorsement_unique")
        ]


class ProposalVersion(models.Model):
    """The frozen content of a proposal at submission: what reviewers and the award see."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    content = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "number"], name="proposal_version_unique")
        ]
