"""/api/v1/research-areas/ and /api/v1/calls/ (§14, §21)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from fundapp.accounts.services import api_key_issue
from fundapp.audit.models import AuditEvent
from projects.models import Call, CallState, ResearchArea, ReviewCriterion
from tests.factories import (
    CallFactory,
    FundFactory,
    ResearchAreaFactory,
    UserFactory,
    jp_org,
    officer,
)

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def criteria_for(call: Call, *weights: str) -> None:
    for order, weight in enumerate(weights or ("2", "1")):
        ReviewCriterion.objects.create(
            call=call,
            name_en=f"Criterion {order}",
            name_ja=f"基準 {order}",
            name_ko=f"기준 {order}",
            weight=Decimal(weight),
            order=order,
        )


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def researcher_api():
    client = APIClient()
    client.force_login(UserFactory.create())
    return client


@pytest.fixture
def officer_api():
    client = APIClient()
    client.force_login(officer("JP"))
    return client


def key_client(*scopes: str) -> APIClient:
    _key, full_key = api_key_issue(
        organisation=jp_org(), name="Research office", scopes=list(scopes), actor=officer()
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")
    return client


def new_call_body(**overrides) -> dict:
    ResearchAreaFactory.create(code="semiconductor.ai")
    now = timezone.now()
    body = {
        "title_en": "AI semiconductors 2026",
        "title_ja": "AI半導体 2026",
        "research_areas": ["semiconductor.ai"],
        "opens_at": (now + timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=60)).isoformat(),
        "max_budget": {"JPY": 300_000_000, "KRW": 2_700_000_000},
        "criteria": [{"name_en": "Scientific merit", "weight": "2.000"}],
    }
    body.update(overrides)
    return body


# --- reading ------------------------------------------------------------------------------


def test_a_researcher_reads_published_calls_in_the_published_shape(researcher_api):
    edge = ResearchAreaFactory.create(code="semiconductor.ai.edge", name_ja="エッジAI")
    call = CallFactory.create(
        research_areas=[ResearchAreaFactory.create(code="semiconductor.ai"), edge],
        max_budget_jpy=300_000_000,
        max_budget_krw=2_700_000_000,
    )
    criteria_for(call, "2", "1.5")
    CallFactory.create(state=CallState.DRAFT)

    response = researcher_api.get("/api/v1/calls/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (item,) = body["results"]
    assert item["id"] == call.pk
    assert item["state"] == "open"
    assert item["research_areas"] == ["semiconductor.ai", "semiconductor.ai.edge"]
    assert item["max_budget"] == {"JPY": 300_000_000, "KRW": 2_700_000_000}
    assert item["min_stages"] == 2 and item["max_stages"] == 5
    assert item["max_project_months"] == 60
    assert item["criteria"][1] == {
        "id": call.criteria.all()[1].id,
        "name_en": "Criterion 1",
        "name_ja": "基準 1",
        "name_ko": "기준 1",
        "weight": "1.500",
    }
    assert item["gate_policy"] == {
        "pass_threshold": "1.0000",
        "conditional_threshold": "0.8000",
        "conditional_floor": "0.8000",
        "bonus_rate": "0.5000",
        "max_multiplier": "1.2000",
        "conditional_rate": "0.8000",
        "max_extensions": 1,
        "max_extension_months": 6,
        "auto_release_on_pass": True,
    }
    for field in ("title_en", "title_ja", "title_ko", "description_en", "description_ja"):
        assert field in item
    assert item["opens_at"].endswith("+09:00")  # ISO 8601 with the offset


def test_calls_filter_by_state_and_by_research_area_and_below(researcher_api):
    ai = ResearchAreaFactory.create(code="semiconductor.ai")
    edge = ResearchAreaFactory.create(code="semiconductor.ai.edge")
    quantum = ResearchAreaFactory.create(code="quantum.comm")
    on_ai = CallFactory.create(research_areas=[ai])
    on_edge = CallFactory.create(research_areas=[edge], state=CallState.CLOSED)
    CallFactory.create(research_areas=[quantum])
    CallFactory.create(research_areas=[ResearchAreaFactory.create(code="semiconductor.aix")])

    def ids(query: str) -> set[int]:
        response = researcher_api.get(f"/api/v1/calls/?{query}")
        assert response.status_code == 200, response.content
        return {c["id"] for c in response.json()["results"]}

    assert ids("research_area=semiconductor.ai") == {on_ai.pk, on_edge.pk}
    assert ids("research_area=semiconductor.ai.edge") == {on_edge.pk}
    assert ids("research_area=semiconductor.ai&state=open") == {on_ai.pk}
    assert ids("state=closed") == {on_edge.pk}


def test_an_unknown_state_filter_is_a_field_error(researcher_api):
    response = researcher_api.get("/api/v1/calls/?state=someday")
    assert response.status_code == 400
    assert response["Content-Type"].startswith(PROBLEM)
    assert "state" in response.json()["errors"]


def test_drafts_are_for_fund_officers_only(researcher_api, officer_api):
    draft = CallFactory.create(state=CallState.DRAFT)

    assert officer_api.get(f"/api/v1/calls/{draft.pk}/").status_code == 200
    assert officer_api.get("/api/v1/calls/").json()["count"] == 1
    hidden = researcher_api.get(f"/api/v1/calls/{draft.pk}/")
    assert hidden.status_code == 404
    assert hidden["Content-Type"].startswith(PROBLEM)


@pytest.mark.parametrize("path", ["/api/v1/calls/999999/", "/api/v1/calls/abc/"])
def test_an_unknown_call_is_a_404_problem(researcher_api, path):
    response = researcher_api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == 404 and body["type"] and body["title"] and body["detail"]


def test_a_key_with_a_read_scope_reads_calls_and_areas():
    call = CallFactory.create()
    client = key_client("proposals:read")

    assert client.get(f"/api/v1/calls/{call.pk}/").json()["id"] == call.pk
    assert client.get("/api/v1/research-areas/").status_code == 200


def test_a_key_without_the_scope_is_refused():
    CallFactory.create()
    client = key_client("licences:check")

    for path in ("/api/v1/calls/", "/api/v1/research-areas/"):
        response = client.get(path)
        assert response.status_code == 403
        assert response["Content-Type"].startswith(PROBLEM)


def test_reading_needs_authentication(api):
    response = api.get("/api/v1/calls/")
    assert response.status_code == 401
    assert response["Content-Type"].startswith(PROBLEM)


def test_research_areas_carry_their_published_fields(researcher_api):
    parent = ResearchAreaFactory.create(code="quantum", name_en="Quantum")
    child = ResearchArea.objects.create(
        code="quantum.comm",
        name_en="Quantum communication",
        name_ja="量子通信",
        name_ko="양자 통신",
        sensitivity="controlled",
        parent=parent,
    )

    response = researcher_api.get(f"/api/v1/research-areas/{child.pk}/")

    assert response.json() == {
        "id": child.pk,
        "code": "quantum.comm",
        "name_en": "Quantum communication",
        "name_ja": "量子通信",
        "name_ko": "양자 통신",
        "sensitivity": "controlled",
        "parent": parent.pk,
    }
    listed = researcher_api.get(f"/api/v1/research-areas/?parent={parent.pk}").json()
    assert [a["code"] for a in listed["results"]] == ["quantum.comm"]


def _count_queries(client: APIClient, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


def test_list_queries_do_not_grow_with_the_page(researcher_api, django_assert_max_num_queries):
    def add_calls(n: int) -> None:
        for _ in range(n):
            call = CallFactory.create(
                research_areas=[
                    ResearchAreaFactory.create(),
                    ResearchAreaFactory.create(code="semiconductor.ai"),
                ]
            )
            criteria_for(call)

    add_calls(2)
    few = _count_queries(researcher_api, "/api/v1/calls/")
    add_calls(20)
    many = _count_queries(researcher_api, "/api/v1/calls/")
    assert few == many
    # session, user, count, the page of calls, their areas, their criteria
    with django_assert_max_num_queries(6):
        researcher_api.get("/api/v1/calls/")
    with django_assert_max_num_queries(4):
        researcher_api.get("/api/v1/research-areas/")


# --- writing ------------------------------------------------------------------------------


def test_an_officer_creates_a_draft_call(officer_api):
    FundFactory.create()

    response = officer_api.post("/api/v1/calls/", new_call_body(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "draft"
    assert body["max_budget"] == {"JPY": 300_000_000, "KRW": 2_700_000_000}
    assert body["gate_policy"]["pass_threshold"] == "1.0000"
    assert body["criteria"][0]["weight"] == "2.000"
    assert AuditEvent.objects.filter(action="call.created", object_id=str(body["id"])).exists()


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"closes_at": "2020-01-01T00:00:00+09:00"}, 422, "closes_at"),
        ({"max_budget": {"JPY": 10**15 + 1, "KRW": 0}}, 422, "max_budget.JPY"),
        ({"max_budget": {"JPY": 1.5, "KRW": 0}}, 400, "max_budget.JPY"),
        ({"max_budget": {"JPY": -1, "KRW": 0}}, 400, "max_budget.JPY"),
        ({"gate_policy": {"pass_threshold": "0"}}, 422, "gate_policy.pass_threshold"),
        ({"research_areas": ["no.such.area"]}, 400, "research_areas"),
        ({"research_areas": []}, 422, "research_areas"),
        ({"criteria": []}, 422, "criteria"),
        ({"criteria": [{"name_en": "Merit", "weight": "0"}]}, 422, "criteria.0.weight"),
        ({"min_stages": 4, "max_stages": 3}, 422, "max_stages"),
    ],
)
def test_a_refused_call_is_a_problem_with_field_errors_and_nothing_is_saved(
    officer_api, change, status, field
):
    FundFactory.create()

    response = officer_api.post("/api/v1/calls/", new_call_body(**change), format="json")

    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    assert field in response.json()["errors"], response.json()
    assert Call.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_a_researcher_cannot_write(researcher_api):
    FundFactory.create()
    call = CallFactory.create()

    created = researcher_api.post("/api/v1/calls/", new_call_body(), format="json")
    patched = researcher_api.patch(f"/api/v1/calls/{call.pk}/", {"title_en": "x"}, format="json")
    closed = researcher_api.post(f"/api/v1/calls/{call.pk}/close/")

    assert [created.status_code, patched.status_code, closed.status_code] == [403, 403, 403]
    assert created["Content-Type"].startswith(PROBLEM)
    call.refresh_from_db()
    assert call.state == CallState.OPEN and call.title_en != "x"
    assert Call.objects.count() == 1


def test_a_key_cannot_write_whatever_its_scopes():
    FundFactory.create()
    call = CallFactory.create()
    client = key_client("proposals:read", "proposals:write", "gates:write")

    assert client.post("/api/v1/calls/", new_call_body(), format="json").status_code == 403
    assert (
        client.patch(f"/api/v1/calls/{call.pk}/", {"title_en": "x"}, format="json").status_code
        == 403
    )
    assert client.post(f"/api/v1/calls/{call.pk}/close/").status_code == 403


def test_an_officer_moves_the_deadline_of_an_open_call_but_not_its_budget(officer_api):
    call = CallFactory.create()
    criteria_for(call)
    later = call.closes_at + timedelta(days=7)

    moved = officer_api.patch(
        f"/api/v1/calls/{call.pk}/", {"closes_at": later.isoformat()}, format="json"
    )
    refused = officer_api.patch(
        f"/api/v1/calls/{call.pk}/", {"max_budget": {"JPY": 1}}, format="json"
    )

    assert moved.status_code == 200, moved.content
    call.refresh_from_db()
    assert call.closes_at == later
    assert refused.status_code == 422
    assert "max_budget.JPY" in refused.json()["errors"]
    assert call.max_budget_jpy == 300_000_000


def test_put_is_not_offered(officer_api):
    call = CallFactory.create()
    assert officer_api.put(f"/api/v1/calls/{call.pk}/", {}, format="json").status_code == 405


def test_an_officer_opens_and_closes_a_call(officer_api):
    now = timezone.now()
    call = CallFactory.create(
        state=CallState.DRAFT, opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=9)
    )

    opened = officer_api.post(f"/api/v1/calls/{call.pk}/open/")
    closed = officer_api.post(f"/api/v1/calls/{call.pk}/close/")
    again = officer_api.post(f"/api/v1/calls/{call.pk}/open/")

    assert (opened.status_code, opened.json()["state"]) == (200, "open")
    assert (closed.status_code, closed.json()["state"]) == (200, "closed")
    assert again.status_code == 409
    assert again["Content-Type"].startswith(PROBLEM)
    assert [e.action for e in AuditEvent.objects.order_by("id")] == ["call.opened", "call.closed"]


def test_a_transition_on_an_unknown_call_is_a_404(officer_api):
    response = officer_api.post("/api/v1/calls/424242/open/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith(PROBLEM)
