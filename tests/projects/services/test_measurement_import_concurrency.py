"""Two workers on the same import write its rows once (§16: the database decides)."""

from __future__ import annotations

import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from projects.models import Measurement
from projects.models.imports import ImportJob, ImportState
from projects.services.measurement_import import measurements_import_csv, measurements_import_run
from projects.tasks import import_measurements
from tests.factories.gates import build_project

pytestmark = pytest.mark.usefixtures("private_media", "axes_off")


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_job_import_it_once(monkeypatch):
    built = build_project()
    monkeypatch.setattr(import_measurements, "delay", lambda job_id: None)
    rows = "".join(f"K1A,{i},2026-03-01T10:00:00+09:00\n" for i in range(200))
    job = measurements_import_csv(
        project=built.project,
        actor=built.researcher,
        file=SimpleUploadedFile("m.csv", ("kpi_code,value,measured_at\n" + rows).encode()),
    )
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            measurements_import_run(job_id=job.pk)
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    job.refresh_from_db()
    assert job.state == ImportState.SUCCEEDED
    assert Measurement.objects.count() == 200
    assert ImportJob.objects.get().imported_count == 200
