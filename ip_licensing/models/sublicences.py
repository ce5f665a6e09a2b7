"""The licensor's consent to a sublicence (§23).

A sublicence is a ``Licence`` with a ``parent``; what it adds is the consent of the parent's
licensor (the asset owner), asked for when the parent's licensee grants it and given or
refused by the licensor's people (or a fund officer). Ending the parent ends a consent still
asked for.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.workflow import APPLICANTS, OFFICERS, SYSTEM, Workflow, edges

from .licences import Licence


class ConsentState(models.TextChoices):
    REQUESTED = "requested", _("Consent requested")
    CONSENTED = "consented", _("Consented")
    REFUSED = "refused", _("Consent refused")
    CANCELLED = "cancelled", _("Cancelled")


# The licensor's people (or its partner system) and fund officers consent or refuse; the
# consent asked for ends with the parent licence (cancelled by the fund's own code).
CONSENT_WORKFLOW = Workflow(
    name="sublicence_consent",
    states=ConsentState,
    refusal=_("A consent that is “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {ConsentState.REQUESTED: [ConsentState.CONSENTED, ConsentState.REFUSED]},
            by=APPLICANTS | OFFICERS,
        ),
        *edges({ConsentState.REQUESTED: [ConsentState.CANCELLED]}, by=OFFICERS | {SYSTEM}),
    ],
)


class SublicenceConsent(models.Model):
    workflow: ClassVar[Workflow] = CONSENT_WORKFLOW

    sublicence = models.OneToOneField(
        Licence, on_delete=models.PROTECT, related_name="consent", verbose_name=_("sublicence")
    )
    state = models.CharField(
        _("state"), max_length=12, choices=ConsentState.choices, default=ConsentState.REQUESTED
    )
    requested_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("sublicence consent")
        verbose_name_plural = _("sublicence consents")
        indexes = [models.Index(fields=["state"], name="sublicence_consent_state_idx")]
        triggers = [CONSENT_WORKFLOW.trigger("sublicence_consent_fsm")]

    def __str__(self) -> str:
        return f"{self.sublicence_id}: {self.state}"
