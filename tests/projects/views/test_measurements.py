"""Measurement pages (§15): entry form, CSV import with its progress bar, rejection, evidence."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from projects.models import Measurement
from projects.models.imports import ImportJob, ImportState
from projects.rules.gates import GATE_TIMEZONE
from projects.tasks import import_measurements
from tests.factories.evidence import CSV, jpeg, png, upload
from tests.factories.evidence import PDF as PDF_FILE
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
    m = measure(built.kpis["K1A"], "12", tokyo(date(2026, 3, 1)), evidence=True)
    client.force_login(built.stranger)
    for address in (
        url("list", built.project.pk),
        url("import", built.project.pk),
        url("reject", built.project.pk, m.pk),
        url("add_evidence", built.project.pk, m.pk),
        url("evidence", built.project.pk, m.pk, m.evidence_files.get().pk),
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


# --------------------------------------------------------------------------- evidence files


def test_the_form_takes_several_files_and_the_list_shows_each_with_a_short_hash(client):
    built = build_project()
    client.force_login(built.researcher)
    page = client.get(url("list", built.project.pk)).content.decode()
    assert 'type="file" name="evidence"' in page and "multiple" in page

    response = client.post(
        url("list", built.project.pk),
        {**entry(built), "evidence": [upload("run.pdf", PDF_FILE), upload("chart.png", png())]},
    )

    assert response.status_code == 302
    files = list(Measurement.objects.get().evidence_files.order_by("id"))
    assert [f.name for f in files] == ["run.pdf", "chart.png"]
    listing = client.get(url("list", built.project.pk)).content.decode()
    for f in files:
        assert f"<code>{f.name}</code>" in listing
        assert f.sha256[:12] in listing
        assert url("evidence", built.project.pk, f.measurement_id, f.pk) in listing


def test_evidence_is_added_later_from_its_own_page(client):
    built = build_project()
    m = measure(built.kpis["K1A"], "12", tokyo(date(2026, 3, 1)))
    client.force_login(built.researcher_kr)
    listing = client.get(url("list", built.project.pk)).content.decode()
    assert f'href="{url("add_evidence", built.project.pk, m.pk)}"' in listing
    assert client.get(url("add_evidence", built.project.pk, m.pk)).status_code == 200

    response = client.post(
        url("add_evidence", built.project.pk, m.pk), {"evidence": [upload("photo.jpg", jpeg())]}
    )

    assert response.status_code == 302
    (added,) = m.evidence_files.all()
    assert added.name == "photo.jpg"
    page = client.get(url("add_evidence", built.project.pk, m.pk)).content.decode()
    assert "<code>photo.jpg</code>" in page


def test_adding_evidence_is_refused_beside_the_field(client):
    built = build_project()
    m = measure(built.kpis["K1A"], "12", tokyo(date(2026, 3, 1)))
    client.force_login(built.researcher)

    empty = client.post(url("add_evidence", built.project.pk, m.pk), {})
    bad = client.post(
        url("add_evidence", built.project.pk, m.pk),
        {"evidence": [upload("x.png", b"\x89PNG\r\n\x1a\n")]},
    )

    assert empty.status_code == 422
    assert "evidence" in empty.context["form"].errors
    assert bad.status_code == 415
    assert "“x.png”" in bad.context["form"].errors["evidence"][0]
    assert not m.evidence_files.exists()


def test_adding_evidence_to_a_rejected_measurement_is_409(client):
    from projects.services.measurements import measurement_reject

    built = build_project()
    m = measure(built.kpis["K1A"], "12", tokyo(date(2026, 3, 1)))
    measurement_reject(measurement=m, actor=built.officer, reason="wrong unit")
    client.force_login(built.researcher)

    response = client.post(
        url("add_evidence", built.project.pk, m.pk), {"evidence": [upload("run.pdf", PDF_FILE)]}
    )

    assert response.status_code == 409
    assert not m.evidence_files.exists()


def test_the_research_office_sees_the_files_but_adds_none(client):
    built = build_project()
    m = measure(built.kpis["K1A"], "12", tokyo(date(2026, 3, 1)), evidence=True)
    client.force_login(built.office)

    listing = client.get(url("list", built.project.pk)).content.decode()
    assert "data-evidence-file=" in listing
    assert f'href="{url("add_evidence", built.project.pk, m.pk)}"' not in listing
    assert client.get(url("add_evidence", built.project.pk, m.pk)).status_code == 403


# Who may download a file in the browser (§22): the rest get 404.
BROWSER_DOWNLOAD_MATRIX = [
    ("researcher", 200),  # a named member of the JP lead
    ("researcher_kr", 200),  # a named member of the KR lead
    ("office", 200),  # the lead organisation's research office
    ("officer", 200),
    ("officer_kr", 200),
    ("verifier", 200),  # designated for the KPI
    ("verifier_elsewhere", 404),  # designated for another project
    ("verifier_other_kpi", 404),  # designated for another KPI of this project
    ("stranger", 404),  # a researcher of another organisation
]


@pytest.mark.parametrize(("who", "status"), BROWSER_DOWNLOAD_MATRIX)
def test_who_may_download_each_evidence_file(client, who, status):
    from fundapp.accounts.models import Role
    from projects.services.measurements import measurement_record
    from projects.services.verification import verifier_designate
    from tests.factories import UserFactory

    built = build_project()
    verifiers = {
        name: UserFactory.create(role=Role.REVIEWER)
        for name in ("verifier", "verifier_other_kpi", "verifier_elsewhere")
    }
    verifier_designate(
        project=built.project,
        actor=built.officer,
        verifier=verifiers["verifier"],
        kpis=[built.kpis["K1A"]],
    )
    verifier_designate(
        project=built.project,
        actor=built.officer,
        verifier=verifiers["verifier_other_kpi"],
        kpis=[built.kpis["K1B"]],
    )
    other = build_project()
    verifier_designate(
        project=other.project, actor=other.officer, verifier=verifiers["verifier_elsewhere"]
    )
    m = measurement_record(
        kpi=built.kpis["K1A"],
        actor=built.researcher,
        value="15",
        measured_at=timezone.now() - timedelta(hours=1),
        source="browser",
        evidence=[upload("run.pdf", PDF_FILE), upload("series.csv", CSV)],
    )
    client.force_login(verifiers.get(who) or getattr(built, who))

    for f, content in zip(m.evidence_files.order_by("id"), (PDF_FILE, CSV), strict=True):
        response = client.get(url("evidence", built.project.pk, m.pk, f.pk))
        assert response.status_code == status
        if status == 200:
            assert b"".join(response.streaming_content) == content
            assert response["Content-Type"] == f.content_type


def test_a_file_is_served_only_under_its_own_measurement_and_project(client):
    built = build_project()
    m = measure(built.kpis["K1A"], "12", tokyo(date(2026, 3, 1)), evidence=True)
    n = measure(built.kpis["K1B"], "12", tokyo(date(2026, 3, 1)), evidence=True)
    other = build_project()
    client.force_login(built.officer)

    assert (
        client.get(url("evidence", built.project.pk, n.pk, m.evidence_files.get().pk)).status_code
        == 404
    )
    assert (
        client.get(url("evidence", other.project.pk, m.pk, m.evidence_files.get().pk)).status_code
        == 404
    )


def _list_queries(client, count: int) -> int:
    built = build_project()
    for n in range(count):
        measure(
            built.kpis["K1A" if n % 2 else "K1B"],
            str(10 + n),
            tokyo(date(2026, 3, 1)),
            evidence=n % 3,
        )
    client.force_login(built.researcher)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(url("list", built.project.pk))
    assert page.status_code == 200
    assert page.content.decode().count("data-evidence-file=") == sum(n % 3 for n in range(count))
    return len(ctx.captured_queries)


def test_the_list_with_its_files_answers_in_a_fixed_number_of_queries(client):
    small = _list_queries(client, 3)
    large = _list_queries(client, 20)

    assert small == large
