"""Visit applications of mobility calls (§25): the visitor's short wizard, the host
organisation's endorsement, review and the two-person award."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Organisation
from fundapp.kernel.models import ResearchArea, localized
from fundapp.workflow import APPLICANTS, OFFICERS, SYSTEM, Workflow, edges
from projects.models import Call


class ApplicationState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    ENDORSED = "endorsed", _("Endorsed by the host")
    INELIGIBLE = "ineligible", _("Ineligible")
    UNDER_REVIEW = "under_review", _("Under review")
    AWARDED = "awarded", _("Awarded")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# §25, like proposals (§5, §6): the visitor (in the browser, or a partner system) submits
# and withdraws; the host organisation's research office (or its system) endorses a
# submission or returns it to the visitor as a draft; one still unendorsed at the call's
# deadline becomes ineligible (the deadline job); an officer opens the review; the award
# decision of two officers, one from each side, awards or rejects. Only the services of
# mobility.services.applications/endorsements/reviews/awards move it.
APPLICATION_WORKFLOW = Workflow(
    name="visit_application",
    states=ApplicationState,
    refusal=_("A visit application in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {
                ApplicationState.DRAFT: [ApplicationState.SUBMITTED, ApplicationState.WITHDRAWN],
                ApplicationState.SUBMITTED: [
                    ApplicationState.ENDORSED,
                    ApplicationState.DRAFT,
                    ApplicationState.WITHDRAWN,
                ],
                ApplicationState.ENDORSED: [ApplicationState.WITHDRAWN],
                ApplicationState.UNDER_REVIEW: [ApplicationState.WITHDRAWN],
            },
            by=APPLICANTS,
        ),
        *edges({ApplicationState.SUBMITTED: [ApplicationState.INELIGIBLE]}, by={SYSTEM}),
        *edges({ApplicationState.ENDORSED: [ApplicationState.UNDER_REVIEW]}, by=OFFICERS),
        *edges(
            {
                ApplicationState.UNDER_REVIEW: [
                    ApplicationState.AWARDED,
                    ApplicationState.REJECTED,
                ]
            },
            by=OFFICERS,
            two_person=True,
        ),
    ],
)

# States in which the application still claims the visitor's effort (§5, the e-Rad rule).
PENDING_APPLICATION_STATES = (
    ApplicationState.SUBMITTED,
    ApplicationState.ENDORSED,
    ApplicationState.UNDER_REVIEW,
)


class VisitApplication(models.Model):
    workflow: ClassVar[Workflow] = APPLICATION_WORKFLOW

    call = models.ForeignKey(
        Call, on_delete=models.PROTECT, related_name="visit_applications", verbose_name=_("call")
    )
    visitor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="visit_applications",
        verbose_name=_("visitor"),
    )
    home_organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("home organisation"),
    )
    host_organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="hosted_visit_applications",
        verbose_name=_("host organisation"),
    )
    # Filled in by the wizard's later steps: a draft may lack them, a submission may not.
    research_area = models.ForeignKey(
        ResearchArea,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("research area"),
    )
    planned_start = models.DateField(_("planned start"), null=True, blank=True)
    months = models.PositiveSmallIntegerField(
        _("months"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
    )
    title_en = models.CharField(_("title (English)"), max_length=300, blank=True)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300, blank=True)
    title_ko = models.CharField(_("title (Korean)"), max_length=300, blank=True)
    plan_en = models.TextField(_("plan (English)"), blank=True)
    plan_ja = models.TextField(_("plan (Japanese)"), blank=True)
    plan_ko = models.TextField(_("plan (Korean)"), blank=True)
    host_supervisor_name = models.CharField(_("host supervisor"), max_length=200, blank=True)
    host_supervisor_email = models.EmailField(_("host supervisor's e-mail"), blank=True)
    host_supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("host supervisor's account"),
    )
    effort_percent = models.PositiveSmallIntegerField(
        _("effort on the visit (percentage of working time)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    # §22: the national researcher number (e-Rad or Korean) the duplicate check compares.
    researcher_number = models.CharField(_("national researcher number"), max_length=16, blank=True)
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=ApplicationState.choices,
        default=ApplicationState.DRAFT,
    )
    version = models.PositiveIntegerField(
        default=1, help_text=_("Incremented by every saved change of the draft.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # The host organisation's endorsement (§25, as §5's lead organisations endorse).
    endorsed_at = models.DateTimeField(null=True, blank=True)
    endorsed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    endorsed_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    endorsement_comment = models.TextField(_("endorsement comment"), blank=True)
    eligibility_reasons = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("visit application")
        verbose_name_plural = _("visit applications")
        indexes = [
            models.Index(fields=["call", "state"], name="visit_app_call_state_idx"),
            models.Index(fields=["-updated_at", "-id"], name="visit_app_list_order_idx"),
            models.Index(fields=["host_organisation", "state"], name="visit_app_host_state_idx"),
            models.Index(fields=["visitor", "state"], name="visit_app_visitor_state_idx"),
        ]
        triggers = [APPLICATION_WORKFLOW.trigger("visit_application_state_fsm")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(home_organisation=F("host_organisation")),
                name="visit_app_host_not_home",
            ),
            models.CheckConstraint(
                condition=Q(months__isnull=True) | Q(months__gte=1, months__lte=12),
                name="visit_app_months_range",
            ),
            models.CheckConstraint(
                condition=Q(effort_percent__isnull=True)
                | Q(effort_percent__gte=1, effort_percent__lte=100),
                name="visit_app_effort_range",
            ),
            # What a submission carries: every step of the wizard filled in.
            models.CheckConstraint(
                condition=Q(submitted_at__isnull=True)
                | (
                    Q(
                        research_area__isnull=False,
                        planned_start__isnull=False,
                        months__isnull=False,
                        effort_percent__isnull=False,
                    )
                    & ~Q(title_en="", title_ja="", title_ko="")
                    & ~Q(plan_en="", plan_ja="", plan_ko="")
                    & ~Q(host_supervisor_name="")
                    & ~Q(host_supervisor_email="")
                ),
                name="visit_app_submitted_complete",
            ),
            models.CheckConstraint(
                condition=Q(endorsed_at__isnull=True)
                | Q(endorsed_by_user__isnull=False)
                | Q(endorsed_by_api_key__isnull=False),
                name="visit_app_endorsed_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return self.title or _("Untitled visit application #%(id)s") % {"id": self.pk}

    @property
    def title(self) -> str:
        return localized(self, "title")

    @property
    def plan(self) -> str:
        return localized(self, "plan")

    @property
    def is_editable(self) -> bool:
        return self.state == ApplicationState.DRAFT
