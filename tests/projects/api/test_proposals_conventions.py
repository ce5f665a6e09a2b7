"""§21 conventions on the proposals endpoints: problem+json, 401, 405, 429 with Retry-After."""

from __future__ import annotations

import pytest
from django.urls import include, path
from drf_spectacular.generators import SchemaGenerator
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIClient

from fundapp.api.throttling import ClientRateThrottle
from projects.api.proposals import register
from tests.factories.proposals import complete_proposal
from tests.factories.proposals_api import assert_problem, detail_url, key_client, user_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def test_anonymous_callers_get_401_with_a_challenge():
    proposal, _c = complete_proposal()
    response = APIClient().get(detail_url(proposal))
    body = assert_problem(response, 401)
    assert body["type"].startswith("https://")
    assert body["title"] and body["detail"]
    assert "Bearer" in response["WWW-Authenticate"]


def test_a_bad_key_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer jkf_nope_nope")
    assert_problem(client.get("/api/v1/proposals/"), 401)


def test_put_and_delete_of_a_proposal_are_not_offered():
    proposal, c = complete_proposal()
    client = user_client(c.pi_jp)
    assert_problem(client.put(detail_url(proposal), {}, format="json"), 405)
    assert_problem(client.delete(detail_url(proposal)), 405)


def test_too_many_requests_is_429_with_retry_after(monkeypatch, one_rate_window):
    # DRF reads the rates into the class at import; patch the class, not the settings.
    monkeypatch.setattr(ClientRateThrottle, "THROTTLE_RATES", {"client": "3/min"})
    proposal, c = complete_proposal()
    client = key_client(c.jp)

    statuses = [client.get("/api/v1/proposals/").status_code for _ in range(3)]
    response = client.get("/api/v1/proposals/")

    assert statuses == [200, 200, 200]
    assert_problem(response, 429)
    assert int(response["Retry-After"]) > 0
    # another caller has its own budget
    assert user_client(c.pi_jp).get(detail_url(proposal)).status_code == 200


def test_browser_sessions_need_the_csrf_token_to_write():
    proposal, c = complete_proposal()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(c.pi_jp)

    assert client.get(detail_url(proposal)).status_code == 200
    response = client.patch(detail_url(proposal), {"version": proposal.version}, format="json")

    body = assert_problem(response, 403)
    assert "CSRF" in body["detail"]


def test_every_proposals_operation_is_documented_with_a_summary_and_an_example():
    router = DefaultRouter()
    register(router)
    generator = SchemaGenerator(patterns=[path("api/v1/", include(router.urls))])
    schema = generator.get_schema(request=None, public=True)

    operations = [
        (method, url, op)
        for url, ops in schema["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "patch", "delete")
    ]
    assert len(operations) == 11
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
