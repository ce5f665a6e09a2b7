"""Independent verification of KPI measurements (§22): the verifiers officers designate
for a project, and the verdicts they give.

A verifier is a person (of an organisation outside the consortium, or an expert the fund
appoints) or an organisation whose systems attest through the API with ``kpi:attest`` (a
certified lab). A designation may be limited to some of the project's KPIs; without a
limit it covers all of them. It is revoked, never edited or deleted.

A verdict (``MeasurementAttestation``) is a fact like the measurement it judges: the
database refuses to change or delete it. Each verifier gives at most one verdict per
measurement. Several verifiers may judge the same measurement; a dispute by any of them
outweighs any number of attestations (``projects.selectors.verification``).
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Organisation

from .projects import KPI, Measurement, Project


class VerifierAssignment(models.Model):
    """An officer's designation of a verifier for a project (§22)."""

    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="verifier_assignments"
    )
    verifier = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="verifier_assignments",
        verbose_name=_("verifier"),
    )
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="verifier_assignments",
        verbose_name=_("verifier organisation"),
        help_text=_("Its systems attest through the API with the kpi:attest scope."),
    )
    # Empty: every KPI of the project.
    kpis: models.ManyToManyField[KPI, VerifierAssignmentKPI] = models.ManyToManyField(
        KPI, blank=True, through="VerifierAssignmentKPI", related_name="verifier_assignments"
    )
    designated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    designated_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["designated_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(verifier__isnull=False, organisation__isnull=True)
                | Q(verifier__isnull=True, organisation__isnull=False),
                name="verifier_assignment_person_or_organisation",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_by__isnull=False),
                name="verifier_assignment_revoked_by_someone",
            ),
            models.UniqueConstraint(
                fields=["project", "verifier"],
                condition=Q(revoked_at__isnull=True, verifier__isnull=False),
                name="verifier_assignment_one_live_per_person",
            ),
            models.UniqueConstraint(
                fields=["project", "organisation"],
                condition=Q(revoked_at__isnull=True, organisation__isnull=False),
                name="verifier_assignment_one_live_per_organisation",
            ),
        ]
        indexes = [
            models.Index(
                fields=["verifier", "project"],
                condition=Q(revoked_at__isnull=True),
                name="verifier_assignment_live_idx",
            ),
            models.Index(
                fields=["organisation", "project"],
                condition=Q(revoked_at__isnull=True),
                name="verifier_assignment_org_idx",
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="verifier_assignment_no_delete", operation=pgtrigger.Delete),
            # A designation is only ever revoked, once: nothing else changes.
            pgtrigger.Protect(
                name="verifier_assignment_revoke_only",
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition(
                    "OLD.revoked_at IS NOT NULL"
                    " OR OLD.project_id IS DISTINCT FROM NEW.project_id"
                    " OR OLD.verifier_id IS DISTINCT FROM NEW.verifier_id"
                    " OR OLD.organisation_id IS DISTINCT FROM NEW.organisation_id"
                    " OR OLD.designated_by_id IS DISTINCT FROM NEW.designated_by_id"
                    " OR OLD.designated_at IS DISTINCT FROM NEW.designated_at"
                ),
            ),
        ]

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None


class VerifierAssignmentKPI(models.Model):
    """A KPI a designation is limited to; fixed with the designation."""

    assignment = models.ForeignKey(
        VerifierAssignment, on_delete=models.PROTECT, related_name="kpi_limits"
    )
    kpi = models.ForeignKey(KPI, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "kpi"], name="verifier_kpi_unique")
        ]
        indexes = [models.Index(fields=["kpi", "assignment"], name="verifier_kpi_by_kpi_idx")]
        triggers = [
            pgtrigger.Protect(
                name="verifier_kpi_immutable", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]


class AttestationVerdict(models.TextChoices):
    ATTESTED = "attested", _("Attested")
    DISPUTED = "disputed", _("Disputed")


class MeasurementAttestation(models.Model):
    """One verifier's verdict on one measurement, with their note (§22). Immutable."""

    measurement = models.ForeignKey(
        Measurement, on_delete=models.PROTECT, related_name="attestations"
    )
    # The designation it was given under (the project, and the person or organisation).
    assignment = models.ForeignKey(
        VerifierAssignment, on_delete=models.PROTECT, related_name="attestations"
    )
    verdict = models.CharField(_("verdict"), max_length=8, choices=AttestationVerdict.choices)
    note = models.TextField(_("note"), blank=True)
    verifier = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verifier_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The organisation whose system gave it (through one of its API keys).
    verifier_organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    verifier__isnull=False,
                    verifier_api_key__isnull=True,
                    verifier_organisation__isnull=True,
                )
                | Q(
                    verifier__isnull=True,
                    verifier_api_key__isnull=False,
                    verifier_organisation__isnull=False,
                ),
                name="attestation_by_person_or_system",
            ),
            models.CheckConstraint(
                condition=~Q(verdict="disputed") | ~Q(note=""),
                name="attestation_dispute_has_note",
            ),
            # One verdict per measurement and verifier (a person, or an organisation's
            # systems together).
            models.UniqueConstraint(
                fields=["measurement", "verifier"],
                condition=Q(verifier__isnull=False),
                name="attestation_one_per_person",
            ),
            models.UniqueConstraint(
                fields=["measurement", "verifier_organisation"],
                condition=Q(verifier_organisation__isnull=False),
                name="attestation_one_per_organisation",
            ),
        ]
        indexes = [models.Index(fields=["assignment", "measurement"], name="attestation_by_idx")]
        triggers = [
            pgtrigger.Protect(
                name="attestation_immutable", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]


__all__ = [
    "AttestationVerdict",
    "MeasurementAttestation",
    "VerifierAssignment",
    "VerifierAssignmentKPI",
]
