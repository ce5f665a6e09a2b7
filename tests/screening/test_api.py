"""/api/v1/screening-cases/ (§11, §14): who reads, who decides, problem+json."""

from __future__ import annotations

import pytest

from fundapp.audit.models import AuditEvent
from fundapp.screening.models import ScreeningState
from fundapp.screening.services import screening_case_decide

from .conftest import key_client, open_case, party

pytestmark = pytest.mark.django_db

LIST = "/api/v1/screening-cases/"


def detail(pk: int) -> str:
    return f"{LIST}{pk}/"


def decide(pk: int) -> str:
    return f"{LIST}{pk}/decide/"


@pytest.fixture
def case(restricted_list):
    return open_case(
        reasons=[{"code": "dual_use", "detail": "drones"}],
        parties=[party(3, "㈱東洋電子"), party(4, "Kyoto University")],
    )


@pytest.mark.parametrize("who", ["screener", "fund_officer", "admin_user"])
def test_officers_read_the_list_and_a_case(api_client, request, case, who):
    api_client.force_authenticate(request.getfixturevalue(who))

    listed = api_client.get(LIST)
    one = api_client.get(detail(case.pk))

    assert listed.status_code == 200 and listed.json()["count"] == 1
    assert one.status_code == 200
    body = one.json()
    assert body["id"] == case.pk
    assert body["subject_type"] == "proposal" and body["subject_id"] == 1
    assert body["subject_label"] == "Proposal 1" and body["subject_url"] == "/proposals/1/"
    assert body["state"] == "open"
    assert [r["code"] for r in body["reasons"]] == ["dual_use", "restricted_party_match"]
    assert body["reasons"][0]["label"] == "Dual-use declared"
    assert body["matches"][0]["party_name"] == "東洋電子株式会社"
    assert body["matches"][0]["organisation"] == 3
    assert body["decided_by"] is None and body["decision_reason"] == ""
    assert listed.json()["results"][0] == body


def test_list_filters(api_client, screener, case):
    other = open_case(9, subject_type="licence")
    screening_case_decide(case=other, actor=screener, decision="clear", reason="ok")
    api_client.force_authenticate(screener)

    assert [c["id"] for c in api_client.get(LIST, {"state": "open"}).json()["results"]] == [case.pk]
    assert [
        c["id"] for c in api_client.get(LIST, {"subject_type": "licence"}).json()["results"]
    ] == [other.pk]
    assert [
        c["id"]
        for c in api_client.get(LIST, {"subject_type": "proposal", "subject_id": 1}).json()[
            "results"
        ]
    ] == [case.pk]
    bad = api_client.get(LIST, {"state": "nonsense"})
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"


def test_list_query_count_is_constant(api_client, screener, django_assert_max_num_queries):
    for i in range(1, 40):
        open_case(i)
    api_client.force_authenticate(screener)
    with django_assert_max_num_queries(6):
        response = api_client.get(LIST)
    assert response.json()["count"] == 39


@pytest.mark.parametrize("who", ["researcher", "finance_officer"])
def test_others_get_403_for_the_list_and_404_for_a_case(api_client, request, case, who):
    api_client.force_authenticate(request.getfixturevalue(who))

    listed = api_client.get(LIST)
    one = api_client.get(detail(case.pk))
    decided = api_client.post(decide(case.pk), {"decision": "clear", "reason": "x"}, format="json")

    assert listed.status_code == 403 and listed["Content-Type"] == "application/problem+json"
    assert one.status_code == 404 and one["Content-Type"] == "application/problem+json"
    assert decided.status_code == 404
    case.refresh_from_db()
    assert case.state == ScreeningState.OPEN


@pytest.mark.parametrize("scopes", [[], ["proposals:read", "proposals:write", "licences:read"]])
def test_api_keys_get_403_on_the_list_and_404_on_cases(case, scopes):
    """Keys have no screening scope: the list is refused, and a case they may not see is
    404 like any object one may not see (§2)."""
    client = key_client(scopes)

    assert client.get(LIST).status_code == 403
    for response in (
        client.get(detail(case.pk)),
        client.post(decide(case.pk), {"decision": "clear", "reason": "x"}, format="json"),
    ):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
    case.refresh_from_db()
    assert case.state == ScreeningState.OPEN


def test_anonymous_gets_401(api_client, case):
    response = api_client.get(LIST)
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"


def test_screening_officer_decides(api_client, screener, case):
    api_client.force_authenticate(screener)

    response = api_client.post(
        decide(case.pk),
        {"decision": "clear", "reason": "False positive: different Toyo Denshi."},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "cleared"
    assert body["decided_by"] == str(screener)
    assert body["decision_reason"] == "False positive: different Toyo Denshi."
    assert body["decided_at"] is not None
    event = AuditEvent.objects.get(action="screening.case_cleared")
    assert event.actor_user == screener and event.object_id == str(case.pk)


def test_fund_officer_may_read_but_not_decide(api_client, fund_officer, case):
    api_client.force_authenticate(fund_officer)

    response = api_client.post(decide(case.pk), {"decision": "clear", "reason": "x"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    case.refresh_from_db()
    assert case.state == ScreeningState.OPEN


def test_reason_is_required(api_client, screener, case):
    api_client.force_authenticate(screener)

    response = api_client.post(decide(case.pk), {"decision": "clear", "reason": " "}, format="json")

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert "reason" in response.json()["errors"]
    missing = api_client.post(decide(case.pk), {"decision": "clear"}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["errors"]


def test_bad_decision_is_400(api_client, screener, case):
    api_client.force_authenticate(screener)
    response = api_client.post(
        decide(case.pk), {"decision": "approve", "reason": "x"}, format="json"
    )
    assert response.status_code == 400 and "decision" in response.json()["errors"]


def test_blocked_is_final_409(api_client, screener, case):
    api_client.force_authenticate(screener)
    first = api_client.post(
        decide(case.pk), {"decision": "block", "reason": "Listed."}, format="json"
    )
    second = api_client.post(
        decide(case.pk), {"decision": "clear", "reason": "Undo"}, format="json"
    )

    assert first.status_code == 200 and first.json()["state"] == "blocked"
    assert second.status_code == 409 and second.json()["code"] == "conflict"


def test_unknown_case_is_404(api_client, screener):
    api_client.force_authenticate(screener)
    assert api_client.get(detail(999999)).status_code == 404
    response = api_client.post(decide(999999), {"decision": "block", "reason": "x"}, format="json")
    assert response.status_code == 404


def test_schema_documents_the_endpoints(api_client, screener):
    api_client.force_authenticate(screener)
    schema = api_client.get("/api/schema/", {"format": "json"}).json()

    assert "/api/v1/screening-cases/" in schema["paths"]
    assert "/api/v1/screening-cases/{id}/" in schema["paths"]
    post = schema["paths"]["/api/v1/screening-cases/{id}/decide/"]["post"]
    assert {"200", "403", "404", "409", "422"} <= set(post["responses"])


def test_every_operation_has_a_summary_an_example_and_problem_json_errors():
    from django.urls import include, path
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.routers import DefaultRouter

    from fundapp.screening.api import register

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

    assert sorted((m, u) for m, u, _ in operations) == [
        ("get", "/api/v1/screening-cases/"),
        ("get", "/api/v1/screening-cases/{id}/"),
        ("post", "/api/v1/screening-cases/{id}/decide/"),
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
