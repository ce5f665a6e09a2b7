"""Verifiers and their verdicts (§22): officers designate and revoke a project's
verifiers; a verifier attests or disputes each measurement of the KPIs assigned to it.

Designation applies the conflict rules of reviewers (§6): a person of a consortium
organisation, or one who shares an active project with one of the project's named people,
may not verify it; nor may a consortium organisation's systems. Fund staff are never
verifiers (they decide the gates the verdicts feed).

A verdict is immutable (the database refuses UPDATE and DELETE) and unique per measurement
and verifier; what several verdicts amount to is ``projects.selectors.verification``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Organisation, Role, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, NotFound, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.notices import page_url as _url
from fundapp.kernel.problems import Problems
from fundapp.notifications.services import notify
from projects.events import attestation_data, measurement_data
from projects.models import (
    KPI,
    AttestationVerdict,
    Measurement,
    MeasurementAttestation,
    Project,
    ProjectOrganisation,
    ProjectPerson,
    VerifierAssignment,
    VerifierAssignmentKPI,
)
from projects.permissions import can_attest, can_designate_verifier
from projects.selectors.conflicts import conflict_reasons
from projects.selectors.verification import covers, live_assignments_for
from projects.services.outbox import project_event_for

NOTE_MAX_LENGTH = 4000
VERIFIER_ROLES = (Role.RESEARCHER, Role.REVIEWER)


def verifier_label(assignment: VerifierAssignment) -> str:
    """The person or organisation a designation names, as people read it."""
    if assignment.verifier is not None:
        return str(assignment.verifier)
    return str(assignment.organisation)


def verifier_conflicts(project: Project, verifier: User) -> list[str]:
    """Why a person may not verify this project (§6, §22), each in the current language;
    empty when nothing excludes them."""
    return conflict_reasons(
        person=verifier,
        consortium=ProjectOrganisation.objects.filter(project=project),
        named_people=ProjectPerson.objects.filter(project=project),
        member_message=_("The verifier is a member of %(org)s, an organisation of the consortium."),
        shares_message=_(
            "The verifier shares the active project “%(project)s” with %(people)s of the "
            "consortium."
        ),
    )


def organisation_conflicts(project: Project, organisation: Organisation) -> list[str]:
    if ProjectOrganisation.objects.filter(project=project, organisation=organisation).exists():
        return [
            _("%(org)s is an organisation of the consortium; it may not verify its results.")
            % {"org": organisation.name}
        ]
    return []


def _audit_after(assignment: VerifierAssignment, kpis: Iterable[KPI]) -> dict[str, Any]:
    return {
        "assignment": assignment.pk,
        "verifier": verifier_label(assignment),
        "verifier_user": assignment.verifier_id,
        "verifier_organisation": assignment.organisation_id,
        "kpis": [kpi.code for kpi in kpis],
    }


def verifier_designate(
    *,
    project: Project,
    actor: Actor,
    verifier: User | None = None,
    organisation: Organisation | None = None,
    kpis: Iterable[KPI] = (),
) -> VerifierAssignment:
    """A fund officer designates a person or an organisation as a verifier of the project,
    optionally for some of its KPIs only (none given: all of them).

    Refused with the reasons (422, ``conflict_of_interest``) when the conflict rules
    exclude the verifier; 409 when they are already a live verifier of the project (revoke
    first to change the KPIs). Locks the project row, so two officers designating the same
    verifier at once make one designation. Audited on the project.
    """
    _require(can_designate_verifier(actor))
    assert isinstance(actor, User)  # fund officers are people
    if (verifier is None) == (organisation is None):
        message = _("Choose either a person or an organisation as the verifier.")
        raise ValidationFailed(message, errors={"verifier": [message]})
    if verifier is not None and (not verifier.is_active or verifier.role not in VERIFIER_ROLES):
        message = _("A verifier is a researcher or an external expert, not fund staff.")
        raise ValidationFailed(message, errors={"verifier": [message]})
    chosen = sorted(set(kpis), key=lambda kpi: kpi.pk)
    if any(kpi.project_id != project.pk for kpi in chosen):
        message = _("Choose KPIs of this project.")
        raise ValidationFailed(message, errors={"kpis": [message]})
    with transaction.atomic():
        locked = Project.objects.select_for_update(of=("self",), no_key=True).get(pk=project.pk)
        if verifier is not None:
            reasons = verifier_conflicts(locked, verifier)
            live = VerifierAssignment.objects.filter(project=locked, verifier=verifier)
        else:
            assert organisation is not None
            reasons = organisation_conflicts(locked, organisation)
            live = VerifierAssignment.objects.filter(project=locked, organisation=organisation)
        if reasons:
            raise ValidationFailed(
                _("This verifier has a conflict of interest with the project."),
                errors={"verifier": reasons},
                code="conflict_of_interest",
            )
        if live.filter(revoked_at__isnull=True).exists():
            raise Conflict(
                _(
                    "This verifier is already designated for the project; revoke the "
                    "designation first to change its KPIs."
                ),
                code="already_designated",
            )
        assignment = VerifierAssignment.objects.create(
            project=locked, verifier=verifier, organisation=organisation, designated_by=actor
        )
        VerifierAssignmentKPI.objects.bulk_create(
            VerifierAssignmentKPI(assignment=assignment, kpi=kpi) for kpi in chosen
        )
        audit_record(
            actor=actor,
            action="verifier.designated",
            obj=locked,
            after=_audit_after(assignment, chosen),
        )
        if verifier is not None:
            notify(
                users=[verifier],
                message="verifier.designated",
                params={"project": locked.pk},
                url=_url("verification:queue"),
            )
    return assignment


def verifier_revoke(*, assignment: VerifierAssignment, actor: Actor) -> VerifierAssignment:
    """A fund officer ends a designation. The verdicts already given stay. Locks the
    designation; a second revocation answers 409. Audited on the project."""
    _require(can_designate_verifier(actor))
    assert isinstance(actor, User)
    with transaction.atomic():
        locked = (
            VerifierAssignment.objects.select_for_update(of=("self",))
            .select_related("verifier", "organisation", "project")
            .get(pk=assignment.pk)
        )
        if locked.revoked_at is not None:
            raise Conflict(_("This designation has already been revoked."), code="already_revoked")
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor
        locked.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(
            actor=actor,
            action="verifier.revoked",
            obj=locked.project,
            before={"revoked": False},
            after={**_audit_after(locked, locked.kpis.order_by("id")), "revoked": True},
        )
    return locked


def _covering_assignment(actor: Actor, measurement: Measurement) -> VerifierAssignment:
    """The actor's live designation covering the measurement's KPI, locked (so it cannot be
    revoked under the verdict); 404 when there is none."""
    candidates = (
        live_assignments_for(actor)
        .select_for_update(of=("self",), no_key=True)
        .filter(project_id=measurement.project_id)
        .order_by("pk")
    )
    for assignment in candidates:
        limits = assignment.kpi_limits.values_list("kpi_id", flat=True)
        if covers(assignment, measurement.kpi_id, limits):
            return assignment
    raise NotFound()


def measurement_attest(
    *, measurement: Measurement, actor: Actor, verdict: str, note: Any = ""
) -> MeasurementAttestation:
    """A designated verifier attests or disputes a measurement, with a note (required to
    dispute).

    Locks the verifier's designation, then the measurement. 404 when no live designation
    of the actor covers the measurement's KPI; 409 for a rejected measurement or when this
    verifier (a person, or an organisation's systems together) has already given a verdict
    on it. The verdict cannot be changed afterwards. Audited on the measurement; the event
    ``measurement.attested`` / ``measurement.disputed`` goes to the project's organisations.
    """
    _require(can_attest(actor))
    if verdict not in AttestationVerdict.values:
        message = _("Choose whether you attest or dispute the measurement.")
        raise ValidationFailed(message, errors={"verdict": [message]})
    disputing = verdict == AttestationVerdict.DISPUTED
    problems = Problems()
    text = inputs.text(problems, "note", note, max_length=NOTE_MAX_LENGTH, required=disputing)
    if problems:
        message = (
            _("Say why you dispute the measurement.")
            if disputing and not text
            else _("Check the note.")
        )
        raise ValidationFailed(message, errors=problems.as_dict())
    with transaction.atomic():
        assignment = _covering_assignment(actor, measurement)
        locked = Measurement.objects.select_for_update(of=("self",), no_key=True).get(
            pk=measurement.pk
        )
        if locked.rejected_at is not None:
            raise Conflict(
                _("This measurement was rejected by the fund; it needs no verdict."),
                code="measurement_rejected",
            )
        key = actor if isinstance(actor, ApiKey) else None
        person = actor if isinstance(actor, User) else None
        mine = MeasurementAttestation.objects.filter(measurement=locked)
        mine = (
            mine.filter(verifier_organisation_id=key.organisation_id)
            if key is not None
            else mine.filter(verifier=person)
        )
        if mine.exists():
            raise Conflict(
                _("You have already given your verdict on this measurement."),
                code="already_judged",
            )
        try:
            with transaction.atomic():
                attestation = MeasurementAttestation.objects.create(
                    measurement=locked,
                    assignment=assignment,
                    verdict=verdict,
                    note=text,
                    verifier=person,
                    verifier_api_key=key,
                    verifier_organisation_id=key.organisation_id if key is not None else None,
                )
        except IntegrityError:
            # Another system of the same organisation judged it at the same moment.
            raise Conflict(
                _("You have already given your verdict on this measurement."),
                code="already_judged",
            ) from None
        kind = "measurement.disputed" if disputing else "measurement.attested"
        audit_record(
            actor=actor,
            action=kind,
            obj=locked,
            # Without a note the history reads the short sentence ("… attested a KPI
            # measurement"), not one ending in an empty quote.
            after={
                "attestation": attestation.pk,
                "verdict": verdict,
                "assignment": assignment.pk,
                **({"note": text} if text else {}),
            },
        )
        project_event_for(
            kind,
            locked,
            project_id=locked.project_id,
            data=lambda m: {**measurement_data(m), "attestation": attestation_data(attestation)},
        )
        if disputing:
            # The project's named people hear of it while they can still answer it.
            notify(
                users=list(
                    User.objects.filter(project_roles__project_id=locked.project_id).distinct()
                ),
                message="measurement.disputed",
                params={"kpi": measurement.kpi.code, "note": text},
                url=_url("measurements:list", locked.project_id),
            )
    return attestation
