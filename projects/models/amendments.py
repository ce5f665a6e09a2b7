"""Amendments to a project's frozen plan (§24).

A PI of the project or a fund officer proposes a change set (``projects.rules.amendments``)
against the plan version it read; two fund officers, one of each side, approve it
(``AmendmentDecision``, the two-person component); the second approval applies it in the
same transaction, raises the project's plan version and re-commits the ledger's difference.
An amendment whose plan moved on meanwhile (another amendment, a gate evaluated) is stale:
its approval is refused and it can only be declined or withdrawn.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.kernel.approvals import TwoPersonDecision, live_condition, two_person_constraints
from fundapp.workflow import OFFICERS, RESEARCHER, Workflow, edges

from .projects import Project


class AmendmentState(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    APPROVED = "approved", _("Approved")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# §24: the second officer's approval applies it; an officer of the other side declines the
# pending approval with a reason (or an officer declines a proposal nobody approved);
# whoever proposed it (or another PI of the project) withdraws it while it is proposed.
AMENDMENT_WORKFLOW = Workflow(
    name="amendment",
    states=AmendmentState,
    refusal=_("An amendment that is “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {AmendmentState.PROPOSED: [AmendmentState.APPROVED]},
            by=OFFICERS,
            two_person=True,
        ),
        *edges({AmendmentState.PROPOSED: [AmendmentState.DECLINED]}, by=OFFICERS),
        *edges({AmendmentState.PROPOSED: [AmendmentState.WITHDRAWN]}, by=OFFICERS | {RESEARCHER}),
    ],
)


class Amendment(models.Model):
    """A proposed change to the project's plan (§24) and, once approved, what it changed."""

    workflow: ClassVar[Workflow] = AMENDMENT_WORKFLOW

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="amendments")
    # The plan version the change set was written against; approval needs it current.
    base_version = models.PositiveIntegerField(_("plan version proposed against"))
    # The version the approval made (``base_version + 1``); null until approved.
    plan_version = models.PositiveIntegerField(_("plan version"), null=True, blank=True)
    state = models.CharField(
        _("state"),
        max_length=12,
        choices=AmendmentState.choices,
        default=AmendmentState.PROPOSED,
    )
    reason = models.TextField(_("reason"))
    # ``projects.rules.amendments``' change set, as proposed.
    changes = models.JSONField()
    # Before → after per changed value: the preview at proposal, what was applied at approval.
    diff = models.JSONField(default=list)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    # The ledger's re-commitment per side at approval (``{"JP": +n, "KR": -m}``).
    recommitted = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-proposed_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-proposed_at", "-id"], name="amendment_project_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="approved") | Q(plan_version__isnull=False),
                name="amendment_approved_has_version",
            ),
            # One approved amendment per plan version of a project.
            models.UniqueConstraint(
                fields=["project", "plan_version"], name="amendment_plan_version_unique"
            ),
        ]
        triggers = [AMENDMENT_WORKFLOW.trigger("amendment_state_fsm")]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.pk}"


class AmendmentDecision(TwoPersonDecision):
    """The two fund officers' approval of an amendment (§2, §24)."""

    audit_kind = "amendment_decision"

    amendment = models.ForeignKey(Amendment, on_delete=models.PROTECT, related_name="decisions")

    class Meta:
        ordering = ["-first_at", "-id"]
        constraints = [
            *two_person_constraints("amendment_decision"),
            models.UniqueConstraint(
                fields=["amendment"],
                condition=live_condition(),
                name="amendment_decision_one_live",
            ),
        ]


__all__ = ["AMENDMENT_WORKFLOW", "Amendment", "AmendmentDecision", "AmendmentState"]
