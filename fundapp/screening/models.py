"""Restricted parties and screening cases (§11).

The kernel knows nothing of proposals or licences: a case is about a *subject*
(``subject_type`` such as ``"proposal"`` or ``"licence"``, ``subject_id``) with a label and
a link the caller supplies. Changes go through ``fundapp.screening.services`` only.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fundapp.workflow import ADMIN, SCREENING_OFFICER, SYSTEM, Workflow, edges


class RestrictedParty(models.Model):
    """One entry of a restricted-party list, loaded by ``import_restricted_parties``.

    ``normalized_names`` holds the normalized name and every normalized alias; screening
    asks PostgreSQL for ``normalized_names && ARRAY[…]`` through the GIN index, so a
    list of any length costs one indexed query per screening.
    """

    name = models.CharField(_("name"), max_length=300)
    aliases = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    country = models.CharField(_("country"), max_length=2)
    source = models.CharField(_("source"), max_length=100)
    normalized_name = models.CharField(max_length=300, editable=False)
    normalized_names = ArrayField(models.CharField(max_length=300), default=list, editable=False)
    imported_at = models.DateTimeField(_("imported at"), default=timezone.now)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("restricted party")
        verbose_name_plural = _("restricted parties")
        constraints = [
            # The import's idempotency key: one row per (normalized name, country, source).
            models.UniqueConstraint(
                fields=["normalized_name", "country", "source"],
                name="screening_party_unique_per_source",
            ),
        ]
        indexes = [GinIndex(fields=["normalized_names"], name="screening_party_names_gin")]

    def __str__(self) -> str:
        return f"{self.name} ({self.country}, {self.source})"


class ScreeningState(models.TextChoices):
    OPEN = "open", pgettext_lazy("screening state", "Open")
    CLEARED = "cleared", pgettext_lazy("screening state", "Cleared")
    BLOCKED = "blocked", pgettext_lazy("screening state", "Blocked")
    # A cleared case that new restricted-party matches replaced with a new open case. It
    # keeps its decision unchanged as the record of what was cleared, and is no longer live.
    SUPERSEDED = "superseded", pgettext_lazy("screening state", "Superseded")


# Only the services assign ``state``, and only along these edges: open → cleared | blocked
# by a screening officer (screening_case_decide); cleared → superseded by the system when
# new matches appear (screening_case_open). Blocked is final.
SCREENING_WORKFLOW = Workflow(
    name="screening case",
    states=ScreeningState,
    refusal=_("This screening case cannot become “%(target)s”."),
    edges=[
        *edges(
            {ScreeningState.OPEN: [ScreeningState.CLEARED, ScreeningState.BLOCKED]},
            by={SCREENING_OFFICER, ADMIN},
        ),
        *edges({ScreeningState.CLEARED: [ScreeningState.SUPERSEDED]}, by={SYSTEM}),
    ],
)
LIVE_STATES = (ScreeningState.OPEN, ScreeningState.CLEARED, ScreeningState.BLOCKED)


class ScreeningCase(models.Model):
    workflow: ClassVar[Workflow] = SCREENING_WORKFLOW

    subject_type = models.CharField(_("subject type"), max_length=32)
    subject_id = models.BigIntegerField(_("subject id"))
    subject_label = models.CharField(_("subject"), max_length=300)
    subject_url = models.CharField(_("subject link"), max_length=500, blank=True)
    # [{"code": "dual_use", "detail": "…"}]; codes are listed in fundapp.screening.reasons.
    reasons = models.JSONField(_("reasons"), default=list)
    # The organisations screened: [{"organisation_id", "name", "aliases", "country"}].
    parties = models.JSONField(_("organisations screened"), default=list)
    # [{"party_id", "party_name", "party_country", "party_source", "matched_name",
    #   "normalized", "organisation", "organisation_name"}]
    matches = models.JSONField(_("restricted-party matches"), default=list)
    state = models.CharField(
        _("state"), max_length=16, choices=ScreeningState.choices, default=ScreeningState.OPEN
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("reason"), blank=True)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    previous = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="successor",
        verbose_name=_("previous case"),
    )

    class Meta:
        ordering = ["-opened_at", "-pk"]
        triggers = [SCREENING_WORKFLOW.trigger("screening_case_state_fsm")]
        verbose_name = _("screening case")
        verbose_name_plural = _("screening cases")
        constraints = [
            models.UniqueConstraint(
                fields=["subject_type", "subject_id"],
                condition=~Q(state="superseded"),
                name="screening_one_live_case_per_subject",
            ),
            models.CheckConstraint(
                condition=Q(state="open", decided_at__isnull=True)
                | (~Q(state="open") & Q(decided_at__isnull=False)),
                name="screening_decided_has_time",
            ),
        ]
        indexes = [models.Index(fields=["state", "-opened_at"], name="screening_case_queue")]

    def __str__(self) -> str:
        return f"{self.subject_label} ({self.get_state_display()})"

    @property
    def has_matches(self) -> bool:
        return bool(self.matches)

    @property
    def is_live(self) -> bool:
        return self.state != ScreeningState.SUPERSEDED
