"""Recording and rejecting KPI measurements (§7): who, what values, and when."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, InternalError, ProgrammingError, transaction
from django.utils import timezone

from fundapp.accounts.models import Role, Scope
from fundapp.audit.models import AuditEvent
from fundapp.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from projects.models import (
    GateState,
    Measurement,
    MeasurementEvidence,
    MeasurementSource,
    ProjectState,
)
from projects.selectors.gates import get_measurement_for_actor, measurements_visible_to
from projects.services.measurements import measurement_record, measurement_reject
from tests.factories import UserFactory
from tests.factories.gates import api_key, build_project, measure, tokyo
from tests.workflow_states import force_state

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media", "axes_off")]

MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def record(built, actor, *, value="12.5", at=None, **kw):
    return measurement_record(
        kpi=kw.pop("kpi", built.kpis["K1A"]),
        actor=actor,
        value=value,
        measured_at=at or timezone.now() - timedelta(hours=1),
        source=kw.pop("source", MeasurementSource.BROWSER),
        **kw,
    )


# --------------------------------------------------------------------------- who


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("researcher", None),
        ("researcher_kr", None),
        ("officer", None),
        ("office", PermissionDenied),  # sees the project through its research office only
        ("stranger", NotFound),  # a researcher of another organisation
        ("reviewer", NotFound),
        ("finance", PermissionDenied),  # staff see everything but do not report facts
    ],
)
def test_who_may_report_a_measurement(who, expected):
    built = build_project()
    actor = {
        "reviewer": lambda: UserFactory.create(role=Role.REVIEWER),
        "finance": lambda: UserFactory.create(role=Role.FINANCE_OFFICER, side="JP"),
    }.get(who, lambda: getattr(built, who))()

    if expected is None:
        measurement = record(built, actor)
        assert measurement.value == Decimal("12.5")
        assert measurement.project == built.project
    else:
        with pytest.raises(expected):
            record(built, actor)
        assert Measurement.objects.count() == 0


@pytest.mark.parametrize(
    ("scopes", "own_org", "expected"),
    [
        ([Scope.KPI_WRITE], True, None),
        ([Scope.PROJECTS_READ], True, PermissionDenied),
        ([Scope.KPI_WRITE], False, NotFound),
    ],
)
def test_partner_systems_report_with_the_kpi_write_scope(scopes, own_org, expected):
    built = build_project()
    from tests.factories import jp_org

    key = api_key(built.extra["jp"] if own_org else jp_org(), scopes)
    if expected is None:
        measurement = record(built, key, source=MeasurementSource.API)
        assert measurement.created_by_api_key == key
        assert measurement.created_by is None
        event = AuditEvent.objects.get(action="measurement.recorded")
        assert event.actor_api_key == key
    else:
        with pytest.raises(expected):
            record(built, key, source=MeasurementSource.API)


def test_a_revoked_key_is_refused():
    built = build_project()
    key = api_key(built.extra["jp"], [Scope.KPI_WRITE])
    key.revoked_at = timezone.now()
    key.save()
    with pytest.raises(PermissionDenied):
        record(built, key)


def test_another_organisation_researcher_cannot_see_the_measurements():
    built = build_project()
    measurement = record(built, built.researcher)

    assert list(measurements_visible_to(built.researcher)) == [measurement]
    assert get_measurement_for_actor(built.researcher_kr, measurement.pk) == measurement
    assert not measurements_visible_to(built.stranger).exists()
    with pytest.raises(NotFound):
        get_measurement_for_actor(built.stranger, measurement.pk)
    with pytest.raises(NotFound):
        get_measurement_for_actor(built.stranger, "not-a-number")


@pytest.mark.parametrize("state", [ProjectState.SUSPENDED, ProjectState.TERMINATED])
def test_only_an_active_project_takes_measurements(state):
    built = build_project()
    built.project.state = state
    built.project.save()
    with pytest.raises(Conflict):
        record(built, built.researcher)


def test_any_kpi_of_the_project_may_be_measured_and_it_is_audited():
    built = build_project()
    measurement = record(built, built.researcher, kpi=built.kpis["K2A"], note="  lab run 7 ")

    assert measurement.kpi == built.kpis["K2A"]
    assert measurement.note == "lab run 7"
    assert measurement.created_by == built.researcher
    event = AuditEvent.objects.get(action="measurement.recorded")
    assert event.object_id == str(measurement.pk)
    assert event.after is not None
    assert event.after["value"] == "12.5"
    assert event.after["project"] == built.project.pk


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("12.5", Decimal("12.5")),
        (Decimal("-3.000001"), Decimal("-3.000001")),
        (7, Decimal("7")),
        ("1.50000000", Decimal("1.5")),  # zeros past the sixth place lose nothing
        # More zeros than the thread's 28 digits hold: still nothing lost.
        ("1.5" + "0" * 40, Decimal("1.5")),
        ("12345678901234.12345600000000000000000", Decimal("12345678901234.123456")),
        ("99999999999999.999999", Decimal("99999999999999.999999")),
    ],
)
def test_values_that_fit_are_stored_exactly(value, stored):
    built = build_project()
    measurement = record(built, built.researcher, value=value)
    measurement.refresh_from_db()
    assert measurement.value == stored


@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        "nan",
        "Infinity",
        "-inf",
        "sNaN",
        "abc",
        "",
        None,
        True,
        "1.1234567",
        "1e14",
        "1,5",
        # A digit past the sixth place beyond the thread's 28 digits: refused, not rounded.
        "1.0000000000000000000000000000001",
        "12345678901234.1234560000000000000001",
    ],
)
def test_bad_values_are_refused_with_a_field_error(value):
    built = build_project()
    with pytest.raises(ValidationFailed) as info:
        record(built, built.researcher, value=value)
    assert set(info.value.errors) == {"value"}
    assert Measurement.objects.count() == 0


def test_measured_at_must_be_aware_and_not_in_the_future():
    built = build_project()
    now = timezone.now()
    with pytest.raises(ValidationFailed) as naive:
        record(built, built.researcher, at=now.replace(tzinfo=None))
    assert "measured_at" in naive.value.errors
    with pytest.raises(ValidationFailed) as future:
        record(built, built.researcher, at=now + timedelta(minutes=10))
    assert "measured_at" in future.value.errors
    with pytest.raises(ValidationFailed) as garbage:
        record(built, built.researcher, at="yesterday")
    assert "measured_at" in garbage.value.errors
    with pytest.raises(ValidationFailed):
        record(built, built.researcher, at="2026-05-01T10:00:00")  # no offset

    # A clock a little ahead is tolerated; ISO text with its offset is accepted.
    assert record(built, built.researcher, at=now + timedelta(minutes=2))
    m = record(built, built.researcher, at="2026-05-01T10:00:00+09:00")
    assert m.measured_at == tokyo(date(2026, 5, 1), 10)


def test_all_field_problems_come_back_together():
    built = build_project()
    with pytest.raises(ValidationFailed) as info:
        record(built, built.researcher, value="x", at="nope", note="\x00")
    assert set(info.value.errors) == {"value", "measured_at", "note"}


def test_the_database_refuses_to_change_or_delete_a_measurement():
    built = build_project()
    measurement = record(built, built.researcher)
    with pytest.raises((InternalError, IntegrityError, ProgrammingError)), transaction.atomic():
        Measurement.objects.filter(pk=measurement.pk).update(value=Decimal("99"))
    with pytest.raises((InternalError, IntegrityError, ProgrammingError)), transaction.atomic():
        Measurement.objects.filter(pk=measurement.pk).delete()
    measurement.refresh_from_db()
    assert measurement.value == Decimal("12.5")


# --------------------------------------------------------------------------- evidence


def test_pdf_and_csv_evidence_is_stored_outside_the_web_root(settings):
    built = build_project()
    pdf = record(
        built,
        built.researcher,
        evidence=SimpleUploadedFile("run.pdf", MINIMAL_PDF, content_type="application/pdf"),
    )
    csv = record(
        built,
        built.researcher,
        evidence=SimpleUploadedFile("run.csv", "t,値\n1,2\n".encode(), content_type="text/csv"),
    )
    for measurement, ext, content in (
        (pdf, "pdf", MINIMAL_PDF),
        (csv, "csv", "t,値\n1,2\n".encode()),
    ):
        (stored,) = measurement.evidence_files.all()
        path = settings.PRIVATE_MEDIA_ROOT / stored.storage
        assert stored.storage.endswith(f".{ext}")
        assert path.read_bytes() == content
    assert pdf.evidence_files.get().name == "run.pdf"


def test_each_evidence_file_is_kept_with_its_sha256_in_the_audit_event():
    built = build_project()
    measurement = record(
        built,
        built.researcher,
        evidence=SimpleUploadedFile("run.pdf", MINIMAL_PDF, content_type="application/pdf"),
    )
    digest = hashlib.sha256(MINIMAL_PDF).hexdigest()
    (stored,) = measurement.evidence_files.all()
    assert (stored.name, stored.sha256, stored.size) == ("run.pdf", digest, len(MINIMAL_PDF))
    assert stored.content_type == "application/pdf"
    event = AuditEvent.objects.get(action="measurement.recorded")
    assert event.after is not None
    assert event.after["evidence_files"] == [{"name": "run.pdf", "sha256": digest}]
    with pytest.raises((InternalError, ProgrammingError)), transaction.atomic():
        MeasurementEvidence.objects.filter(pk=stored.pk).update(sha256="0" * 64)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", UnsupportedMediaType),
        (b"\xff\xfe\x00t\x00e\x00x\x00t", UnsupportedMediaType),  # UTF-16 is not UTF-8
        (b"%PDF-1.4 truncated", UnsupportedMediaType),
        (b"", ValidationFailed),
    ],
)
def test_evidence_is_checked_by_content(settings, content, error):
    built = build_project()
    with pytest.raises(error) as info:
        record(built, built.researcher, evidence=SimpleUploadedFile("fake.pdf", content))
    assert "evidence" in info.value.errors
    assert Measurement.objects.count() == 0
    assert not list(settings.PRIVATE_MEDIA_ROOT.rglob("*.*"))


def test_evidence_above_20_mb_is_refused(settings):
    built = build_project()
    settings.MAX_ATTACHMENT_BYTES = 10
    with pytest.raises(PayloadTooLarge):
        record(built, built.researcher, evidence=SimpleUploadedFile("a.csv", b"a,b\n1,2\n3,4\n"))


def test_evidence_is_removed_when_the_measurement_is_refused(settings):
    built = build_project()
    built.project.state = ProjectState.SUSPENDED
    built.project.save()
    with pytest.raises(Conflict):
        record(
            built,
            built.researcher,
            evidence=SimpleUploadedFile("run.pdf", MINIMAL_PDF),
        )
    assert not list(settings.PRIVATE_MEDIA_ROOT.rglob("*.pdf"))


# --------------------------------------------------------------------------- rejection


def test_an_officer_rejects_with_a_reason_once():
    built = build_project()
    measurement = record(built, built.researcher)

    rejected = measurement_reject(
        measurement=measurement, actor=built.officer, reason="Instrument not calibrated"
    )

    assert rejected.rejected_by == built.officer
    assert rejected.rejection_reason == "Instrument not calibrated"
    assert rejected.rejected_at is not None
    event = AuditEvent.objects.get(action="measurement.rejected")
    assert event.before is not None and event.after is not None
    assert event.before["rejected_at"] is None
    assert event.after["rejection_reason"] == "Instrument not calibrated"
    with pytest.raises(Conflict) as again:
        measurement_reject(measurement=measurement, actor=built.officer_kr, reason="Again")
    assert again.value.code == "already_rejected"


@pytest.mark.parametrize("who", ["researcher", "office", "finance"])
def test_only_fund_officers_reject(who):
    built = build_project()
    measurement = record(built, built.researcher)
    actor = (
        UserFactory.create(role=Role.FINANCE_OFFICER, side="JP")
        if who == "finance"
        else getattr(built, who)
    )
    with pytest.raises(PermissionDenied):
        measurement_reject(measurement=measurement, actor=actor, reason="No")
    measurement.refresh_from_db()
    assert measurement.rejected_at is None


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_rejection_needs_a_reason(reason):
    built = build_project()
    measurement = record(built, built.researcher)
    with pytest.raises(ValidationFailed) as info:
        measurement_reject(measurement=measurement, actor=built.officer, reason=reason)
    assert "reason" in info.value.errors


def test_no_rejection_once_the_gate_holding_it_is_decided():
    built = build_project()
    gate = built.gates[0]
    inside = measure(built.kpis["K1A"], "15", tokyo(gate.due_on, 23, 59))
    after = measure(built.kpis["K1A"], "15", tokyo(gate.due_on + timedelta(days=1), 0, 0))
    force_state(gate, GateState.DECIDED)

    with pytest.raises(Conflict) as info:
        measurement_reject(measurement=inside, actor=built.officer, reason="Late")
    assert info.value.code == "gate_decided"
    # Outside the decided window (after the cutoff) nothing was decided on it.
    assert measurement_reject(measurement=after, actor=built.officer, reason="Late").rejected_at


def test_rejection_is_allowed_while_the_gate_is_evaluated_but_undecided():
    built = build_project()
    gate = built.gates[0]
    measurement = measure(built.kpis["K1A"], "15", tokyo(gate.due_on))
    gate.state = GateState.EVALUATED
    gate.save()
    assert measurement_reject(measurement=measurement, actor=built.officer, reason="x").rejected_at
