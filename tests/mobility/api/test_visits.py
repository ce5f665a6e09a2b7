"""Visits over the REST API (§14, §25): who sees which visit, the arrival and departure with
an Idempotency-Key, problem+json, the documented operations and pinned query counts."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from drf_spectacular.generators import SchemaGenerator
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIClient

from fundapp.accounts.models import Organisation
from fundapp.kernel.calendar import today_in_tokyo
from mobility.api import register
from mobility.models import Visit, VisitPayment, VisitState
from tests.factories import OrganisationFactory, UserFactory, member_of, officer
from tests.factories.mobility import awarded_visit
from tests.factories.projects_api import assert_problem, key_client, user_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_enqueued_release(monkeypatch):
    monkeypatch.setattr("mobility.services.visits._enqueue_stipends", lambda visit_id: None)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


# --------------------------------------------------------------------------- seeing


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("visitor", True),
        ("home_member", True),
        ("host_member", True),
        ("other_member", False),
        ("other_researcher", False),
        ("officer", True),
        ("host_key", True),
        ("home_key", True),
        ("other_key", False),
        ("kr_agency_key", True),
        ("jp_agency_key", False),
    ],
)
def test_who_sees_a_visit(who, sees):
    visit = awarded_visit()  # JP home, KR host: the KR side pays the host
    app = visit.application
    other = OrganisationFactory.create(code="JP-OTHER-1", country="JP")
    agency_kr = OrganisationFactory.create(
        code="KR-AGENCY", country="KR", kind=Organisation.Kind.AGENCY
    )
    agency_jp = OrganisationFactory.create(
        code="JP-AGENCY", country="JP", kind=Organisation.Kind.AGENCY
    )
    client = {
        "visitor": lambda: user_client(app.visitor),
        "home_member": lambda: user_client(member_of(app.home_organisation)),
        "host_member": lambda: user_client(member_of(app.host_organisation)),
        "other_member": lambda: user_client(member_of(other)),
        "other_researcher": lambda: user_client(UserFactory.create()),
        "officer": lambda: user_client(officer("JP")),
        "host_key": lambda: key_client(app.host_organisation),
        "home_key": lambda: key_client(app.home_organisation),
        "other_key": lambda: key_client(other),
        "kr_agency_key": lambda: key_client(agency_kr),
        "jp_agency_key": lambda: key_client(agency_jp),
    }[who]()
    assert ids(client.get("/api/v1/visits/")) == ([visit.pk] if sees else [])
    response = client.get(f"/api/v1/visits/{visit.pk}/")
    if sees:
        assert response.status_code == 200
        assert response.json()["committed"] == visit.committed_amount
    else:
        assert_problem(response, 404)


def test_anonymous_callers_and_keys_without_the_scope_are_refused():
    visit = awarded_visit()
    assert_problem(APIClient().get("/api/v1/visits/"), 401)
    client = key_client(visit.application.host_organisation, scopes=["kpi:write"])
    assert_problem(client.get("/api/v1/visits/"), 403)


def test_the_list_takes_the_same_queries_for_two_and_for_twelve_visits():
    staff = user_client(officer("JP"))

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = staff.get("/api/v1/visits/")
        assert response.status_code == 200
        return len(queries)

    for _ in range(2):
        awarded_visit()
    small = count()
    for _ in range(10):
        awarded_visit()
    assert count() == small


# --------------------------------------------------------------------------- arrival, departure


def test_the_host_system_confirms_arrival_and_departure_once_per_idempotency_key():
    visit = awarded_visit(months=3)
    client = key_client(visit.application.host_organisation, scopes=["payments:write"])
    day = today_in_tokyo().isoformat()
    url = f"/api/v1/visits/{visit.pk}/arrival/"

    first = client.post(url, {"arrived_on": day}, format="json", HTTP_IDEMPOTENCY_KEY="arr-1")
    again = client.post(url, {"arrived_on": day}, format="json", HTTP_IDEMPOTENCY_KEY="arr-1")

    assert first.status_code == 200, first.content
    assert again.json() == first.json()
    assert first.json()["state"] == "active"
    assert [p["kind"] for p in first.json()["payments"]] == ["travel"]
    assert VisitPayment.objects.filter(visit=visit).count() == 1
    assert_problem(
        client.post(url, {"arrived_on": day}, format="json", HTTP_IDEMPOTENCY_KEY="arr-2"), 409
    )
    ended = client.post(
        f"/api/v1/visits/{visit.pk}/departure/",
        {"ended_on": day},
        format="json",
        HTTP_IDEMPOTENCY_KEY="dep-1",
    )
    assert ended.status_code == 200, ended.content
    assert ended.json()["state"] == "ended"
    assert Visit.objects.get(pk=visit.pk).state == VisitState.ENDED


def test_bad_input_answers_field_errors_and_refusals_answer_problems():
    visit = awarded_visit()
    host = visit.application.host_organisation
    office = user_client(member_of(host, research_office=True))
    url = f"/api/v1/visits/{visit.pk}/arrival/"
    # No Idempotency-Key.
    assert_problem(office.post(url, {"arrived_on": "2026-01-01"}, format="json"), 400)
    bad = office.post(url, {"arrived_on": "soon"}, format="json", HTTP_IDEMPOTENCY_KEY="a")
    assert "arrived_on" in assert_problem(bad, 400)["errors"]
    future = date(today_in_tokyo().year + 1, 1, 1).isoformat()
    late = office.post(url, {"arrived_on": future}, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert "arrived_on" in assert_problem(late, 422)["errors"]
    # The visitor sees the visit but may not confirm it.
    visitor = user_client(visit.application.visitor)
    assert_problem(
        visitor.post(url, {"arrived_on": "2026-01-01"}, format="json", HTTP_IDEMPOTENCY_KEY="c"),
        403,
    )
    # A read-only key of the host lacks the scope.
    reader = key_client(host)
    assert_problem(
        reader.post(url, {"arrived_on": "2026-01-01"}, format="json", HTTP_IDEMPOTENCY_KEY="d"),
        403,
    )
    # A visit one may not see answers 404, whatever one asks.
    stranger = user_client(UserFactory.create())
    assert_problem(
        stranger.post(url, {"arrived_on": "2026-01-01"}, format="json", HTTP_IDEMPOTENCY_KEY="e"),
        404,
    )
    assert Visit.objects.get(pk=visit.pk).state == VisitState.AWARDED


# --------------------------------------------------------------------------- documentation


def test_every_operation_is_documented_with_a_summary_an_example_and_problems():
    router = DefaultRouter()
    register(router)
    generator = SchemaGenerator(patterns=[path("api/v1/", include(router.urls))])
    schema = generator.get_schema(request=None, public=True)
    operations = [
        (method, url, op)
        for url, ops in schema["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    # visits: list, detail, arrival, departure
    # (the app's other routers, e.g. visit applications, are tested with their own)
    operations = [op for op in operations if op[1].startswith("/api/v1/visits/")]
    assert sorted((m, u) for m, u, _ in operations) == [
        ("get", "/api/v1/visits/"),
        ("get", "/api/v1/visits/{id}/"),
        ("post", "/api/v1/visits/{id}/arrival/"),
        ("post", "/api/v1/visits/{id}/departure/"),
    ]
    for method, url, op in operations:
        assert op.get("summary"), (method, url)
        contents = [
            *op.get("requestBody", {}).get("content", {}).values(),
            *(c for r in op["responses"].values() for c in r.get("content", {}).values()),
        ]
        assert any("examples" in c for c in contents), (method, url)
        for code, response in op["responses"].items():
            if code.startswith("4"):
                assert list(response["content"]) == ["application/problem+json"], (url, code)
        if method == "post":
            assert any(
                p["name"] == "Idempotency-Key" and p["in"] == "header" and p["required"]
                for p in op.get("parameters", [])
            ), url
