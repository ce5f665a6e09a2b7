"""Attesting and disputing measurements over the API (§14, §22): designated verifiers in
the browser session and verifier organisations' keys with ``kpi:attest``; verdicts listed
in the measurement's representation; everyone else 403 (may see it) or 404 (may not)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fundapp.accounts.models import Role
from projects.models import MeasurementAttestation
from projects.services.verification import verifier_designate
from tests.factories import UserFactory, kr_org
from tests.factories.gates import build_project, measure
from tests.factories.projects_api import assert_problem, key_client, ok, user_client

pytestmark = pytest.mark.django_db

ATTEST = ["kpi:attest"]


def recent():
    return timezone.now() - timedelta(hours=1)


def url(m, verdict: str = "attest") -> str:
    return f"/api/v1/measurements/{m.pk}/{verdict}/"


def post(client, m, verdict="attest", note="Log matches", key="v-1"):
    return client.post(url(m, verdict), {"note": note}, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def world():
    built = build_project()
    lab = kr_org(code="KR-LAB-01")
    verifier_designate(
        project=built.project, actor=built.officer, organisation=lab, kpis=[built.kpis["K1A"]]
    )
    person = UserFactory.create(role=Role.REVIEWER)
    verifier_designate(project=built.project, actor=built.officer, verifier=person)
    return {
        "built": built,
        "lab": lab,
        "person": person,
        "assigned": measure(built.kpis["K1A"], "15", recent()),
        "unassigned": measure(built.kpis["K1B"], "15", recent()),
    }


def test_a_labs_system_attests_and_sees_the_verdict_in_the_measurement(world):
    client = key_client(world["lab"], ATTEST)

    response = post(client, world["assigned"])

    data = ok(response, 201)
    assert data["id"] == world["assigned"].pk
    assert data["verification"] == "attested"
    (verdict,) = data["attestations"]
    assert verdict["verdict"] == "attested"
    assert verdict["note"] == "Log matches"
    assert verdict["verifier"] is None
    assert verdict["verifier_organisation"] == world["lab"].pk


def test_the_same_idempotency_key_replays_and_a_second_verdict_is_409(world):
    client = key_client(world["lab"], ATTEST)
    first = post(client, world["assigned"])

    again = post(client, world["assigned"])
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert_problem(post(client, world["assigned"], "dispute", key="v-2"), 409)
    assert MeasurementAttestation.objects.count() == 1
    assert_problem(client.post(url(world["assigned"]), {}, format="json"), 400)


def test_a_verifier_person_disputes_with_a_note_through_the_session(world):
    client = user_client(world["person"])

    assert_problem(post(client, world["unassigned"], "dispute", note=""), 422)
    data = ok(post(client, world["unassigned"], "dispute", note="No log", key="v-2"), 201)

    assert data["verification"] == "disputed"
    assert data["attestations"][0]["verifier"] == world["person"].pk


# The matrix (§2, §22): who may attest the assigned measurement, and what the others get.
API_MATRIX = [
    # (who, scopes, status)
    ("lab", ATTEST, 201),  # the designated verifier organisation
    ("lab", ["projects:read"], 404),  # its key without kpi:attest sees nothing of it
    ("other_lab", ATTEST, 404),  # a verifier organisation not designated here
    ("consortium", ["kpi:attest", "projects:read"], 403),  # sees it, may not judge it
    ("consortium", ["projects:read"], 403),
    ("person", None, 201),  # the designated person
    ("researcher", None, 403),  # the project's named researcher
    ("officer", None, 403),
    ("stranger", None, 404),
    ("outsider_reviewer", None, 404),
]


@pytest.mark.parametrize(("who", "scopes", "status"), API_MATRIX)
def test_who_may_attest_by_role_and_organisation(world, who, scopes, status):
    built = world["built"]
    if who == "lab":
        client = key_client(world["lab"], scopes)
    elif who == "other_lab":
        client = key_client(kr_org(), scopes)
    elif who == "consortium":
        client = key_client(built.extra["jp"], scopes)
    elif who == "person":
        client = user_client(world["person"])
    elif who == "outsider_reviewer":
        client = user_client(UserFactory.create(role=Role.REVIEWER))
    else:
        client = user_client(getattr(built, who))

    response = post(client, world["assigned"])

    if status == 201:
        ok(response, 201)
        assert MeasurementAttestation.objects.count() == 1
    else:
        assert_problem(response, status)
        assert not MeasurementAttestation.objects.exists()


def test_a_kpi_outside_the_labs_designation_is_404(world):
    assert_problem(post(key_client(world["lab"], ATTEST), world["unassigned"]), 404)


def test_a_verifier_reads_nothing_else_of_the_project(world):
    """Designation lets a verifier judge; it does not open the project's records."""
    lab = key_client(world["lab"], [*ATTEST, "projects:read", "gates:read"])
    m = world["assigned"]

    assert ok(lab.get("/api/v1/measurements/"))["results"] == []
    assert_problem(lab.get(f"/api/v1/measurements/{m.pk}/"), 404)
    assert_problem(lab.get(f"/api/v1/projects/{m.project_id}/"), 404)
    person = user_client(world["person"])
    assert_problem(person.get(f"/api/v1/measurements/{m.pk}/"), 404)


def test_the_measurement_list_carries_the_verdicts_in_a_fixed_number_of_queries(world):
    built = world["built"]
    post(key_client(world["lab"], ATTEST), world["assigned"])
    client = key_client(built.extra["jp"], ["projects:read"])

    def listed() -> dict[int, dict]:
        response = client.get("/api/v1/measurements/", {"project": built.project.pk})
        return {row["id"]: row for row in ok(response)["results"]}

    listed()  # the key's first use is recorded once
    with CaptureQueriesContext(connection) as small:
        rows = listed()
    assert rows[world["assigned"].pk]["verification"] == "attested"
    assert rows[world["unassigned"].pk]["attestations"] == []
    for n in range(10):
        measure(built.kpis["K1B"], str(20 + n), recent())
    with CaptureQueriesContext(connection) as large:
        assert len(listed()) == 12
    assert len(small.captured_queries) == len(large.captured_queries)
