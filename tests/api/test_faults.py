"""Faults and hostile input on the API (§17): Redis down answers 503 problem+json with
Retry-After, deeply nested JSON 400, an over-size body 413, never a 500."""

from __future__ import annotations

import json

import pytest
from django.core.cache import caches
from django.test import override_settings
from rest_framework.test import APIClient

from fundapp.accounts.models import Role
from fundapp.api.parsers import MAX_JSON_DEPTH, json_depth
from fundapp.ledger.services import ledger_post
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Nothing listens on port 1 of the loopback: a Redis that is down.
REDIS_DOWN = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


def _officer_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory.create(role=Role.FUND_OFFICER, side="JP"))
    return client


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_depth():
    assert json_depth(1) == 0
    assert json_depth([]) == 1
    assert json_depth({"a": [{"b": []}]}) == 4
    assert json_depth(json.loads(_nested(40))) == 40


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5000])
def test_json_nested_too_deep_answers_400_problem(depth):
    response = _officer_client().post(
        "/api/v1/licences/check/", data=_nested(depth), content_type="application/json"
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "32" in response.json()["detail"]


def test_json_within_the_depth_is_parsed_and_judged_on_its_fields():
    response = _officer_client().post(
        "/api/v1/licences/check/", data=_nested(MAX_JSON_DEPTH), content_type="application/json"
    )

    assert response.status_code in (400, 403, 422)
    assert "32" not in response.json()["detail"]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_over_size_body_answers_413_problem():
    body = json.dumps({"licence": "x" * 2000})

    response = _officer_client().post(
        "/api/v1/licences/check/", data=body, content_type="application/json"
    )

    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"


def test_redis_down_answers_503_problem_with_retry_after_and_pages_keep_working(client):
    officer = UserFactory.create(role=Role.FUND_OFFICER, side="JP")
    api = APIClient()
    api.force_authenticate(officer)
    client.force_login(officer)
    with override_settings(CACHES=REDIS_DOWN):
        response = api.get("/api/v1/projects/")
        page = client.get("/projects/")
        assert caches["default"]._cache._servers == ["redis://127.0.0.1:1/0"]  # type: ignore[attr-defined]

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"]
    assert response.json()["code"] == "service_unavailable"
    # The portfolio page needs the database only.
    assert page.status_code == 200


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=abc", "page_size=0", "page_size=x"])
def test_bad_page_parameters_answer_400_naming_the_parameter(query):
    response = _officer_client().get(f"/api/v1/projects/?{query}")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert query.split("=")[0] in response.json()["errors"]


def test_a_page_past_the_end_is_not_found_and_the_last_page_is_found():
    client = _officer_client()

    assert client.get("/api/v1/projects/?page=99").status_code == 404
    assert client.get("/api/v1/projects/?page=last").status_code == 200


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGEgY3Vyc29y", "eD0x", "bz0tMQ==", "bz14"])
def test_a_bad_cursor_answers_400_never_a_silent_first_page(cursor):
    response = _officer_client().get(f"/api/v1/ledger/transactions/?cursor={cursor}")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert "cursor" in response.json()["errors"]


def test_a_cursor_from_a_page_still_works():
    for number in range(2):
        ledger_post(
            kind="contribution",
            currency="JPY",
            legs=[("agency:JP", -1_000), ("fund:JP:pool", 1_000)],
            reference=f"faults:{number}",
        )
    client = _officer_client()
    first = client.get("/api/v1/ledger/transactions/?page_size=1")
    assert first.status_code == 200
    following = first.json()["next"]
    assert following

    second = client.get(following)

    assert second.status_code == 200
    assert second.json()["results"][0]["id"] != first.json()["results"][0]["id"]


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_url_answers_a_problem_404_whatever_debug_is(debug, settings):
    settings.DEBUG = debug
    client = _officer_client()

    for url in ("/api/v1/no-such-thing/", "/api/nothing", "/api/v1/projects/1/nope/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"


def test_an_api_url_without_its_trailing_slash_is_redirected():
    response = _officer_client().get("/api/v1/projects?page_size=1")

    assert response.status_code == 301
    assert response["Location"] == "/api/v1/projects/?page_size=1"
