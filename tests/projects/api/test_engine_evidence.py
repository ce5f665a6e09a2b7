"""Evidence files over the API (§14, §22): multipart parts on the report, uploads "by
reference", files added later, hashes in every representation, and downloads for those who
may see the measurement only (404 for everyone else)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fundapp.accounts.models import Role
from projects.models import EvidenceUpload, Measurement, MeasurementEvidence
from projects.services.measurements import measurement_record
from projects.services.verification import verifier_designate
from tests.factories import UserFactory, kr_org
from tests.factories.evidence import CSV, PDF, jpeg, png, upload
from tests.factories.gates import build_project, measure
from tests.factories.projects_api import assert_problem, key_client, ok, user_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

URL = "/api/v1/measurements/"
WRITE = ["kpi:write", "projects:read"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def recent():
    return timezone.now() - timedelta(hours=1)


def fields(kpi, **extra):
    return {"kpi": kpi.pk, "value": "18.5", "measured_at": recent().isoformat(), **extra}


def report_multipart(client, kpi, files, key="m-1"):
    return client.post(
        URL,
        {**fields(kpi), "evidence": files},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def download(client, url: str):
    response = client.get(url)
    content = b"".join(response.streaming_content) if response.status_code == 200 else b""
    return response, content


# --------------------------------------------------------------------------- reporting


def test_a_report_carries_several_files_as_multipart_parts_with_their_hashes():
    built = build_project()
    client = key_client(built.extra["jp"], WRITE)

    response = report_multipart(
        client,
        built.kpis["K1A"],
        [upload("run.pdf", PDF), upload("chart.png", png()), upload("photo.jpg", jpeg())],
    )

    data = ok(response, 201)
    files = data["evidence_files"]
    assert [(f["name"], f["content_type"], f["size"], f["sha256"]) for f in files] == [
        ("run.pdf", "application/pdf", len(PDF), sha(PDF)),
        ("chart.png", "image/png", len(png()), sha(png())),
        ("photo.jpg", "image/jpeg", len(jpeg()), sha(jpeg())),
    ]
    rows = list(MeasurementEvidence.objects.order_by("id"))
    assert [f["id"] for f in files] == [r.pk for r in rows]
    got, content = download(client, files[1]["download_url"])
    assert got.status_code == 200
    assert got["Content-Type"] == "image/png"
    assert content == png()
    # The representation of the measurement lists them again.
    again = ok(client.get(f"{URL}{data['id']}/"))
    assert [f["sha256"] for f in again["evidence_files"]] == [sha(PDF), sha(png()), sha(jpeg())]


def test_a_file_refused_by_content_is_a_415_problem_naming_it_and_nothing_is_written():
    built = build_project()
    client = key_client(built.extra["jp"], WRITE)

    response = report_multipart(
        client,
        built.kpis["K1A"],
        [upload("run.pdf", PDF), upload("fake.png", b"\x89PNG\r\n\x1a\nxx")],
    )

    problem = assert_problem(response, 415)
    assert "“fake.png”" in problem["errors"]["evidence"][0]
    assert not Measurement.objects.exists()


def test_an_upload_by_reference_is_named_in_the_json_report():
    built = build_project()
    client = key_client(built.extra["jp"], WRITE)

    uploaded = ok(
        client.post(
            f"/api/v1/projects/{built.project.pk}/evidence/",
            {"file": upload("series.csv", CSV)},
            format="multipart",
        ),
        201,
    )
    assert uploaded["sha256"] == sha(CSV)
    assert (uploaded["name"], uploaded["size"]) == ("series.csv", len(CSV))
    assert uploaded["content_type"] == "text/csv; charset=utf-8"

    response = client.post(
        URL,
        fields(built.kpis["K1A"], evidence_ids=[uploaded["id"]]),
        format="json",
        HTTP_IDEMPOTENCY_KEY="m-2",
    )

    data = ok(response, 201)
    assert [f["sha256"] for f in data["evidence_files"]] == [sha(CSV)]
    assert not EvidenceUpload.objects.exists()
    # Another key of the same organisation may not take it, nor a second measurement.
    other = key_client(built.extra["jp"], WRITE)
    again = other.post(
        URL,
        fields(built.kpis["K1A"], evidence_ids=[uploaded["id"]]),
        format="json",
        HTTP_IDEMPOTENCY_KEY="m-3",
    )
    assert "evidence_ids" in assert_problem(again, 422)["errors"]


def test_an_upload_needs_kpi_write_and_a_visible_project():
    built = build_project()
    path = f"/api/v1/projects/{built.project.pk}/evidence/"
    file = {"file": upload("run.pdf", PDF)}

    assert_problem(
        key_client(built.extra["jp"], ["projects:read"]).post(path, file, format="multipart"), 403
    )
    assert_problem(key_client(kr_org(), WRITE).post(path, file, format="multipart"), 404)
    assert not EvidenceUpload.objects.exists()


def test_files_are_added_to_an_existing_measurement():
    built = build_project()
    client = key_client(built.extra["jp"], WRITE)
    measurement = measure(built.kpis["K1A"], "15", recent())

    response = client.post(
        f"{URL}{measurement.pk}/evidence/",
        {"evidence": [upload("photo.jpg", jpeg())]},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="e-1",
    )

    data = ok(response, 201)
    assert [f["sha256"] for f in data["evidence_files"]] == [sha(jpeg())]
    assert_problem(
        client.post(
            f"{URL}{measurement.pk}/evidence/", {}, format="json", HTTP_IDEMPOTENCY_KEY="e-2"
        ),
        422,
    )


# --------------------------------------------------------------------------- downloads


@pytest.fixture
def world():
    built = build_project()
    lab = kr_org(code="KR-LAB-01")
    verifier_designate(
        project=built.project, actor=built.officer, organisation=lab, kpis=[built.kpis["K1A"]]
    )
    person = UserFactory.create(role=Role.REVIEWER)
    verifier_designate(
        project=built.project, actor=built.officer, verifier=person, kpis=[built.kpis["K1A"]]
    )
    elsewhere = build_project()
    other_verifier = UserFactory.create(role=Role.REVIEWER)
    verifier_designate(project=elsewhere.project, actor=elsewhere.officer, verifier=other_verifier)
    measurement = measurement_record(
        kpi=built.kpis["K1A"],
        actor=built.researcher,
        value="15",
        measured_at=recent(),
        source="browser",
        evidence=[upload("run.pdf", PDF), upload("chart.png", png())],
    )
    return {
        "built": built,
        "lab": lab,
        "person": person,
        "other_verifier": other_verifier,
        "measurement": measurement,
    }


API_DOWNLOAD_MATRIX = [
    ("consortium key", 200),  # a key of the project's own organisation
    ("other organisation key", 404),
    ("lab key", 200),  # the designated verifier organisation, with kpi:attest only
    ("other lab key", 404),
    ("researcher", 200),  # member, own organisation
    ("researcher_kr", 200),  # member, the other lead organisation
    ("officer", 200),
    ("designated verifier", 200),
    ("other verifier", 404),
    ("stranger", 404),
    ("outsider reviewer", 404),
]


def _client_for(world, who):
    built = world["built"]
    return {
        "consortium key": lambda: key_client(built.extra["jp"], ["projects:read"]),
        "other organisation key": lambda: key_client(kr_org(), ["projects:read", "kpi:attest"]),
        "lab key": lambda: key_client(world["lab"], ["kpi:attest"]),
        "other lab key": lambda: key_client(kr_org(), ["kpi:attest"]),
        "designated verifier": lambda: user_client(world["person"]),
        "other verifier": lambda: user_client(world["other_verifier"]),
        "outsider reviewer": lambda: user_client(UserFactory.create(role=Role.REVIEWER)),
    }.get(who, lambda: user_client(getattr(built, who)))()


@pytest.mark.parametrize(("who", "status"), API_DOWNLOAD_MATRIX)
def test_who_may_download_an_evidence_file_over_the_api(world, who, status):
    client = _client_for(world, who)
    m = world["measurement"]

    for evidence, content in zip(m.evidence_files.order_by("id"), (PDF, png()), strict=True):
        response, body = download(client, f"{URL}{m.pk}/evidence/{evidence.pk}/")
        if status == 200:
            assert response.status_code == 200
            assert body == content
            assert evidence.name in response["Content-Disposition"]
        else:
            assert_problem(response, 404)


def test_a_file_of_another_measurement_is_404(world):
    built = world["built"]
    client = key_client(built.extra["jp"], ["projects:read"])
    other = measurement_record(
        kpi=built.kpis["K1B"],
        actor=built.researcher,
        value="3",
        measured_at=recent(),
        source="browser",
        evidence=[upload("other.csv", CSV)],
    )
    foreign = other.evidence_files.get()

    response, _body = download(client, f"{URL}{world['measurement'].pk}/evidence/{foreign.pk}/")

    assert_problem(response, 404)


def test_the_measurement_list_carries_the_files_in_a_fixed_number_of_queries(world):
    built = world["built"]
    client = key_client(built.extra["jp"], ["projects:read"])

    def listed() -> list[dict]:
        response = client.get(URL, {"project": built.project.pk})
        return ok(response)["results"]

    listed()  # the key's first use is recorded once
    with CaptureQueriesContext(connection) as small:
        rows = listed()
    assert [len(r["evidence_files"]) for r in rows] == [2]
    for n in range(10):
        measure(built.kpis["K1B"], str(20 + n), recent(), evidence=n % 3)
    with CaptureQueriesContext(connection) as large:
        rows = listed()
    assert len(rows) == 11
    assert sum(len(r["evidence_files"]) for r in rows) == 2 + sum(n % 3 for n in range(10))
    assert len(small.captured_queries) == len(large.captured_queries)


def test_the_same_key_replays_the_same_files_and_refuses_other_bytes():
    built = build_project()
    client = key_client(built.extra["jp"], WRITE)
    kpi = built.kpis["K1A"]
    data = fields(kpi)

    def send(content: bytes):
        return client.post(
            URL,
            {**data, "evidence": [upload("log.csv", content)]},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="same",
        )

    first = send(b"a,b\n1,2\n")
    again = send(b"a,b\n1,2\n")
    other = send(b"a,b\n3,4\n")  # the same name and size, other bytes

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert_problem(other, 422)
    assert Measurement.objects.count() == 1
