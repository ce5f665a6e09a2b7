"""Measurement pages (§15): entry form, CSV import with its progress bar, rejection, evidence."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from projects.models import Measurement
from projects.models.imports import ImportJob, ImportState
from projects.rules.gates import GATE_TIMEZONE
from projects.tasks import import_measurements
from tests.factories.gates import build_project, measure, tokyo

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls("tests.projects.views.urls_measurements"),
    pytest.mark.usefixtures("private_media", "axes_off"),
]

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def url(name: str, *args: object) -> str:
    return reverse(f"measurements:{name}", args=args)


def entry(built, **overrides):
    data = {
        "kpi": built.kpis["K1A"].pk,
        "value": "12.5",
        "measured_on": "2026-03-01",
        "measured_time": "10:30",
        "note": "bench run 3",
    }
    data.update(overrides)
    return data


def test_a_named_researcher_records_a_measurement_in_tokyo_time(client):
    built = build_project()
    client.force_login(built.researcher)

    page = client.get(url("list", built.project.pk))
    assert page.status_code == 200
    assert b'id="measurement-form"' in page.content
    assert b'data-kpi="K1A"' in page.content  # the progress charts

    response = client.post(
        url("list", built.project.pk),
        {**entry(built), "evidence": SimpleUploadedFile("run.pdf", PDF)},
    )

    assert response.status_code == 302
    measurement = Measurement.objects.get()
    assert measurement.measured_at == tokyo(date(2026, 3, 1), 10, 30)
    assert measurement.measured_at.astimezone(GATE_TIMEZONE).hour == 10
    assert measurement.source == "browser"
    (evidence,) = measurement.evidence_files.all()
    assert evidence.name == "run.pdf"
    listing = client.get(url("list", built.project.pk))
    assert f'data-measurement="{measurement.pk}"'.encode() in listing.content
    download = client.get(url("evidence", built.project.pk, measurement.pk, evidence.pk))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF


def test_errors_are_shown_beside_their_fields_in_the_language_of_the_page(client):
    built = build_project()
    client.force_login(built.researcher)
    client.cookies["jkfund_language"] = "ja"

    response = client.post(
        url("list", built.project.pk),
        {
            **entry(built, value="NaN", measured_on="2099-01-01"),
            "evidence": SimpleUploadedFile("x.pdf", b"\x89PNG\x00\x00"),
        },
    )

    assert response.status_code == 422
    form = response.context["form"]
    with translation.override("ja"):
        assert form.errors["value"] == [translation.gettext("Enter a finite number.")]
        assert form.errors["measured_on"] == [
            translation.gettext("A measurement cannot be in the future.")
        ]
    assert 'value="NaN"' in response.content.decode()  # nothing typed is lost
    assert not Measurement.objects.exists()


def test_a_bad_evidence_file_is_an_evidence_field_error(client):
    built = build_project()
    client.force_login(built.researcher)
    response = client.post(
        url("list", built.project.pk),
        {**entry(built), "evidence": SimpleUploadedFile("x.pdf", b"\x89PNG\x00\x00")},
    )
    assert response.status_code == 415
    assert "evidence" in response.context["form"].errors


def test_pages_are_404_for_someone_who_cannot_see_the_project(client):
    built = build_project()
    m = measure(built.kpis["K1A"], "12", tokyo(date(2026, 3, 1)))
    client.force_login(built.stranger)
    for address in (
        url("list", built.project.pk),
        url("import", built.project.pk),
        url("reject", built.project.pk, m.pk),
        url("evidence", built.project.pk, m.pk),
    ):
        assert client.get(address).status_code == 404
    assert client.post(url("list", built.project.pk), entry(built)).status_code == 404
    assert not Measurement.objects.exclude(pk=m.pk).exists()


def test_someone_who_sees_but_may_not_report_gets_no_form_and_a_403(client):
    built = build_project()
    client.force_login(built.office)
    page = client.get(url("list", built.project.pk))
    assert page.status_code == 200
    assert b'id="measurement-form"' not in page.content
    response = client.post(url("list", built.project.pk), entry(built))
    assert response.status_code == 403
    assert response.context["message"]


def test_the_csv_import_runs_in_the_background_and_shows_its_progress(
    client, monkeypatch, django_capture_on_commit_callbacks
):
    built = build_project()
    client.force_login(built.researcher)
    sent: list[int] = []
    monkeypatch.setattr(import_measurements, "delay", lambda job_id: sent.append(job_id))
    csv = b"kpi_code,value,measured_at\nK1A,12,2026-03-01T10:00:00+09:00\nK1B,13,2026-03-02T10:00:00+09:00\n"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("import", built.project.pk), {"file": SimpleUploadedFile("m.csv", csv)}
        )

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("import_job", built.project.pk, job.pk)
    assert sent == [job.pk]
    page = client.get(response["Location"])
    assert b'hx-trigger="every 1s"' in page.content
    assert b"0 of 2 rows checked" in page.content

    import_measurements(job.pk)

    partial = client.get(url("import_progress", built.project.pk, job.pk), HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert b"hx-trigger" not in partial.content  # finished: the polling stops
    assert b'data-state="succeeded"' in partial.content
    assert b'value="100"' in partial.content
    assert Measurement.objects.count() == 2


def test_a_failed_import_lists_each_row_error(client, monkeypatch):
    built = build_project()
    client.force_login(built.researcher)
    monkeypatch.setattr(import_measurements, "delay", lambda job_id: None)
    csv = b"kpi_code,value,measured_at\nK1A,12,2026-03-01T10:00:00+09:00\nBAD,x,2026-03-01\n"
    client.post(url("import", built.project.pk), {"file": SimpleUploadedFile("m.csv", csv)})
    job = ImportJob.objects.get()

    import_measurements(job.pk)

    page = client.get(url("import_job", built.project.pk, job.pk))
    job.refresh_from_db()
    assert job.state == ImportState.FAILED
    content = page.content.decode()
    assert 'id="import-errors"' in content
    assert content.count('data-row="3"') == 3  # code, value and time of line 3
    assert not Measurement.objects.exists()
    # The heading names the import, not an import still running.
    assert "Import of “m.csv”" in content and "Importing" not in content


def test_a_bad_upload_is_refused_on_the_form(client):
    built = build_project()
    client.force_login(built.researcher)
    response = client.post(
        url("import", built.project.pk), {"file": SimpleUploadedFile("m.csv", b"a,b\n1,2\n")}
    )
    assert response.status_code == 422
    assert response.context["form"].errors["file"]
    assert not ImportJob.objects.exists()


def test_an_import_job_of_another_project_is_404(client, monkeypatch):
    built, other = build_project(), build_project()
    monkeypatch.setattr(import_measurements, "delay", lambda job_id: None)
    client.force_login(other.researcher)
    client.post(
        url("import", other.project.pk),
        {
            "file": SimpleUploadedFile(
                "m.csv", b"kpi_code,value,measured_at\nK1A,1,2026-03-01T10:00:00+09:00\n"
            )
        },
    )
    job = ImportJob.objects.get()
    client.force_login(built.researcher)
    assert client.get(url("import_job", other.project.pk, job.pk)).status_code == 404
    assert client.get(url("import_job", built.project.pk, job.pk)).status_code == 404


def test_an_officer_rejects_with_a_reason(client):
    built = build_project()
    m = measure(built.kpis["K1A"], "12", tokyo(date(2026, 3, 1)))
    client.force_login(built.officer)

    empty = client.post(url("reject", built.project.pk, m.pk), {"reason": " "})
    assert empty.status_code == 422
    assert empty.context["form"].errors["reason"]

    done = client.post(url("reject", built.project.pk, m.pk), {"reason": "Uncalibrated"})
    assert done.status_code == 302
    m.refresh_from_db()
    assert m.rejection_reason == "Uncalibrated"
    again = client.post(url("reject", built.project.pk, m.pk), {"reason": "Twice"})
    assert again.status_code == 409
    assert again.context["error"]


def test_researchers_cannot_reject(client):
    built = build_project()
    m = measure(built.kpis["K1A"], "12", tokyo(date(2026, 3, 1)))
    client.force_login(built.researcher)
    assert client.get(url("reject", built.project.pk, m.pk)).status_code == 403
    assert client.post(url("reject", built.project.pk, m.pk), {"reason": "x"}).status_code == 403
    m.refresh_from_db()
    assert m.rejected_at is None
