"""§14/§21 conventions on the engine and ledger endpoints: documented, problem+json, 401/405."""

from __future__ import annotations

import pytest
from django.urls import include, path
from drf_spectacular.generators import SchemaGenerator
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIClient

from fundapp.ledger.api import register as register_ledger
from projects.api.engine import register as register_engine
from tests.factories.projects_api import assert_problem, make_project, user_client

pytestmark = pytest.mark.usefixtures("private_media")

ENGINE_URLS = [
    "/api/v1/projects/",
    "/api/v1/stages/",
    "/api/v1/kpis/",
    "/api/v1/measurements/",
    "/api/v1/gates/",
    "/api/v1/tranches/",
    "/api/v1/disbursements/",
    "/api/v1/ledger/accounts/",
    "/api/v1/ledger/transactions/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ENGINE_URLS)
def test_anonymous_callers_get_401_with_a_challenge(url):
    response = APIClient().get(url)
    assert_problem(response, 401)
    assert "Bearer" in response["WWW-Authenticate"]


@pytest.mark.django_db
def test_reads_are_read_only():
    built = make_project()
    client = user_client(built.c.pi_jp)
    assert_problem(client.delete(f"/api/v1/projects/{built.project.pk}/"), 405)
    assert_problem(client.post("/api/v1/projects/", {}, format="json"), 405)
    assert_problem(client.patch(f"/api/v1/kpis/{built.kpis()[0].pk}/", {}, format="json"), 405)
    assert_problem(client.post("/api/v1/tranches/", {}, format="json"), 405)


def test_every_operation_is_documented_with_a_summary_an_example_and_problems():
    router = DefaultRouter()
    register_engine(router)
    register_ledger(router)
    generator = SchemaGenerator(patterns=[path("api/v1/", include(router.urls))])
    schema = generator.get_schema(request=None, public=True)

    operations = [
        (method, url, op)
        for url, ops in schema["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    # list + detail of 7 engine resources (14), measurement create, reject, attest and
    # dispute (4), gate evaluations, forecast, evaluate and decisions GET/POST (5), a
    # decision's withdraw and decline (2), confirm (1), ledger list + detail (4), evidence
    # files: upload ahead, add to a measurement, download (3), a project's amendments: list,
    # propose, read, approve, decline, withdraw (6)
    assert len(operations) == 39, sorted((m, u) for m, u, _ in operations)
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
    idempotent = [
        (m, u)
        for m, u, op in operations
        if any(
            p["name"] == "Idempotency-Key" and p["in"] == "header" and p["required"]
            for p in op.get("parameters", [])
        )
    ]
    assert sorted(idempotent) == [
        ("post", "/api/v1/disbursements/{id}/confirm/"),
        ("post", "/api/v1/measurements/"),
        ("post", "/api/v1/measurements/{id}/attest/"),
        ("post", "/api/v1/measurements/{id}/dispute/"),
        ("post", "/api/v1/measurements/{id}/evidence/"),
    ]
