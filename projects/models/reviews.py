"""Review and award (§6): assignments with conflict declarations, blind scores, and the
two-person award decision."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fundapp.kernel.approvals import (
    DecisionState as DecisionState,
)
from fundapp.kernel.approvals import (
    TwoPersonDecision,
    live_condition,
    two_person_constraints,
)
from fundapp.workflow import REVIEWER, Workflow, edges

from .calls import ReviewCriterion
from .proposals import Proposal


class AssignmentState(models.TextChoices):
    AWAITING_DECLARATION = "awaiting_declaration", _("Awaiting conflict declaration")
    ACTIVE = "active", _("Reviewing")
    SUBMITTED = "submitted", _("Review submitted")
    CONFLICTED = "conflicted", _("Conflict declared")
    EXCLUDED = "excluded", _("Excluded automatically")


# An assignment starts awaiting the reviewer's declaration, or excluded when the rules of
# §6 exclude the reviewer; the reviewer declares (a conflict ends the assignment) and then
# submits one review. Excluded, conflicted and submitted assignments are final.
ASSIGNMENT_WORKFLOW = Workflow(
    name="reviewer assignment",
    states=AssignmentState,
    initial=[AssignmentState.EXCLUDED],
    refusal=_("A review assignment in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {
                AssignmentState.AWAITING_DECLARATION: [
                    AssignmentState.ACTIVE,
                    AssignmentState.CONFLICTED,
                ]
            },
            by={REVIEWER},
        ),
        *edges({AssignmentState.ACTIVE: [AssignmentState.SUBMITTED]}, by={REVIEWER}),
    ],
)


class ReviewerAssignment(models.Model):
    workflow: ClassVar[Workflow] = ASSIGNMENT_WORKFLOW

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="assignments")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_assignments"
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
        constraints = [
            models.UniqueConstraint(fields=["proposal", "reviewer"], name="assignment_unique")
        ]
        triggers = [ASSIGNMENT_WORKFLOW.trigger("reviewer_assignment_state_fsm")]


class Recommendation(models.TextChoices):
    FUND = "fund", pgettext_lazy("review recommendation", "Fund")
    FUND_WITH_CHANGES = "fund_with_changes", _("Fund with changes")
    DO_NOT_FUND = "do_not_fund", _("Do not fund")


class Review(models.Model):
    assignment = models.OneToOneField(
        ReviewerAssignment, on_delete=models.PROTECT, related_name="review"
    )
    comment = models.TextField(_("comment"))
    recommendation = models.CharField(
        _("recommendation"), max_length=24, choices=Recommendation.choices
    )
    weighted_score = models.DecimalField(max_digits=6, decimal_places=4)
    submitted_at = models.DateTimeField(default=timezone.now)


class ReviewScore(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="scores")
    criterion = models.ForeignKey(ReviewCriterion, on_delete=models.PROTECT, related_name="+")
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "criterion"], name="review_score_unique"),
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5), name="review_score_range"
            ),
        ]


class AwardOutcome(models.TextChoices):
    AWARD = "award", _("Award")
    # The outcome, not the act of declining an approval (the two-person panel's "Decline").
    REJECT = "reject", pgettext_lazy("award outcome", "Reject")


class AwardDecision(TwoPersonDecision):
    audit_kind = "award"

    proposal = models.ForeignKey(Proposal, on_delete=models.PROTECT, related_name="award_decisions")
    outcome = models.CharField(_("decision"), max_length=8, choices=AwardOutcome.choices)
    reason = models.TextField(_("reason"))

    class Meta:
        ordering = ["-first_at"]
        constraints = [
            *two_person_constraints("award_decision"),
            models.UniqueConstraint(
                fields=["proposal"],
                condition=live_condition(),
                name="award_decision_one_live_per_proposal",
            ),
        ]
