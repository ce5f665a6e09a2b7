"""Verifiers and their verdicts (§22): designation with the conflict rules of §6,
revocation, attest/dispute, what several verdicts amount to, and the database refusing to
change the record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, InternalError, ProgrammingError, transaction
from django.utils import timezone
from django.utils.translation import override

from fundapp.accounts.models import Role, Scope
from fundapp.accounts.templatetags.fund_format import audit_sentence
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundapp.notifications.models import Notification
from projects.models import (
    AttestationVerdict,
    Measurement,
    MeasurementAttestation,
    ProjectPerson,
    VerifierAssignment,
    VerifierAssignmentKPI,
)
from projects.selectors.verification import (
    verifiable_measurements,
    verification_queue,
    verification_states,
    with_verification,
)
from projects.services.verification import (
    measurement_attest,
    verifier_designate,
    verifier_revoke,
)
from tests.factories import UserFactory, jp_org, kr_org, member_of
from tests.factories.gates import api_key, build_project, measure
from tests.outbox import events_of, the_event

pytestmark = pytest.mark.django_db

DATABASE_REFUSES = (InternalError, IntegrityError, ProgrammingError)


def recent(hours: int = 1):
    return timezone.now() - timedelta(hours=hours)


def expert(**kwargs):
    return UserFactory.create(role=Role.REVIEWER, display_name="Dr. Verifier", **kwargs)


def consortium_ids(built) -> list[int]:
    return [built.extra["jp"].pk, built.extra["kr"].pk]


# --------------------------------------------------------------------------- designation


def test_an_officer_designates_a_verifier_for_some_kpis():
    built = build_project()
    person = expert()

    assignment = verifier_designate(
        project=built.project, actor=built.officer, verifier=person, kpis=[built.kpis["K1A"]]
    )

    assert assignment.verifier == person
    assert assignment.designated_by == built.officer
    assert list(assignment.kpis.values_list("code", flat=True)) == ["K1A"]
    event = AuditEvent.objects.get(action="verifier.designated")
    assert event.object_id == str(built.project.pk)
    assert event.after is not None
    assert event.after["verifier"] == "Dr. Verifier"
    assert event.after["kpis"] == ["K1A"]
    notice = Notification.objects.get(user=person)
    assert notice.kind == "verifier_designated"
    assert built.project.title in notice.shown_title
    assert notice.url == "/verifications/"


@pytest.mark.parametrize("who", ["researcher", "office", "stranger", "verifier"])
def test_only_fund_officers_designate(who):
    built = build_project()
    actor = expert() if who == "verifier" else getattr(built, who)

    with pytest.raises(PermissionDenied):
        verifier_designate(project=built.project, actor=actor, verifier=expert())

    assert not VerifierAssignment.objects.exists()


def test_a_person_of_a_consortium_organisation_may_not_verify():
    built = build_project()
    insider = member_of(built.extra["kr"], role=Role.REVIEWER)

    with override("ja"), pytest.raises(ValidationFailed) as refused:
        verifier_designate(project=built.project, actor=built.officer, verifier=insider)

    assert refused.value.code == "conflict_of_interest"
    (reason,) = refused.value.errors["verifier"]
    assert built.extra["kr"].name_ja in reason
    assert "コンソーシアム" in reason
    assert not VerifierAssignment.objects.exists()


def test_a_person_sharing_an_active_project_with_the_consortium_may_not_verify():
    built = build_project()
    other = build_project()
    colleague = member_of(jp_org(), role=Role.RESEARCHER, username="colleague")
    # The colleague and this project's PI work together on the other project.
    for person in (colleague, built.researcher):
        ProjectPerson.objects.create(
            project=other.project,
            organisation=other.extra["jp"],
            user=person,
            role="co",
            effort_percent=10,
        )

    with pytest.raises(ValidationFailed) as refused:
        verifier_designate(project=built.project, actor=built.officer, verifier=colleague)

    (reason,) = refused.value.errors["verifier"]
    assert other.project.title in reason


def test_a_consortium_organisation_may_not_verify_through_its_systems():
    built = build_project()

    with pytest.raises(ValidationFailed) as refused:
        verifier_designate(
            project=built.project, actor=built.officer, organisation=built.extra["jp"]
        )

    assert refused.value.code == "conflict_of_interest"


def test_fund_staff_are_not_verifiers():
    built = build_project()

    with pytest.raises(ValidationFailed):
        verifier_designate(project=built.project, actor=built.officer, verifier=built.officer_kr)


def test_kpis_of_another_project_are_refused():
    built, other = build_project(), build_project()

    with pytest.raises(ValidationFailed) as refused:
        verifier_designate(
            project=built.project,
            actor=built.officer,
            verifier=expert(),
            kpis=[other.kpis["K1A"]],
        )

    assert "kpis" in refused.value.errors


def test_a_live_verifier_is_not_designated_twice():
    built = build_project()
    person = expert()
    verifier_designate(project=built.project, actor=built.officer, verifier=person)

    with pytest.raises(Conflict):
        verifier_designate(project=built.project, actor=built.officer_kr, verifier=person)

    assert VerifierAssignment.objects.count() == 1


def test_revoking_ends_the_designation_and_keeps_the_verdicts():
    built = build_project()
    person = expert()
    assignment = verifier_designate(project=built.project, actor=built.officer, verifier=person)
    m = measure(built.kpis["K1A"], "15", recent())
    measurement_attest(measurement=m, actor=person, verdict="attested", note="ok")
    later = measure(built.kpis["K1A"], "16", recent())

    verifier_revoke(assignment=assignment, actor=built.officer_kr)

    assignment.refresh_from_db()
    assert assignment.revoked_by == built.officer_kr
    assert AuditEvent.objects.filter(action="verifier.revoked").count() == 1
    assert verification_states([m.pk]) == {m.pk: "attested"}
    with pytest.raises(NotFound):
        measurement_attest(measurement=later, actor=person, verdict="attested")
    with pytest.raises(Conflict):
        verifier_revoke(assignment=assignment, actor=built.officer)
    # Designated again afterwards: a new designation.
    verifier_designate(project=built.project, actor=built.officer, verifier=person)


# --------------------------------------------------------------------------- verdicts


def test_a_verifier_attests_a_measurement_of_an_assigned_kpi():
    built = build_project()
    person = expert()
    verifier_designate(project=built.project, actor=built.officer, verifier=person)
    m = measure(built.kpis["K1A"], "15", recent())

    attestation = measurement_attest(
        measurement=m, actor=person, verdict="attested", note="Bench log checked"
    )

    assert attestation.verdict == AttestationVerdict.ATTESTED
    assert attestation.verifier == person
    audit = AuditEvent.objects.get(action="measurement.attested")
    assert audit.object_type == "projects.measurement"
    assert audit.object_id == str(m.pk)
    assert audit.after is not None
    assert audit.after["note"] == "Bench log checked"
    data = the_event("measurement.attested", m, organisations=consortium_ids(built))
    assert data["attestation"]["verdict"] == "attested"
    assert data["attestation"]["verifier"] == person.pk
    assert data["id"] == m.pk


def test_a_dispute_needs_a_note_and_is_recorded():
    built = build_project()
    person = expert()
    verifier_designate(project=built.project, actor=built.officer, verifier=person)
    m = measure(built.kpis["K1A"], "15", recent())

    with pytest.raises(ValidationFailed) as refused:
        measurement_attest(measurement=m, actor=person, verdict="disputed", note="  ")
    assert "note" in refused.value.errors
    assert not MeasurementAttestation.objects.exists()
    assert not events_of("measurement.disputed")

    measurement_attest(measurement=m, actor=person, verdict="disputed", note="Wrong chip")

    data = the_event("measurement.disputed", m, organisations=consortium_ids(built))
    assert data["attestation"]["note"] == "Wrong chip"
    # The project's named people are told.
    told = Notification.objects.filter(kind="measurement_disputed")
    assert set(told.values_list("user", flat=True)) == {
        built.researcher.pk,
        built.researcher_kr.pk,
    }
    assert "K1A" in told.first().shown_title  # type: ignore[union-attr]
    assert "Wrong chip" in told.first().shown_body  # type: ignore[union-attr]


def test_one_verdict_per_verifier_and_measurement():
    built = build_project()
    person = expert()
    verifier_designate(project=built.project, actor=built.officer, verifier=person)
    m = measure(built.kpis["K1A"], "15", recent())
    measurement_attest(measurement=m, actor=person, verdict="attested")

    with pytest.raises(Conflict):
        measurement_attest(measurement=m, actor=person, verdict="disputed", note="changed mind")

    assert MeasurementAttestation.objects.count() == 1


def test_a_dispute_by_any_verifier_outweighs_attestations():
    built = build_project()
    first, second = expert(), expert()
    for person in (first, second):
        verifier_designate(project=built.project, actor=built.officer, verifier=person)
    attested, disputed, untouched = (
        measure(built.kpis["K1A"], value, recent()) for value in ("15", "16", "17")
    )
    measurement_attest(measurement=attested, actor=first, verdict="attested")
    measurement_attest(measurement=disputed, actor=first, verdict="attested")
    measurement_attest(measurement=disputed, actor=second, verdict="disputed", note="No log")

    ids = [attested.pk, disputed.pk, untouched.pk]
    assert verification_states(ids) == {
        attested.pk: "attested",
        disputed.pk: "disputed",
        untouched.pk: "unverified",
    }
    annotated = {
        m.pk: m.verification  # type: ignore[attr-defined]
        for m in with_verification(Measurement.objects.filter(pk__in=ids))
    }
    assert annotated == verification_states(ids)


def test_a_limited_designation_covers_only_its_kpis():
    built = build_project()
    person = expert()
    verifier_designate(
        project=built.project, actor=built.officer, verifier=person, kpis=[built.kpis["K1A"]]
    )
    covered = measure(built.kpis["K1A"], "15", recent())
    outside = measure(built.kpis["K1B"], "15", recent())
    elsewhere = measure(build_project().kpis["K1A"], "15", recent())

    assert list(verifiable_measurements(person)) == [covered]
    assert list(verification_queue(person)) == [covered]
    for m in (outside, elsewhere):
        with pytest.raises(NotFound):
            measurement_attest(measurement=m, actor=person, verdict="attested")


def test_the_queue_drops_judged_and_rejected_measurements():
    built = build_project()
    person = expert()
    verifier_designate(project=built.project, actor=built.officer, verifier=person)
    judged, rejected, waiting = (
        measure(built.kpis["K1A"], value, recent()) for value in ("15", "16", "17")
    )
    measurement_attest(measurement=judged, actor=person, verdict="attested")
    Measurement.objects.filter(pk=rejected.pk).update(
        rejected_at=timezone.now(), rejected_by=built.officer, rejection_reason="unit"
    )

    assert list(verification_queue(person)) == [waiting]
    with pytest.raises(Conflict):
        measurement_attest(measurement=rejected, actor=person, verdict="attested")


def test_a_verifier_organisations_system_attests_with_kpi_attest():
    built = build_project()
    lab = kr_org()
    verifier_designate(project=built.project, actor=built.officer, organisation=lab)
    m = measure(built.kpis["K1A"], "15", recent())
    without_scope = api_key(lab, [Scope.PROJECTS_READ])
    key, other_key = api_key(lab, [Scope.KPI_ATTEST]), api_key(lab, [Scope.KPI_ATTEST])

    with pytest.raises(PermissionDenied):
        measurement_attest(measurement=m, actor=without_scope, verdict="attested")
    attestation = measurement_attest(measurement=m, actor=key, verdict="attested")

    assert attestation.verifier_organisation == lab
    assert attestation.verifier_api_key == key
    assert AuditEvent.objects.get(action="measurement.attested").actor_api_key_id == key.pk
    # The organisation's systems give one verdict together.
    with pytest.raises(Conflict):
        measurement_attest(measurement=m, actor=other_key, verdict="disputed", note="x")


@pytest.mark.parametrize("who", ["researcher", "officer", "office", "stranger"])
def test_people_who_are_not_designated_cannot_attest(who):
    built = build_project()
    verifier_designate(project=built.project, actor=built.officer, verifier=expert())
    m = measure(built.kpis["K1A"], "15", recent())

    with pytest.raises((PermissionDenied, NotFound)):
        measurement_attest(measurement=m, actor=getattr(built, who), verdict="attested")

    assert not MeasurementAttestation.objects.exists()


# --------------------------------------------------------------------------- the record


def test_the_database_refuses_to_change_or_delete_a_verdict():
    built = build_project()
    person = expert()
    verifier_designate(project=built.project, actor=built.officer, verifier=person)
    m = measure(built.kpis["K1A"], "15", recent())
    attestation = measurement_attest(measurement=m, actor=person, verdict="attested", note="ok")

    with pytest.raises(DATABASE_REFUSES), transaction.atomic():
        MeasurementAttestation.objects.filter(pk=attestation.pk).update(verdict="disputed")
    with pytest.raises(DATABASE_REFUSES), transaction.atomic():
        MeasurementAttestation.objects.filter(pk=attestation.pk).delete()

    attestation.refresh_from_db()
    assert attestation.verdict == "attested"


def test_the_database_lets_a_designation_be_revoked_once_and_nothing_else():
    built = build_project()
    assignment = verifier_designate(
        project=built.project, actor=built.officer, verifier=expert(), kpis=[built.kpis["K1A"]]
    )
    rows = VerifierAssignment.objects.filter(pk=assignment.pk)

    with pytest.raises(DATABASE_REFUSES), transaction.atomic():
        rows.update(verifier=expert())
    with pytest.raises(DATABASE_REFUSES), transaction.atomic():
        rows.delete()
    with pytest.raises(DATABASE_REFUSES), transaction.atomic():
        VerifierAssignmentKPI.objects.filter(assignment=assignment).delete()
    verifier_revoke(assignment=assignment, actor=built.officer)
    with pytest.raises(DATABASE_REFUSES), transaction.atomic():
        rows.update(revoked_at=None)


def test_a_dispute_without_a_note_is_refused_by_the_database_too():
    built = build_project()
    person = expert()
    assignment = verifier_designate(project=built.project, actor=built.officer, verifier=person)
    m = measure(built.kpis["K1A"], "15", recent())

    with pytest.raises(IntegrityError), transaction.atomic():
        MeasurementAttestation.objects.create(
            measurement=m, assignment=assignment, verdict="disputed", note="", verifier=person
        )


# --------------------------------------------------------------------------- the history


@pytest.mark.parametrize(
    ("language", "designated", "attested", "disputed"),
    [
        (
            "en",
            "An officer designated Dr. Verifier as a verifier of the project",
            "Dr. Verifier attested a KPI measurement: Log matches",
            "Dr. Verifier disputed a KPI measurement",
        ),
        (
            "ja",
            "An officerがDr. Verifierをプロジェクトの検証者に指名しました",
            "Dr. Verifierが成果指標（KPI）の測定値を確認しました：Log matches",
            "Dr. Verifierが成果指標（KPI）の測定値に異議を申し立てました",
        ),
        (
            "ko",
            "An officer이(가) Dr. Verifier을(를) 과제 검증자로 지정했습니다",
            "Dr. Verifier이(가) 성과지표(KPI) 측정값을 확인했습니다: Log matches",
            "Dr. Verifier이(가) 성과지표(KPI) 측정값에 이의를 제기했습니다",
        ),
    ],
)
def test_the_history_reads_verification_in_each_language(language, designated, attested, disputed):
    def event(action: str, actor: str, after: dict) -> AuditEvent:
        return AuditEvent(action=action, actor_label=actor, after=after)

    with override(language):
        assert (
            audit_sentence(event("verifier.designated", "An officer", {"verifier": "Dr. Verifier"}))
            == designated
        )
        assert (
            audit_sentence(event("measurement.attested", "Dr. Verifier", {"note": "Log matches"}))
            == attested
        )
        # Recorded without a note: the short sentence.
        assert audit_sentence(
            event("measurement.disputed", "Dr. Verifier", {"verdict": "disputed"})
        ).startswith(disputed)
