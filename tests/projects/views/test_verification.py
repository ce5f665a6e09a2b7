"""Verification pages (§22): the verifier's queue with evidence and verdict forms, the
officers' designation page, and who may see what (a matrix; 404 for the others)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from fundapp.accounts.models import Role
from projects.models import MeasurementAttestation, MeasurementSource, VerifierAssignment
from projects.services.measurements import measurement_record
from projects.services.verification import verifier_designate
from tests.factories import UserFactory, member_of
from tests.factories.gates import build_project, measure

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off"),
]

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
QUEUE = "/verifications/"


def recent():
    return timezone.now() - timedelta(hours=1)


def with_evidence(built, kpi_code: str = "K1A"):
    return measurement_record(
        kpi=built.kpis[kpi_code],
        actor=built.researcher,
        value="15",
        measured_at=recent(),
        note="bench run",
        source=MeasurementSource.BROWSER,
        evidence=SimpleUploadedFile("run.pdf", PDF),
    )


def evidence_url(m) -> str:
    (evidence,) = m.evidence_files.all()
    return reverse("measurements:evidence", args=[m.project_id, m.pk, evidence.pk])


@pytest.fixture
def world():
    """A project with a verifier of K1A only, another project's verifier, and a measurement
    with evidence of each KPI."""
    built = build_project()
    verifier = UserFactory.create(role=Role.REVIEWER, username="verifier")
    verifier_designate(
        project=built.project, actor=built.officer, verifier=verifier, kpis=[built.kpis["K1A"]]
    )
    other = build_project()
    elsewhere = UserFactory.create(role=Role.REVIEWER, username="elsewhere")
    verifier_designate(project=other.project, actor=other.officer, verifier=elsewhere)
    return {
        "built": built,
        "verifier": verifier,
        "elsewhere": elsewhere,
        "assigned": with_evidence(built, "K1A"),
        "unassigned": with_evidence(built, "K1B"),
    }


# --------------------------------------------------------------------------- the queue


def test_the_queue_shows_the_assigned_measurements_with_their_evidence(client, world):
    client.force_login(world["verifier"])

    page = client.get(QUEUE)

    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-measurement="{world["assigned"].pk}"' in html
    assert f'data-measurement="{world["unassigned"].pk}"' not in html
    assert evidence_url(world["assigned"]) in html
    assert "run.pdf" in html
    assert client.get(evidence_url(world["assigned"])).status_code == 200


def test_a_verifier_attests_from_the_queue(client, world):
    client.force_login(world["verifier"])
    m = world["assigned"]

    response = client.post(
        reverse("verification:verdict", args=[m.pk]),
        {f"m{m.pk}-verdict": "attested", f"m{m.pk}-note": "Log matches"},
    )

    assert response.status_code == 302
    attestation = MeasurementAttestation.objects.get()
    assert (attestation.measurement, attestation.verdict) == (m, "attested")
    assert attestation.note == "Log matches"
    page = client.get(QUEUE).content.decode()
    assert f'data-measurement="{m.pk}"' not in page
    assert f'data-attestation="{attestation.pk}"' in page


def test_a_dispute_without_a_note_is_refused_beside_the_field(client, world):
    client.force_login(world["verifier"])
    m = world["assigned"]

    response = client.post(
        reverse("verification:verdict", args=[m.pk]), {f"m{m.pk}-verdict": "disputed"}
    )

    assert response.status_code == 422
    assert "field-errors" in response.content.decode()
    assert not MeasurementAttestation.objects.exists()


@pytest.mark.parametrize("who", ["elsewhere", "researcher", "officer", "stranger"])
def test_a_verdict_on_a_measurement_not_assigned_is_404(client, world, who):
    built = world["built"]
    client.force_login(world[who] if who in world else getattr(built, who))
    m = world["unassigned"] if who == "verifier" else world["assigned"]

    response = client.post(
        reverse("verification:verdict", args=[m.pk]), {f"m{m.pk}-verdict": "attested"}
    )

    assert response.status_code == 404
    assert not MeasurementAttestation.objects.exists()


def test_the_verifier_gets_404_for_the_unassigned_kpi(client, world):
    client.force_login(world["verifier"])
    m = world["unassigned"]

    verdict = client.post(
        reverse("verification:verdict", args=[m.pk]), {f"m{m.pk}-verdict": "attested"}
    )

    assert verdict.status_code == 404
    assert client.get(evidence_url(m)).status_code == 404
    # Nor the project itself: a verifier sees the assigned KPIs' measurements only.
    assert client.get(reverse("projects:project", args=[m.project_id])).status_code == 404


# Who may open the evidence of the assigned measurement (§22: others get 404).
EVIDENCE_MATRIX = [
    ("verifier", 200),
    ("researcher", 200),  # the consortium's named person
    ("office", 200),  # the lead organisation's research office
    ("officer", 200),
    ("elsewhere", 404),  # a verifier of another project
    ("stranger", 404),  # a researcher of another organisation
    ("outsider_reviewer", 404),
]


@pytest.mark.parametrize(("who", "status"), EVIDENCE_MATRIX)
def test_evidence_files_by_role_and_organisation(client, world, who, status):
    built = world["built"]
    if who == "outsider_reviewer":
        person = UserFactory.create(role=Role.REVIEWER)
    else:
        person = world[who] if who in world else getattr(built, who)
    client.force_login(person)

    assert client.get(evidence_url(world["assigned"])).status_code == status


def test_a_revoked_verifier_loses_the_queue_and_the_evidence(client, world):
    from projects.services.verification import verifier_revoke

    assignment = VerifierAssignment.objects.get(verifier=world["verifier"])
    verifier_revoke(assignment=assignment, actor=world["built"].officer)
    client.force_login(world["verifier"])

    assert f'data-measurement="{world["assigned"].pk}"' not in client.get(QUEUE).content.decode()
    assert client.get(evidence_url(world["assigned"])).status_code == 404


def _queue_queries(client, count: int) -> int:
    built = build_project()
    verifier = UserFactory.create(role=Role.REVIEWER)
    verifier_designate(project=built.project, actor=built.officer, verifier=verifier)
    for n in range(count):
        measure(built.kpis["K1A" if n % 2 else "K1B"], str(10 + n), recent())
    client.force_login(verifier)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(QUEUE)
    assert page.status_code == 200
    assert page.content.decode().count("data-measurement=") == count
    return len(ctx.captured_queries)


def test_the_queue_answers_in_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    small = _queue_queries(client, 2)
    large = _queue_queries(client, 20)

    assert small == large
    assert large <= 10


def test_the_dashboard_leads_a_verifier_to_the_queue(client, world):
    client.force_login(world["verifier"])
    page = client.get(reverse("dashboard")).content.decode()
    assert QUEUE in page

    client.force_login(world["built"].researcher)
    assert QUEUE not in client.get(reverse("dashboard")).content.decode()


# --------------------------------------------------------------------------- designation


def verifiers_url(built) -> str:
    return reverse("verification:project_verifiers", args=[built.project.pk])


@pytest.mark.parametrize(
    ("who", "status"),
    [("officer", 200), ("researcher", 403), ("office", 403), ("stranger", 404)],
)
def test_the_verifiers_page_is_for_fund_officers(client, who, status):
    built = build_project()
    client.force_login(getattr(built, who))

    assert client.get(verifiers_url(built)).status_code == status


def test_an_officer_designates_and_revokes_on_the_project_page(client):
    built = build_project()
    person = UserFactory.create(role=Role.REVIEWER, display_name="Dr. Lab")
    client.force_login(built.officer)
    assert (
        b'data-link="verifiers"'
        in client.get(reverse("projects:project", args=[built.project.pk])).content
    )

    response = client.post(
        verifiers_url(built), {"verifier": person.pk, "kpis": [built.kpis["K1B"].pk]}
    )

    assert response.status_code == 302
    assignment = VerifierAssignment.objects.get()
    assert assignment.verifier == person
    page = client.get(verifiers_url(built)).content.decode()
    assert "Dr. Lab" in page and "K1B" in page

    revoked = client.post(reverse("verification:revoke", args=[built.project.pk, assignment.pk]))

    assert revoked.status_code == 302
    assignment.refresh_from_db()
    assert assignment.revoked_at is not None


def test_a_conflicted_verifier_is_refused_with_the_reason_in_japanese(client):
    built = build_project()
    insider = member_of(built.extra["jp"], role=Role.RESEARCHER)
    client.force_login(built.officer)
    client.cookies["django_language"] = "ja"

    response = client.post(
        verifiers_url(built), {"verifier": insider.pk}, HTTP_ACCEPT_LANGUAGE="ja"
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert built.extra["jp"].name_ja in html
    assert "利益相反" in html
    assert not VerifierAssignment.objects.exists()


def test_the_projects_measurement_list_shows_each_verdict(client, world):
    from projects.services.verification import measurement_attest

    built = world["built"]
    measurement_attest(measurement=world["assigned"], actor=world["verifier"], verdict="attested")
    client.force_login(built.researcher)

    html = client.get(reverse("measurements:list", args=[built.project.pk])).content.decode()

    assert html.count('data-verification="attested"') == 1
    assert 'data-verification="disputed"' not in html
