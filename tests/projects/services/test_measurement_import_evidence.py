"""CSV import with a zip of evidence files (§7, §22): each row names its files; every file
is checked like a browser upload; all rows and files, or none."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fundapp.audit.models import AuditEvent
from fundapp.errors import UnsupportedMediaType, ValidationFailed
from projects.models import Measurement, MeasurementEvidence
from projects.models.imports import ImportState
from projects.services import measurement_import
from projects.services.measurement_import import measurements_import_csv
from projects.tasks import import_measurements
from tests.factories.evidence import CSV, PDF, jpeg, png
from tests.factories.gates import build_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media", "axes_off")]

ROWS = (
    "kpi_code,value,measured_at,evidence\n"
    "K1A,12.5,2026-03-01T10:00:00+09:00,run.pdf;chart.png\n"
    "K1B,14,2026-03-02T01:00:00Z,\n"
    "K2A,21,2026-03-03T09:00:00+09:00,photos/photo.jpg\n"
)
GOOD_FILES = {"run.pdf": PDF, "chart.png": png(), "photos/photo.jpg": jpeg()}


def archive(files: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def start(built, text: str, files: dict[str, bytes] | bytes | None, monkeypatch, capture):
    monkeypatch.setattr(import_measurements, "delay", lambda job_id: None)
    evidence = None
    if files is not None:
        data = files if isinstance(files, bytes) else archive(files)
        evidence = SimpleUploadedFile("evidence.zip", data, content_type="application/zip")
    with capture(execute=True):
        return measurements_import_csv(
            project=built.project,
            actor=built.researcher,
            file=SimpleUploadedFile("m.csv", text.encode(), content_type="text/csv"),
            evidence_zip=evidence,
        )


@pytest.fixture
def run(monkeypatch, django_capture_on_commit_callbacks, settings):
    def go(text: str, files):
        built = build_project()
        job = start(built, text, files, monkeypatch, django_capture_on_commit_callbacks)
        import_measurements(job.pk)
        job.refresh_from_db()
        return job

    return go


def test_rows_import_with_their_files_and_hashes(run, settings):
    job = run(ROWS, GOOD_FILES)

    assert job.state == ImportState.SUCCEEDED, job.errors
    first, second, third = Measurement.objects.order_by("id")
    assert [(f.name, f.sha256) for f in first.evidence_files.order_by("id")] == [
        ("run.pdf", hashlib.sha256(PDF).hexdigest()),
        ("chart.png", hashlib.sha256(png()).hexdigest()),
    ]
    assert not second.evidence_files.exists()
    (photo,) = third.evidence_files.all()
    assert (photo.name, photo.content_type) == ("photo.jpg", "image/jpeg")
    assert (settings.PRIVATE_MEDIA_ROOT / photo.storage).read_bytes() == jpeg()
    event = AuditEvent.objects.get(action="measurement.imported")
    assert event.after is not None
    assert event.after["evidence_files"][str(first.pk)] == [
        {"name": "run.pdf", "sha256": hashlib.sha256(PDF).hexdigest()},
        {"name": "chart.png", "sha256": hashlib.sha256(png()).hexdigest()},
    ]


def _failed(job) -> list[tuple[int, str, str]]:
    assert job.state == ImportState.FAILED
    assert not Measurement.objects.exists()
    assert not MeasurementEvidence.objects.exists()
    return [(e["row"], e["field"], e["message"]) for e in job.errors]


def _no_evidence_stored(settings) -> bool:
    return not list((settings.PRIVATE_MEDIA_ROOT / "measurements").rglob("*.*"))


def test_a_file_named_but_not_in_the_zip_is_a_row_error(run, settings):
    job = run(ROWS, {k: v for k, v in GOOD_FILES.items() if k != "chart.png"})

    errors = _failed(job)
    assert errors == [(2, "evidence", "“chart.png” is not in the zip.")]
    assert _no_evidence_stored(settings)


def test_a_file_of_the_zip_no_row_names_is_an_error(run, settings):
    job = run(ROWS, {**GOOD_FILES, "extra.csv": CSV})

    assert _failed(job) == [(1, "evidence", "“extra.csv” in the zip is named by no row.")]
    assert _no_evidence_stored(settings)


def test_a_file_refused_by_content_is_a_row_error_naming_it(run, settings):
    job = run(ROWS, {**GOOD_FILES, "chart.png": b"\x89PNG\r\n\x1a\nbroken"})

    ((row, field, message),) = _failed(job)
    assert (row, field) == (2, "evidence")
    assert "“chart.png”" in message
    assert _no_evidence_stored(settings)


def test_a_row_naming_a_path_outside_the_zip_is_a_row_error(run):
    text = ROWS.replace("run.pdf;chart.png", "../run.pdf;chart.png")

    job = run(text, GOOD_FILES)

    errors = _failed(job)
    assert (2, "evidence", "“../run.pdf” is not a plain file name in the zip.") in errors


def test_a_zip_bomb_is_a_row_error(run, monkeypatch):
    monkeypatch.setattr(measurement_import, "BOMB_MIN_BYTES", 1000)
    text = "kpi_code,value,measured_at,evidence\nK1A,1,2026-03-01T10:00:00+09:00,big.csv\n"

    job = run(text, {"big.csv": b"a,b\n" + b"1,2\n" * 100_000})

    ((row, field, message),) = _failed(job)
    assert (row, field) == (2, "evidence")
    assert "zip bomb" in message


def test_a_zip_holding_a_file_above_20_mb_is_refused_at_upload(
    monkeypatch, django_capture_on_commit_callbacks, settings
):
    settings.MAX_ATTACHMENT_BYTES = 1000
    built = build_project()
    text = "kpi_code,value,measured_at,evidence\nK1A,1,2026-03-01T10:00:00+09:00,big.csv\n"

    with pytest.raises(ValidationFailed) as info:
        start(
            built,
            text,
            {"big.csv": b"1,2\n" * 400},
            monkeypatch,
            django_capture_on_commit_callbacks,
        )

    assert info.value.errors["evidence_zip"] == ["“big.csv” in the zip is larger than 20 MB."]


@pytest.mark.parametrize(
    ("files", "error", "needle"),
    [
        (b"not a zip", UnsupportedMediaType, "not a zip"),
        ({"../../etc/passwd": b"x"}, ValidationFailed, "outside its own folder"),
        ({"/abs.csv": b"x"}, ValidationFailed, "outside its own folder"),
        ({}, ValidationFailed, "holds no files"),
    ],
)
def test_the_zip_itself_is_checked_at_upload(
    files, error, needle, monkeypatch, django_capture_on_commit_callbacks, settings
):
    built = build_project()

    with pytest.raises(error) as info:
        start(built, ROWS, files, monkeypatch, django_capture_on_commit_callbacks)

    assert needle in info.value.errors["evidence_zip"][0]
    assert not list(settings.PRIVATE_MEDIA_ROOT.rglob("*.*"))


def test_a_zip_needs_the_evidence_column(monkeypatch, django_capture_on_commit_callbacks):
    built = build_project()
    text = "kpi_code,value,measured_at\nK1A,1,2026-03-01T10:00:00+09:00\n"

    with pytest.raises(ValidationFailed) as info:
        start(built, text, GOOD_FILES, monkeypatch, django_capture_on_commit_callbacks)

    assert "evidence" in info.value.errors["file"][0]


def test_rows_naming_files_without_a_zip_are_row_errors(run):
    job = run(ROWS, None)

    errors = _failed(job)
    assert [(row, field) for row, field, _m in errors] == [(2, "evidence"), (4, "evidence")]
