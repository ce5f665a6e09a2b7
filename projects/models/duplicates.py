"""Duplicate-funding flags (§5, §22): a proposal whose people are already on another
pending proposal or active project with a similar title or abstract, for an officer to
resolve before the award completes."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fundapp.workflow import OFFICERS, Workflow, edges

from .projects import Project
from .proposals import Proposal


class DuplicateFlagState(models.TextChoices):
    OPEN = "open", pgettext_lazy("duplicate flag state", "Open")
    RESOLVED = "resolved", pgettext_lazy("duplicate flag state", "Resolved")


class DuplicateResolution(models.TextChoices):
    NOT_DUPLICATE = "not_duplicate", _("Not a duplicate")
    REDUCE_EFFORT = "reduce_effort", _("Duplicate accepted: effort to be reduced")
    REFUSE = "refuse", _("Duplicate: refuse the award")


class DuplicateCheckPoint(models.TextChoices):
    SUBMISSION = "submission", _("At submission")
    AWARD = "award", _("Before the award")


# §22: the fund's check raises a flag open; a fund officer resolves it with a recorded
# resolution (final: a later check never reopens it, the unique pair keeps it single).
DUPLICATE_FLAG_WORKFLOW = Workflow(
    name="duplicate-funding flag",
    states=DuplicateFlagState,
    refusal=_("A duplicate-funding flag in state “%(state)s” cannot become “%(target)s”."),
    edges=edges({DuplicateFlagState.OPEN: [DuplicateFlagState.RESOLVED]}, by=OFFICERS),
)


class DuplicateFundingFlag(models.Model):
    """``proposal`` (the one checked) shares a person — by e-Rad number, Korean researcher
    number or ORCID iD — with ``matched_proposal`` (pending, or awarded with the running
    ``matched_project``), and a title or abstract in the same language is similar."""

    workflow: ClassVar[Workflow] = DUPLICATE_FLAG_WORKFLOW

    proposal = models.ForeignKey(
        Proposal,
        on_delete=models.CASCADE,
        related_name="duplicate_flags",
        verbose_name=_("proposal"),
    )
    matched_proposal = models.ForeignKey(
        Proposal, on_delete=models.CASCADE, related_name="+", verbose_name=_("matched proposal")
    )
    matched_project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("matched project"),
    )
    # [{"kind": "erad" | "kr_researcher_number" | "orcid", "value", "person", "matched_person"}]
    identifiers = models.JSONField(default=list)
    # {"title_en": "0.734", "abstract_ja": "0.512", …}: every language field given on both
    # sides, as decimal strings (pg_trgm similarity, three places).
    similarity = models.JSONField(default=dict)
    best_similarity = models.DecimalField(max_digits=4, decimal_places=3)
    raised_at = models.DateTimeField(default=timezone.now)
    raised_during = models.CharField(max_length=16, choices=DuplicateCheckPoint.choices)
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=DuplicateFlagState.choices,
        default=DuplicateFlagState.OPEN,
    )
    resolution = models.CharField(
        _("resolution"), max_length=16, choices=DuplicateResolution.choices, blank=True
    )
    resolution_note = models.TextField(_("reason"), blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        verbose_name = _("duplicate-funding flag")
        verbose_name_plural = _("duplicate-funding flags")
        triggers = [DUPLICATE_FLAG_WORKFLOW.trigger("duplicate_flag_state_fsm")]
        indexes = [
            models.Index(fields=["state", "-raised_at", "-id"], name="duplicate_flag_list_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["proposal", "matched_proposal"], name="duplicate_flag_unique_pair"
            ),
            models.CheckConstraint(
                condition=~Q(proposal=F("matched_proposal")), name="duplicate_flag_not_self"
            ),
            models.CheckConstraint(
                condition=(Q(state="open") & Q(resolution="") & Q(resolved_at__isnull=True))
                | (Q(state="resolved") & ~Q(resolution="") & Q(resolved_at__isnull=False)),
                name="duplicate_flag_resolution_recorded",
            ),
        ]

    def __str__(self) -> str:
        return _("Duplicate-funding flag #%(id)s") % {"id": self.pk}
