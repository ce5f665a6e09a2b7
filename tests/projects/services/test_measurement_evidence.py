"""Evidence files of measurements (§22): several per measurement, checked by content,
stored once with their SHA-256, added later, uploaded ahead "by reference"."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import pytest
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
    EvidenceUpload,
    GateState,
    Measurement,
    MeasurementEvidence,
    MeasurementSource,
    ProjectState,
)
from projects.services.measurements import (
    evidence_upload,
    evidence_uploads_expire,
    measurement_evidence_add,
    measurement_record,
    measurement_reject,
)
from projects.tasks import expire_evidence_uploads
from tests.factories import UserFactory
from tests.factories.evidence import CSV, PDF, every_kind, jpeg, png, upload
from tests.factories.gates import api_key, build_project, measure, tokyo
from tests.outbox import the_event
from tests.workflow_states import force_state

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media", "axes_off")]


def record(built, actor=None, **kw):
    return measurement_record(
        kpi=kw.pop("kpi", built.kpis["K1A"]),
        actor=actor or built.researcher,
        value="12.5",
        measured_at=timezone.now() - timedelta(hours=1),
        source=MeasurementSource.BROWSER,
        **kw,
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_files(settings) -> list:
    return sorted(p for p in settings.PRIVATE_MEDIA_ROOT.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- by content


@pytest.mark.parametrize(
    ("name", "content", "content_type", "suffix"),
    [
        ("run.pdf", PDF, "application/pdf", ".pdf"),
        ("run.csv", CSV, "text/csv; charset=utf-8", ".csv"),
        ("chart.png", png(), "image/png", ".png"),
        ("photo.jpg", jpeg(), "image/jpeg", ".jpg"),
        # The content decides, not the name.
        ("scan.dat", png(2, 2), "image/png", ".png"),
    ],
)
def test_each_kind_is_accepted_by_its_content(settings, name, content, content_type, suffix):
    built = build_project()

    measurement = record(built, evidence=[upload(name, content)])

    (stored,) = measurement.evidence_files.all()
    assert (stored.name, stored.content_type, stored.size) == (name, content_type, len(content))
    assert stored.sha256 == sha(content)
    assert stored.storage.endswith(suffix)
    assert (settings.PRIVATE_MEDIA_ROOT / stored.storage).read_bytes() == content


GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00;"
BAD_PNG_CRC = png()[:-5] + b"\x00" + png()[-4:]
JS_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/OpenAction<</S/JavaScript/JS(app.alert(1))>>>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", UnsupportedMediaType),  # GIF: not accepted
        (b"PK\x03\x04\x14\x00\x00\x00binary\x00", UnsupportedMediaType),  # a zip
        (BAD_PNG_CRC, UnsupportedMediaType),  # a chunk whose CRC does not match
        (png()[:-12], UnsupportedMediaType),  # no IEND: truncated
        (jpeg()[:-2], UnsupportedMediaType),  # no EOI
        (jpeg().replace(b"\xff\xc0", b"\xff\xfe"), UnsupportedMediaType),  # no frame header
        (png() + b"<script>", ValidationFailed),  # something after the image
        (jpeg() + b"PK\x03\x04", ValidationFailed),
        (JS_PDF, ValidationFailed),  # active content (§17)
        (b"%PDF-1.4 truncated", UnsupportedMediaType),
        (b"a,b\n\x00\x01", UnsupportedMediaType),  # not text
        (b"", ValidationFailed),
    ],
)
def test_other_content_is_refused_naming_the_file(settings, content, error):
    built = build_project()

    with pytest.raises(error) as info:
        record(built, evidence=[upload("good.csv", CSV), upload("bad-file.png", content)])

    (message,) = info.value.errors["evidence"]
    assert "“bad-file.png”" in message
    assert Measurement.objects.count() == 0
    assert MeasurementEvidence.objects.count() == 0
    assert stored_files(settings) == []


def test_a_file_above_20_mb_is_refused_with_413_naming_it(settings):
    built = build_project()
    settings.MAX_ATTACHMENT_BYTES = len(CSV) - 1

    with pytest.raises(PayloadTooLarge) as info:
        record(built, evidence=[upload("big.csv", CSV)])

    assert "“big.csv”" in info.value.errors["evidence"][0]


def test_every_refused_file_is_named_at_once():
    built = build_project()

    with pytest.raises(UnsupportedMediaType) as info:
        record(built, evidence=[upload("a.gif", GIF), upload("b.png", BAD_PNG_CRC)])

    messages = info.value.errors["evidence"]
    assert len(messages) == 2
    assert "“a.gif”" in messages[0] and "“b.png”" in messages[1]


# --------------------------------------------------------------------------- several files


def test_several_files_are_kept_each_with_its_hash_in_the_audit_event():
    built = build_project()
    files = every_kind()
    contents = [PDF, CSV, png(), jpeg()]

    measurement = record(built, evidence=files)

    rows = list(measurement.evidence_files.order_by("id"))
    assert [(f.name, f.sha256) for f in rows] == [
        (u.name, sha(c)) for u, c in zip(files, contents, strict=True)
    ]
    assert len({f.storage for f in rows}) == 4
    event = AuditEvent.objects.get(action="measurement.recorded")
    assert event.after is not None
    assert event.after["evidence_files"] == [
        {"name": u.name, "sha256": sha(c)} for u, c in zip(files, contents, strict=True)
    ]


def test_at_most_ten_files_at_once():
    built = build_project()

    with pytest.raises(ValidationFailed) as info:
        record(built, evidence=[upload(f"{n}.csv", CSV) for n in range(11)])

    assert "evidence" in info.value.errors
    assert Measurement.objects.count() == 0


# --------------------------------------------------------------------------- added later


def test_files_added_later_join_the_others_and_are_audited_with_their_hashes():
    built = build_project()
    measurement = record(built, evidence=[upload("run.pdf", PDF)])

    added = measurement_evidence_add(
        measurement=measurement,
        actor=built.researcher_kr,
        evidence=[upload("chart.png", png()), upload("photo.jpg", jpeg())],
    )

    assert [f.name for f in added] == ["chart.png", "photo.jpg"]
    assert [f.name for f in measurement.evidence_files.order_by("id")] == [
        "run.pdf",
        "chart.png",
        "photo.jpg",
    ]
    event = AuditEvent.objects.get(action="measurement.evidence_added")
    assert event.actor_user_id == built.researcher_kr.pk
    assert event.after == {
        "evidence_files": [
            {"name": "chart.png", "sha256": sha(png())},
            {"name": "photo.jpg", "sha256": sha(jpeg())},
        ],
        "count": 2,
    }
    data = the_event(
        "measurement.evidence_added",
        measurement,
        organisations=[built.extra["jp"].pk, built.extra["kr"].pk],
    )
    assert [f["sha256"] for f in data["evidence_files"]] == [sha(png()), sha(jpeg())]


def test_adding_needs_a_file():
    built = build_project()
    measurement = record(built)

    with pytest.raises(ValidationFailed) as info:
        measurement_evidence_add(measurement=measurement, actor=built.researcher, evidence=[])

    assert "evidence" in info.value.errors


def test_no_evidence_is_added_to_a_rejected_measurement(settings):
    built = build_project()
    measurement = record(built)
    measurement_reject(measurement=measurement, actor=built.officer, reason="wrong unit")

    with pytest.raises(Conflict) as info:
        measurement_evidence_add(
            measurement=measurement, actor=built.researcher, evidence=[upload("run.pdf", PDF)]
        )

    assert info.value.code == "measurement_rejected"
    assert MeasurementEvidence.objects.count() == 0
    assert stored_files(settings) == []


def test_no_evidence_is_added_once_the_gate_holding_it_is_decided():
    built = build_project()
    measurement = measure(built.kpis["K1A"], "20", tokyo(date(2026, 3, 1)))
    force_state(built.gates[0], GateState.DECIDED)

    with pytest.raises(Conflict) as info:
        measurement_evidence_add(
            measurement=measurement, actor=built.researcher, evidence=[upload("run.pdf", PDF)]
        )

    assert info.value.code == "gate_decided"


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("stranger", NotFound),
        ("office", PermissionDenied),
        ("reviewer", NotFound),
    ],
)
def test_who_may_add_evidence(who, error):
    built = build_project()
    measurement = record(built)
    actor = UserFactory.create(role=Role.REVIEWER) if who == "reviewer" else getattr(built, who)

    with pytest.raises(error):
        measurement_evidence_add(
            measurement=measurement, actor=actor, evidence=[upload("run.pdf", PDF)]
        )


def test_an_officer_may_add_evidence():
    built = build_project()
    measurement = record(built)

    measurement_evidence_add(
        measurement=measurement, actor=built.officer, evidence=[upload("run.pdf", PDF)]
    )

    assert measurement.evidence_files.count() == 1


def test_evidence_rows_cannot_be_deleted():
    from django.db import InternalError, ProgrammingError, transaction

    built = build_project()
    measurement = record(built, evidence=[upload("run.pdf", PDF)])

    with pytest.raises((InternalError, ProgrammingError)), transaction.atomic():
        MeasurementEvidence.objects.filter(measurement=measurement).delete()


# --------------------------------------------------------------------------- by reference


def test_an_upload_is_taken_by_the_measurement_that_names_it(settings):
    built = build_project()
    held = evidence_upload(
        project=built.project, actor=built.researcher, upload=upload("chart.png", png())
    )
    assert held.sha256 == sha(png())
    assert held.expires_at > timezone.now() + timedelta(hours=23)

    measurement = record(built, evidence=[upload("run.csv", CSV)], evidence_ids=[held.pk])

    assert [(f.name, f.sha256) for f in measurement.evidence_files.order_by("id")] == [
        ("run.csv", sha(CSV)),
        ("chart.png", sha(png())),
    ]
    assert measurement.evidence_files.get(name="chart.png").storage == held.storage
    assert not EvidenceUpload.objects.exists()
    # An upload serves one measurement.
    with pytest.raises(ValidationFailed) as again:
        record(built, evidence_ids=[held.pk])
    assert "evidence_ids" in again.value.errors


def test_an_upload_is_held_for_its_uploader_alone():
    built = build_project()
    held = evidence_upload(
        project=built.project, actor=built.researcher, upload=upload("run.pdf", PDF)
    )
    other = build_project()

    with pytest.raises(ValidationFailed):
        record(built, actor=built.researcher_kr, evidence_ids=[held.pk])
    with pytest.raises(ValidationFailed):
        record(built, actor=api_key(built.extra["jp"], [Scope.KPI_WRITE]), evidence_ids=[held.pk])
    assert EvidenceUpload.objects.filter(pk=held.pk).exists()
    assert Measurement.objects.count() == 0
    # Nor for another project of the same person.
    with pytest.raises(NotFound):
        record(other, actor=built.researcher, evidence_ids=[held.pk])


def test_a_key_takes_its_own_upload():
    built = build_project()
    key = api_key(built.extra["jp"], [Scope.KPI_WRITE])
    held = evidence_upload(project=built.project, actor=key, upload=upload("run.pdf", PDF))

    measurement = record(built, actor=key, evidence_ids=[held.pk])

    assert measurement.evidence_files.get().sha256 == sha(PDF)


def test_uploads_are_checked_like_any_evidence(settings):
    built = build_project()

    with pytest.raises(UnsupportedMediaType) as info:
        evidence_upload(project=built.project, actor=built.researcher, upload=upload("x.gif", GIF))

    assert "“x.gif”" in info.value.errors["file"][0]
    assert stored_files(settings) == []
    assert not EvidenceUpload.objects.exists()


def test_uploads_need_an_active_project_and_a_reporter(settings):
    built = build_project()
    with pytest.raises(PermissionDenied):
        evidence_upload(project=built.project, actor=built.office, upload=upload("r.pdf", PDF))
    built.project.state = ProjectState.SUSPENDED
    built.project.save()
    with pytest.raises(Conflict):
        evidence_upload(project=built.project, actor=built.researcher, upload=upload("r.pdf", PDF))
    assert stored_files(settings) == []


def test_expired_uploads_are_refused_then_removed_with_their_files(
    settings, django_capture_on_commit_callbacks
):
    built = build_project()
    held = evidence_upload(
        project=built.project, actor=built.researcher, upload=upload("run.pdf", PDF)
    )
    kept = evidence_upload(
        project=built.project, actor=built.researcher, upload=upload("run.csv", CSV)
    )
    EvidenceUpload.objects.filter(pk=held.pk).update(expires_at=timezone.now())

    with pytest.raises(ValidationFailed):
        record(built, evidence_ids=[held.pk])
    with django_capture_on_commit_callbacks(execute=True):
        removed = expire_evidence_uploads.apply().get()

    assert removed == 1
    assert list(EvidenceUpload.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not (settings.PRIVATE_MEDIA_ROOT / held.storage).exists()
    assert (settings.PRIVATE_MEDIA_ROOT / kept.storage).exists()
    assert evidence_uploads_expire() == 0
