"""CSV import of measurements (§7, §15): all rows or none, per-row errors, progress."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from fundapp.accounts.models import Scope
from fundapp.audit.models import AuditEvent
from fundapp.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from projects.models import Measurement, MeasurementSource, ProjectState
from projects.models.imports import ImportJob, ImportState
from projects.services import measurement_import
from projects.services.measurement_import import measurements_import_csv
from projects.tasks import import_measurements
from tests.factories.gates import api_key, build_project
from tests.outbox import the_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media", "axes_off")]

GOOD = (
    "kpi_code,value,measured_at,note\n"
    "K1A,12.5,2026-03-01T10:00:00+09:00,first run\n"
    "K1B,14,2026-03-02T01:00:00Z,\n"
    'K2A,21.000001,2026-03-03 09:00:00+09:00,"quoted, with comma"\n'
)


def upload(text: str | bytes, name: str = "measurements.csv") -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


@pytest.fixture
def queued(django_capture_on_commit_callbacks, monkeypatch):
    """Upload and capture the enqueued task instead of sending it to a broker."""
    sent: list[int] = []
    monkeypatch.setattr(import_measurements, "delay", lambda job_id: sent.append(job_id))

    def start(built, text, actor=None):
        with django_capture_on_commit_callbacks(execute=True):
            job = measurements_import_csv(
                project=built.project, actor=actor or built.researcher, file=upload(text)
            )
        return job, sent

    return start


def test_a_good_file_is_imported_whole_and_progress_reaches_the_total(queued, settings):
    built = build_project()
    job, sent = queued(built, GOOD)

    assert sent == [job.pk]  # enqueued after commit, by id
    assert job.state == ImportState.QUEUED
    assert (job.progress_done, job.progress_total) == (0, 3)
    assert (settings.PRIVATE_MEDIA_ROOT / job.storage_name).read_bytes() == GOOD.encode()

    result = import_measurements(job.pk)  # the task, run in-process

    job.refresh_from_db()
    assert result == {"job": job.pk, "state": "succeeded", "imported": 3}
    assert job.state == ImportState.SUCCEEDED
    assert (job.progress_done, job.progress_total, job.imported_count) == (3, 3, 3)
    assert job.percent == 100
    assert job.errors == []
    rows = list(Measurement.objects.order_by("id"))
    assert [(m.kpi.code, m.value, m.source, m.note) for m in rows] == [
        ("K1A", Decimal("12.500000"), MeasurementSource.IMPORT, "first run"),
        ("K1B", Decimal("14.000000"), MeasurementSource.IMPORT, ""),
        ("K2A", Decimal("21.000001"), MeasurementSource.IMPORT, "quoted, with comma"),
    ]
    assert all(m.created_by == built.researcher for m in rows)
    event = AuditEvent.objects.get(action="measurement.imported")
    assert event.after is not None
    assert event.after["measurements"] == [m.pk for m in rows]
    assert AuditEvent.objects.filter(action="measurement_import.queued").count() == 1

    # Redelivered after the worker finished: nothing more happens.
    import_measurements(job.pk)
    assert Measurement.objects.count() == 3


def test_one_bad_row_imports_nothing_and_every_row_error_is_listed(queued):
    built = build_project()
    text = (
        "KPI_CODE, value ,measured_at\n"  # header names are trimmed and case-folded
        "K1A,12.5,2026-03-01T10:00:00+09:00\n"
        "NOPE,12,2026-03-01T10:00:00+09:00\n"
        "K1A,twelve,2026-03-01T10:00:00+09:00\n"
        "K1B,13,2026-03-01 10:00\n"
        "K1B,13,not a date\n"
        "\n"
        "K1A,NaN,\n"
        "k1b,1.1234567,2026-03-01T10:00:00+09:00\n"
    )
    job, _sent = queued(built, text)

    import_measurements(job.pk)

    job.refresh_from_db()
    assert job.state == ImportState.FAILED
    assert Measurement.objects.count() == 0
    assert (job.progress_done, job.progress_total) == (7, 7)
    found = [(e["row"], e["field"]) for e in job.errors]
    assert found == [
        (3, "kpi_code"),
        (4, "value"),
        (5, "measured_at"),  # naive
        (6, "measured_at"),  # unparseable
        (8, "value"),
        (8, "measured_at"),  # required
        (9, "value"),  # too many decimals (the code matched regardless of case)
    ]
    assert "NOPE" in job.errors[0]["message"]
    assert "6 row(s)" in job.message
    assert AuditEvent.objects.filter(action="measurement_import.failed").count() == 1


def test_row_errors_are_in_the_uploaders_language(queued):
    built = build_project()
    with translation.override("ja"):
        job, _sent = queued(built, "kpi_code,value,measured_at\nK1A,x,2026-03-01T10:00:00+09:00\n")
    assert job.language == "ja"
    import_measurements(job.pk)
    job.refresh_from_db()
    with translation.override("ja"):
        expected = translation.gettext("Enter a number.")
    assert job.errors[0]["message"] == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", ValidationFailed),
        ("kpi_code,value\nK1A,1\n", ValidationFailed),  # measured_at missing
        ("kpi_code,value,measured_at,colour\n", ValidationFailed),
        ("kpi_code,value,measured_at\n", ValidationFailed),  # no rows
        ("kpi_code,value,measured_at,value\nK1A,1,2,3\n", ValidationFailed),
        ("kpi_code,value,measured_at\nK1A,1,\x002026\n", UnsupportedMediaType),
        ("kpi_code,value,measured_at\n".encode("utf-16"), UnsupportedMediaType),
    ],
)
def test_the_upload_itself_is_checked_at_once(queued, text, error):
    built = build_project()
    with pytest.raises(error) as info:
        queued(built, text)
    assert "file" in info.value.errors
    assert not ImportJob.objects.exists()


def test_too_many_rows_or_bytes_are_refused(queued, monkeypatch):
    built = build_project()
    monkeypatch.setattr(measurement_import, "MAX_IMPORT_ROWS", 2)
    with pytest.raises(ValidationFailed):
        queued(built, GOOD)
    monkeypatch.setattr(measurement_import, "MAX_IMPORT_BYTES", 10)
    with pytest.raises(PayloadTooLarge):
        queued(built, GOOD)


def test_who_may_import(queued):
    built = build_project()
    with pytest.raises(NotFound):
        queued(built, GOOD, actor=built.stranger)
    with pytest.raises(PermissionDenied):
        queued(built, GOOD, actor=built.office)
    with pytest.raises(PermissionDenied):
        queued(built, GOOD, actor=api_key(built.extra["jp"], [Scope.PROJECTS_READ]))
    job, _sent = queued(built, GOOD, actor=api_key(built.extra["jp"], [Scope.KPI_WRITE]))
    import_measurements(job.pk)
    assert Measurement.objects.filter(created_by_api_key__isnull=False).count() == 3


def test_a_project_suspended_after_the_upload_imports_nothing(queued):
    built = build_project()
    job, _sent = queued(built, GOOD)
    built.project.state = ProjectState.SUSPENDED
    built.project.save()

    import_measurements(job.pk)

    job.refresh_from_db()
    assert job.state == ImportState.FAILED
    assert job.message
    assert Measurement.objects.count() == 0


def test_an_inactive_project_refuses_the_upload(queued):
    built = build_project()
    built.project.state = ProjectState.COMPLETED
    built.project.save()
    with pytest.raises(Conflict):
        queued(built, GOOD)


def test_a_job_left_running_by_a_dead_worker_runs_again(queued):
    built = build_project()
    job, _sent = queued(built, GOOD)
    ImportJob.objects.filter(pk=job.pk).update(state=ImportState.RUNNING, progress_done=2)

    import_measurements(job.pk)

    job.refresh_from_db()
    assert job.state == ImportState.SUCCEEDED
    assert Measurement.objects.count() == 3


def test_a_missing_file_fails_the_job(queued, settings):
    built = build_project()
    job, _sent = queued(built, GOOD)
    (settings.PRIVATE_MEDIA_ROOT / job.storage_name).unlink()
    import_measurements(job.pk)
    job.refresh_from_db()
    assert job.state == ImportState.FAILED
    assert import_measurements(10**9) == {"job": 10**9, "state": None}


def test_progress_is_reported_while_rows_are_checked(queued, monkeypatch):
    built = build_project()
    rows = "".join(f"K1A,{i},2026-03-01T10:00:00+09:00\n" for i in range(120))
    job, _sent = queued(built, "kpi_code,value,measured_at\n" + rows)
    seen: list[int] = []
    report = measurement_import._report_progress

    def spy(job_id: int, done: int) -> None:
        seen.append(done)
        report(job_id, done)

    monkeypatch.setattr(measurement_import, "_report_progress", spy)
    import_measurements(job.pk)

    assert seen == sorted(seen) and seen[-1] == 120 and len(seen) >= 50
    job.refresh_from_db()
    assert job.progress_done == job.progress_total == 120


def test_an_import_writes_one_measurement_created_per_row_in_one_insert(queued):
    built = build_project()
    job, _sent = queued(built, GOOD)
    organisations = built.project.organisations.values_list("organisation_id", flat=True)

    with CaptureQueriesContext(connection) as queries:
        import_measurements(job.pk)

    rows = list(Measurement.objects.order_by("id"))
    for measurement in rows:
        data = the_event("measurement.created", measurement, organisations=organisations)
        assert (data["id"], data["kpi"], data["value"]) == (
            measurement.pk,
            measurement.kpi_id,
            str(measurement.value),
        )
    inserts = [q for q in queries if "notifications_outboxevent" in q["sql"]]
    assert len(inserts) == 1
