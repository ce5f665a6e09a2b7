"""What verifiers see and what their verdicts amount to (§22).

A verifier sees only the measurements of the KPIs its live designations cover (a
designation without a KPI limit covers every KPI of its project): not the project page, not
other KPIs. Everyone else gets the same 404 for these measurements as for missing ones.

The verification state of a measurement, read in sets for the gate rule:

- ``disputed`` when any verifier disputed it, whatever others said (a later attestation by
  another verifier does not clear a dispute; only an officer's rejection or an amendment
  of the evidence does);
- ``attested`` when at least one verifier attested it and none disputed it;
- ``unverified`` otherwise.

Verdicts given under a designation that was revoked later keep counting: they were given
by a verifier entitled to give them and are part of the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Value, When

from fundapp.accounts.models import ApiKey, Scope, User
from fundapp.actors import Actor
from fundapp.errors import NotFound
from projects.models import (
    AttestationVerdict,
    Measurement,
    MeasurementAttestation,
    VerifierAssignment,
    VerifierAssignmentKPI,
)

UNVERIFIED = "unverified"
ATTESTED = AttestationVerdict.ATTESTED.value
DISPUTED = AttestationVerdict.DISPUTED.value
VERIFICATION_STATES = (UNVERIFIED, ATTESTED, DISPUTED)


def _int(pk: object) -> int:
    try:
        return int(str(pk))
    except (TypeError, ValueError):
        raise NotFound() from None


def live_assignments_for(actor: Actor | None) -> QuerySet[VerifierAssignment]:
    """The actor's designations in force: a person's own, or, for an API key with
    ``kpi:attest``, its organisation's."""
    live = VerifierAssignment.objects.filter(revoked_at__isnull=True)
    if isinstance(actor, ApiKey):
        if not actor.is_usable() or not actor.has_scope(Scope.KPI_ATTEST):
            return live.none()
        return live.filter(organisation_id=actor.organisation_id)
    if isinstance(actor, User) and actor.is_authenticated and actor.is_active:
        return live.filter(verifier_id=actor.pk)
    return live.none()


def covers(assignment: VerifierAssignment, kpi_id: int, limited_kpi_ids: Iterable[int]) -> bool:
    """Whether a designation (with the ids of the KPIs it is limited to) covers a KPI."""
    limits = set(limited_kpi_ids)
    return not limits or kpi_id in limits


def verifiable_measurements(actor: Actor | None) -> QuerySet[Measurement]:
    """The measurements the actor may judge, as one query: those of the projects of its
    unlimited designations, and those of the KPIs its limited designations name."""
    assignments = live_assignments_for(actor)
    unlimited = assignments.exclude(
        Exists(VerifierAssignmentKPI.objects.filter(assignment=OuterRef("pk")))
    ).values("project_id")
    limited = VerifierAssignmentKPI.objects.filter(assignment__in=assignments).values("kpi_id")
    return Measurement.objects.filter(Q(project_id__in=unlimited) | Q(kpi_id__in=limited))


def get_measurement_for_verifier(actor: Actor | None, pk: object) -> Measurement:
    """A measurement the actor may judge; missing and not-assigned are the same 404."""
    measurement = (
        verifiable_measurements(actor)
        .select_related("kpi__stage", "project")
        .filter(pk=_int(pk))
        .first()
    )
    if measurement is None:
        raise NotFound()
    return measurement


def verification_queue(actor: Actor | None) -> QuerySet[Measurement]:
    """The measurements awaiting the actor's verdict, oldest first: covered by a live
    designation, not rejected, not yet judged by this verifier."""
    mine = MeasurementAttestation.objects.filter(measurement=OuterRef("pk"))
    if isinstance(actor, ApiKey):
        mine = mine.filter(verifier_organisation_id=actor.organisation_id)
    else:
        mine = mine.filter(verifier_id=getattr(actor, "pk", None))
    return (
        verifiable_measurements(actor)
        .filter(rejected_at__isnull=True)
        .exclude(Exists(mine))
        .select_related("kpi__stage", "project")
        .order_by("measured_at", "id")
    )


def verdicts_given_by(user: User) -> QuerySet[MeasurementAttestation]:
    """A person's own verdicts, newest first, with what a table shows of each."""
    return (
        MeasurementAttestation.objects.filter(verifier=user)
        .select_related("measurement__kpi", "measurement__project")
        .order_by("-created_at", "-id")
    )


def with_verification(qs: QuerySet[Measurement]) -> QuerySet[Measurement]:
    """``qs`` annotated with ``verification`` (``unverified`` / ``attested`` /
    ``disputed``), computed in the same query."""
    verdicts = MeasurementAttestation.objects.filter(measurement=OuterRef("pk"))
    return qs.annotate(
        verification=Case(
            When(Exists(verdicts.filter(verdict=DISPUTED)), then=Value(DISPUTED)),
            When(Exists(verdicts.filter(verdict=ATTESTED)), then=Value(ATTESTED)),
            default=Value(UNVERIFIED),
        )
    )


def verification_states(measurement_ids: Iterable[int]) -> dict[int, str]:
    """The verification state of each measurement, in one query (every id answered)."""
    ids = sorted(set(measurement_ids))
    states = dict.fromkeys(ids, UNVERIFIED)
    rows = (
        MeasurementAttestation.objects.filter(measurement_id__in=ids)
        .values_list("measurement_id", "verdict")
        .distinct()
    )
    for measurement_id, verdict in rows:
        if verdict == DISPUTED or states[measurement_id] == UNVERIFIED:
            states[measurement_id] = verdict
    return states


def verification_state_of(verdicts: Iterable[Any]) -> str:
    """The state from a measurement's verdicts already loaded (objects with ``verdict``)."""
    seen = {v.verdict for v in verdicts}
    if DISPUTED in seen:
        return DISPUTED
    return ATTESTED if ATTESTED in seen else UNVERIFIED


def project_assignments(project_id: int) -> QuerySet[VerifierAssignment]:
    """A project's designations, live first, each with its person or organisation and KPIs."""
    return (
        VerifierAssignment.objects.filter(project_id=project_id)
        .select_related("verifier", "organisation", "designated_by", "revoked_by")
        .prefetch_related("kpis")
        .order_by(Case(When(revoked_at__isnull=True, then=Value(0)), default=Value(1)), "id")
    )
