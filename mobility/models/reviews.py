"""Review and award of visit applications (§25, as §6): reviewer assignments with their
conflict declarations, scores on the call's criteria, and the two-person award decision.

The assignment follows the proposals' table (``ASSIGNMENT_WORKFLOW``) and the scores the
call's ``ReviewCriterion`` rows; the decision is one more ``TwoPersonDecision``."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.kernel.approvals import TwoPersonDecision, live_condition, two_person_constraints
from fundapp.workflow import Workflow
from projects.models import AssignmentState, AwardOutcome, Recommendation, ReviewCriterion
from projects.models.reviews import ASSIGNMENT_WORKFLOW

from .applications import VisitApplication


class VisitReviewerAssignment(models.Model):
    workflow: ClassVar[Workflow] = ASSIGNMENT_WORKFLOW

    application = models.ForeignKey(
        VisitApplication, on_delete=models.CASCADE, related_name="assignments"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visit_review_assignments"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    assigned_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(
        _("state"),
        max_length=24,
        choices=AssignmentState.choices,
        default=AssignmentState.AWAITING_DECLARATION,
    )
    exclusion_reason = models.TextField(_("reason"), blank=True)
    declared_at = models.DateTimeField(null=True, blank=True)
    conflict_note = models.TextField(_("conflict note"), blank=True)

    class Meta:
        ordering = ["assigned_at", "id"]
        verbose_name = _("visit review assignment")
        verbose_name_plural = _("visit review assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["application", "reviewer"], name="visit_assignment_unique"
            )
        ]
        triggers = [ASSIGNMENT_WORKFLOW.trigger("visit_assignment_state_fsm")]


class VisitReview(models.Model):
    assignment = models.OneToOneField(
        VisitReviewerAssignment, on_delete=models.PROTECT, related_name="review"
    )
    comment = models.TextField(_("comment"))
    recommendation = models.CharField(
        _("recommendation"), max_length=24, choices=Recommendation.choices
    )
    weighted_score = models.DecimalField(max_digits=6, decimal_places=4)
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("visit review")
        verbose_name_plural = _("visit reviews")


class VisitReviewScore(models.Model):
    review = models.ForeignKey(VisitReview, on_delete=models.CASCADE, related_name="scores")
    criterion = models.ForeignKey(ReviewCriterion, on_delete=models.PROTECT, related_name="+")
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["review", "criterion"], name="visit_review_score_unique"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5), name="visit_review_score_range"
            ),
        ]


class VisitAwardDecision(TwoPersonDecision):
    """Award or reject a visit application: two fund officers, one from each side."""

    audit_kind = "visit_award"

    application = models.ForeignKey(
        VisitApplication, on_delete=models.PROTECT, related_name="award_decisions"
    )
    outcome = models.CharField(_("decision"), max_length=8, choices=AwardOutcome.choices)
    reason = models.TextField(_("reason"))

    class Meta:
        ordering = ["-first_at"]
        verbose_name = _("visit award decision")
        verbose_name_plural = _("visit award decisions")
        constraints = [
            *two_person_constraints("visit_award_decision"),
            models.UniqueConstraint(
                fields=["application"],
                condition=live_condition(),
                name="visit_award_one_live_per_application",
            ),
        ]
