"""Reading proposals: the list (visible only, filterable, constant queries) and the detail."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.services import proposals as svc
from tests.factories import CallFactory, ResearchAreaFactory, jp_org, member_of
from tests.factories.proposals import complete_proposal, make_consortium, submitted_proposal
from tests.factories.proposals_api import (
    assert_problem,
    bare_draft,
    detail_url,
    key_client,
    user_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

LIST_URL = "/api/v1/proposals/"


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_list_shows_the_callers_proposals_with_the_published_fields():
    proposal, c = submitted_proposal()
    other_draft, _other = complete_proposal()

    response = user_client(c.pi_kr).get(LIST_URL)

    assert ids(response) == {proposal.pk}
    row = response.json()["results"][0]
    assert row == {
        "id": proposal.pk,
        "call": c.call.pk,
        "state": "submitted",
        "version": proposal.version,
        "title": "Edge AI accelerators",
        "title_en": "Edge AI accelerators",
        "title_ja": "エッジAIアクセラレータ",
        "title_ko": "엣지 AI 가속기",
        "research_area": "semiconductor.ai",
        "submitted_at": row["submitted_at"],
        "updated_at": row["updated_at"],
        "lead_organisations": [c.jp.code, c.kr.code],
    }
    assert row["submitted_at"] is not None
    assert other_draft.pk not in ids(user_client(c.pi_jp).get(LIST_URL))


def test_list_title_follows_the_request_language():
    proposal, c = complete_proposal()
    response = user_client(c.pi_jp).get(LIST_URL, HTTP_ACCEPT_LANGUAGE="ja")
    assert response.json()["results"][0]["title"] == "エッジAIアクセラレータ"


def test_an_unrelated_organisation_sees_nothing_and_gets_404():
    proposal, c = submitted_proposal()
    stranger_org = jp_org()
    stranger_key = key_client(stranger_org)
    stranger = member_of(stranger_org)

    assert ids(stranger_key.get(LIST_URL)) == set()
    assert ids(user_client(stranger).get(LIST_URL)) == set()
    assert_problem(stranger_key.get(detail_url(proposal)), 404)
    assert_problem(user_client(stranger).get(detail_url(proposal)), 404)
    # The lead's own system sees it once submitted.
    assert ids(key_client(c.kr).get(LIST_URL)) == {proposal.pk}


def test_list_filters_by_call_state_and_research_area():
    area = ResearchAreaFactory.create(code="quantum.comm")
    submitted, c = submitted_proposal()
    other_call = CallFactory.create(research_areas=[area])
    other = svc.proposal_create(actor=c.pi_jp, call=other_call)
    other = svc.proposal_update(
        proposal=other,
        actor=c.pi_jp,
        expected_version=other.version,
        changes={"basics": {"title_en": "Quantum links", "research_area": "quantum.comm"}},
    )
    client = user_client(c.pi_jp)

    assert ids(client.get(LIST_URL)) == {submitted.pk, other.pk}
    assert ids(client.get(LIST_URL, {"call": other_call.pk})) == {other.pk}
    assert ids(client.get(LIST_URL, {"state": "submitted"})) == {submitted.pk}
    assert ids(client.get(LIST_URL, {"state": "draft"})) == {other.pk}
    assert ids(client.get(LIST_URL, {"research_area": "quantum.comm"})) == {other.pk}
    assert ids(client.get(LIST_URL, {"research_area": "semiconductor.ai"})) == {submitted.pk}


@pytest.mark.parametrize("query", [{"state": "bogus"}, {"call": "abc"}, {"page": "x"}])
def test_bad_list_parameters_are_problems_not_500(query):
    response = user_client(member_of(jp_org())).get(LIST_URL, query)
    assert response.status_code in (400, 404)
    assert_problem(response, response.status_code)


def test_list_query_count_does_not_grow_with_page_size(django_assert_max_num_queries):
    c = make_consortium()
    for i in range(50):
        svc.proposal_create(
            actor=c.pi_jp,
            call=c.call,
            basics={"title_en": f"Proposal {i}", "research_area": "semiconductor.ai"},
        )
    client = user_client(c.pi_jp)

    with CaptureQueriesContext(connection) as one_row:
        first = client.get(LIST_URL, {"page_size": 1})
    assert len(first.json()["results"]) == 1
    # session, user, count, rows, lead organisations: nothing per row
    assert len(one_row.captured_queries) <= 6

    with django_assert_max_num_queries(len(one_row.captured_queries)):
        page = client.get(LIST_URL, {"page_size": 50})

    rows = page.json()["results"]
    assert len(rows) == 50
    assert all(row["lead_organisations"] == [c.jp.code] for row in rows)
    assert all(row["research_area"] == "semiconductor.ai" for row in rows)


def test_detail_has_every_section_in_the_published_shape():
    proposal, c = submitted_proposal()
    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    proposal.refresh_from_db()

    response = user_client(c.pi_jp).get(detail_url(proposal))

    assert response.status_code == 200, response.content
    assert response["ETag"] == f'"{proposal.version}"'
    body = response.json()
    assert body["id"] == proposal.pk
    assert body["version"] == proposal.version
    assert body["state"] == "submitted"
    assert body["research_area"] == "semiconductor.ai"
    assert body["trl_now"] == 3 and body["trl_target"] == 6
    assert body["keywords"] == ["edge", "ai"]
    assert body["consortium"]["members"] == [
        {"organisation": c.jp.code, "role": "lead_jp"},
        {"organisation": c.kr.code, "role": "lead_kr"},
    ]
    assert body["consortium"]["people"][0] == {
        "user": c.pi_jp.pk,
        "username": c.pi_jp.username,
        "organisation": c.jp.code,
        "role": "pi",
        "effort_percent": 30,
    }
    first, second = body["stages"]
    assert first["number"] == 1 and second["number"] == 2
    assert first["planned_tranche"] == {"JPY": 40_000_000, "KRW": 400_000_000}
    assert second["planned_tranche"] == {"JPY": 60_000_000, "KRW": 600_000_000}
    assert first["kpis"][1] == {
        "code": "K1B",
        "name": "KPI K1B",
        "name_en": "KPI K1B",
        "name_ja": "指標 K1B",
        "name_ko": "지표 K1B",
        "unit": "TOPS/W",
        "direction": "higher_is_better",
        "baseline": "10.000000",
        "target": "20.000000",
        "weight": "2.0000",
        "mandatory": False,
        "aggregation": "latest",
        "evidence": "none",
        "means_of_verification": "",
        "means_of_verification_en": "",
        "means_of_verification_ja": "",
        "means_of_verification_ko": "",
    }
    assert first["kpis"][0]["evidence"] == "document"  # mandatory: the least it may have
    assert {"organisation": c.jp.code, "category": "personnel", "currency": "JPY"}.items() <= (
        body["budget"][0].items()
    )
    assert isinstance(body["budget"][0]["amount"], int)
    assert body["ip_plan"] == {
        "background_ip": [],
        "licence_terms": "Non-exclusive research licences.",
    }
    assert body["security"] == {"dual_use": False, "controlled_categories": [], "notes": ""}
    (attachment,) = body["attachments"]
    assert attachment["kind"] == "research_plan"
    assert attachment["name"] == "plan.pdf"
    assert len(attachment["sha256"]) == 64
    assert attachment["download_url"].endswith(
        f"/api/v1/proposals/{proposal.pk}/attachments/{attachment['id']}/"
    )
    assert [e["organisation"] for e in body["endorsements"]] == [c.jp.code]
    assert body["eligibility_reasons"] == []


def test_detail_query_count_is_bounded(django_assert_max_num_queries):
    proposal, c = complete_proposal()
    client = user_client(c.pi_jp)
    with django_assert_max_num_queries(16):
        assert client.get(detail_url(proposal)).status_code == 200


@pytest.mark.parametrize("pk", ["abc", "1.5", "-1", "99999999999999999999999", "0"])
def test_odd_ids_are_404_problems(pk):
    _proposal, c = bare_draft()
    client = user_client(c.pi_jp)
    assert_problem(client.get(f"/api/v1/proposals/{pk}/"), 404)
    if "." not in pk:  # "1.5/submit/" matches no route at all (the router's id has no dots)
        assert_problem(client.post(f"/api/v1/proposals/{pk}/submit/"), 404)


def test_a_draft_is_hidden_from_the_research_office_until_submitted():
    proposal, c = complete_proposal()
    assert_problem(user_client(c.office_jp).get(detail_url(proposal)), 404)
    svc.proposal_submit(proposal=proposal, actor=c.pi_jp)
    assert user_client(c.office_jp).get(detail_url(proposal)).status_code == 200
