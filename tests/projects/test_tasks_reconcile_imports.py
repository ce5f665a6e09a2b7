"""A measurement import uploaded while the broker is down is not lost (§16, §17): the upload
succeeds, and ``projects.reconcile_imports`` enqueues it once the broker is back."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from kombu.exceptions import OperationalError as BrokerDown

from projects.models import ImportJob, Measurement
from projects.models.imports import ImportState
from projects.services.measurement_import import measurements_import_csv
from projects.tasks import import_measurements, reconcile_imports
from tests.factories.gates import build_project

pytestmark = pytest.mark.django_db

GOOD = "kpi_code,value,measured_at,note\nK1A,12.5,2026-03-01T10:00:00+09:00,first run\n"


def test_an_upload_while_the_broker_is_down_is_imported_after_it_returns(
    django_capture_on_commit_callbacks, monkeypatch
):
    built = build_project()

    def broker_down(job_id: int) -> None:
        raise BrokerDown("Connection refused")

    monkeypatch.setattr(import_measurements, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        job = measurements_import_csv(
            project=built.project,
            actor=built.researcher,
            file=SimpleUploadedFile("m.csv", GOOD.encode(), content_type="text/csv"),
        )
    assert ImportJob.objects.get(pk=job.pk).state == ImportState.QUEUED

    sent: list[int] = []
    monkeypatch.setattr(import_measurements, "delay", sent.append)
    assert reconcile_imports.apply().get() == {"imports": []}  # within the grace period
    assert reconcile_imports.apply(kwargs={"grace_seconds": 0}).get() == {"imports": [job.pk]}
    assert sent == [job.pk]

    import_measurements(job.pk)

    assert ImportJob.objects.get(pk=job.pk).state == ImportState.SUCCEEDED
    assert Measurement.objects.filter(project=built.project).count() == 1
    # Finished: the reconciler leaves it alone.
    assert reconcile_imports.apply(kwargs={"grace_seconds": 0}).get() == {"imports": []}
