"""Visit applications over the REST API (§14, §21, §25): the journey from a draft to a
visit, who may do what, stale saves, problem+json and the list's pinned query count."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from drf_spectacular.generators import SchemaGenerator
from rest_framework.routers import DefaultRouter

from fundapp.accounts.models import Role
from mobility.api import register
from mobility.models import ApplicationState, Visit, VisitApplication
from mobility.services.awards import visit_award_approve
from mobility.services.reviews import (
    application_assignment_declare,
    application_review_submit,
    application_reviewer_assign,
    application_start_review,
)
from projects.models import ReviewCriterion
from tests.factories import OrganisationFactory, UserFactory, member_of
from tests.factories.mobility import (
    Exchange,
    application_under_review,
    draft_application,
    exchange,
    fund_exchange_pools,
    submitted_application,
)
from tests.factories.projects_api import assert_problem, key_client, user_client
from tests.factories.review import reviewer

pytestmark = pytest.mark.django_db

URL = "/api/v1/visit-applications/"
RW = ("proposals:read", "proposals:write")


def ok(response, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json()


def wizard(x: Exchange) -> dict[str, Any]:
    return {
        "research_area": x.area.code,
        "planned_start": (x.call.closes_at.date() + timedelta(days=60)).isoformat(),
        "months": 6,
        "title_en": "Cryogenic probing of spin qubits",
        "plan_en": "Joint measurements on the host's probe station.",
        "host_supervisor_name": "Kim Host",
        "host_supervisor_email": "kim@example.org",
        "effort_percent": 80,
    }


# --------------------------------------------------------------------------- the journey


def test_the_journey_from_a_draft_to_a_visit():
    x = exchange()
    fund_exchange_pools(x)
    home = key_client(x.home, RW)
    created = ok(
        home.post(
            URL,
            {
                "call": x.call.pk,
                "visitor": x.visitor.pk,
                "home_organisation": x.home.pk,
                "host_organisation": x.host.pk,
            },
            format="json",
        ),
        201,
    )
    assert created["state"] == "draft"
    assert created["award_decision"] is None and created["visit"] is None
    detail = f"{URL}{created['id']}/"
    saved = ok(home.patch(detail, {"version": created["version"], **wizard(x)}, format="json"))
    assert saved["version"] == created["version"] + 1
    assert saved["research_area"] == x.area.code
    assert ok(home.post(f"{detail}submit/"))["state"] == "submitted"

    host = key_client(x.host, RW)
    endorsed = ok(host.post(f"{detail}endorse/", {"comment": "Welcome."}, format="json"))
    assert endorsed["state"] == "endorsed"

    application = VisitApplication.objects.get(pk=created["id"])
    application_start_review(application=application, actor=x.officers.jp)
    person = reviewer()
    assignment = application_reviewer_assign(
        application=application, reviewer=person, actor=x.officers.jp
    )
    application_assignment_declare(assignment=assignment, actor=person, conflict=False)
    criteria = ReviewCriterion.objects.filter(call=x.call).order_by("order")
    application_review_submit(
        assignment=assignment,
        actor=person,
        scores={str(c.pk): 4 for c in criteria},
        comment="Well planned.",
        recommendation="fund",
    )

    first = ok(
        user_client(x.officers.jp).post(
            f"{detail}award/", {"outcome": "awarded", "reason": "Strong plan"}, format="json"
        )
    )
    assert first["state"] == "under_review"
    assert first["award_decision"]["outcome"] == "awarded"
    assert first["award_decision"]["two_person"]["state"] == "pending"
    assert first["award_decision"]["two_person"]["needed_side"] == "KR"
    second = ok(
        user_client(x.officers.kr).post(
            f"{detail}award/", {"outcome": "awarded", "reason": "Agreed"}, format="json"
        )
    )
    assert second["state"] == "awarded"
    assert second["award_decision"]["two_person"]["state"] == "completed"
    visit = Visit.objects.get(application_id=created["id"])
    assert second["visit"] == visit.pk
    visits = ok(key_client(x.host, ("projects:read",)).get("/api/v1/visits/"))
    assert [row["id"] for row in visits["results"]] == [visit.pk]


def test_a_researcher_applies_in_the_browser_for_themselves_only():
    x = exchange()
    client = user_client(x.visitor)
    body = {"call": x.call.pk, "home_organisation": x.home.pk, "host_organisation": x.host.pk}
    created = ok(client.post(URL, {**body, **wizard(x)}, format="json"), 201)
    assert created["visitor"] == x.visitor.pk
    assert created["months"] == 6
    other = member_of(x.home)
    problem = assert_problem(client.post(URL, {**body, "visitor": other.pk}, format="json"), 422)
    assert "visitor" in problem["errors"]


def test_a_refused_field_leaves_no_draft_behind():
    x = exchange()
    client = user_client(x.visitor)
    body = {
        "call": x.call.pk,
        "home_organisation": x.home.pk,
        "host_organisation": x.host.pk,
        "research_area": "no.such.area",
    }
    problem = assert_problem(client.post(URL, body, format="json"), 422)
    assert "research_area" in problem["errors"]
    assert not VisitApplication.objects.exists()


def test_a_stale_save_answers_409_and_changes_nothing():
    x = exchange()
    application = draft_application(x)
    client = user_client(x.visitor)
    detail = f"{URL}{application.pk}/"
    fresh = ok(client.patch(detail, {"version": application.version, "months": 3}, format="json"))
    problem = assert_problem(
        client.patch(detail, {"version": application.version, "months": 9}, format="json"), 409
    )
    assert problem["code"] == "stale_version"
    assert "version" in problem["errors"]
    assert ok(client.get(detail))["months"] == fresh["months"] == 3
    unknown = assert_problem(client.patch(detail, {"version": 2, "colour": 1}, format="json"), 400)
    assert "colour" in unknown["errors"]
    assert assert_problem(client.patch(detail, {"months": 9}, format="json"), 400)["errors"]


def test_bad_input_answers_field_errors_in_the_callers_language():
    x = exchange()
    client = user_client(x.visitor)
    problem = assert_problem(
        client.post(URL, {"call": "x", "months": 40}, format="json", HTTP_ACCEPT_LANGUAGE="ja"),
        400,
    )
    assert {"call", "months"} <= set(problem["errors"])
    assert all(not message.isascii() for message in problem["errors"]["months"])
    unknown = assert_problem(client.post(URL, {"call": 2**31 - 2}, format="json"), 422)
    assert "call" in unknown["errors"]


def test_the_host_returns_a_submission_with_a_reason():
    x = exchange()
    application = submitted_application(x)
    host = key_client(x.host, RW)
    detail = f"{URL}{application.pk}/"
    assert (
        "reason" in assert_problem(host.post(f"{detail}return/", {}, format="json"), 400)["errors"]
    )
    returned = ok(host.post(f"{detail}return/", {"reason": "Name the supervisor."}, format="json"))
    assert returned["state"] == "draft"


def test_the_visitor_withdraws():
    x = exchange()
    application = submitted_application(x)
    withdrawn = ok(
        user_client(x.visitor).post(
            f"{URL}{application.pk}/withdraw/", {"reason": "Postponed."}, format="json"
        )
    )
    assert withdrawn["state"] == "withdrawn"


# --------------------------------------------------------------------------- award decisions


def test_a_pending_award_is_withdrawn_or_declined():
    x = exchange()
    application = application_under_review(x)
    detail = f"{URL}{application.pk}/"
    jp, kr = user_client(x.officers.jp), user_client(x.officers.kr)
    assert_problem(jp.post(f"{detail}award/withdraw/"), 409)
    ok(jp.post(f"{detail}award/", {"outcome": "rejected", "reason": "Weak"}, format="json"))
    assert_problem(kr.post(f"{detail}award/withdraw/"), 403)
    withdrawn = ok(jp.post(f"{detail}award/withdraw/"))
    assert withdrawn["award_decision"] is None
    ok(jp.post(f"{detail}award/", {"outcome": "rejected", "reason": "Weak"}, format="json"))
    assert_problem(kr.post(f"{detail}award/decline/", {}, format="json"), 422)
    declined = ok(kr.post(f"{detail}award/decline/", {"reason": "Fund it."}, format="json"))
    assert declined["award_decision"] is None
    assert declined["state"] == "under_review"
    problem = assert_problem(
        jp.post(f"{detail}award/", {"outcome": "maybe", "reason": "x"}, format="json"), 400
    )
    assert "outcome" in problem["errors"]


def test_a_rejection_by_two_officers_rejects():
    x = exchange()
    application = application_under_review(x)
    detail = f"{URL}{application.pk}/"
    body = {"outcome": "rejected", "reason": "Weak plan"}
    ok(user_client(x.officers.jp).post(f"{detail}award/", body, format="json"))
    done = ok(user_client(x.officers.kr).post(f"{detail}award/", body, format="json"))
    assert done["state"] == ApplicationState.REJECTED
    assert done["visit"] is None
    assert done["award_decision"]["outcome"] == "rejected"


# --------------------------------------------------------------------------- who may do what


def _clients(x: Exchange) -> dict[str, Any]:
    other = OrganisationFactory.create(code="JP-OTHER-9", country="JP")
    return {
        "visitor": lambda: user_client(x.visitor),
        "home_office": lambda: user_client(x.home_office),
        "host_office": lambda: user_client(x.host_office),
        "other_researcher": lambda: user_client(member_of(other)),
        "officer": lambda: user_client(x.officers.jp),
        "staff": lambda: user_client(UserFactory.create(role=Role.FUND_OFFICER)),
        "home_key": lambda: key_client(x.home, RW),
        "home_key_read": lambda: key_client(x.home, ("proposals:read",)),
        "home_key_none": lambda: key_client(x.home, ("projects:read",)),
        "host_key": lambda: key_client(x.host, RW),
        "host_key_read": lambda: key_client(x.host, ("proposals:read",)),
        "other_key": lambda: key_client(other, RW),
    }


SEES_SUBMITTED = {
    "visitor": 200,
    "home_office": 200,
    "host_office": 200,
    "other_researcher": 404,
    "officer": 200,
    "home_key": 200,
    "home_key_read": 200,
    "home_key_none": 403,
    "host_key": 200,
    "host_key_read": 200,
    "other_key": 404,
}


@pytest.mark.parametrize(("who", "status"), sorted(SEES_SUBMITTED.items()))
def test_who_reads_a_submitted_application(who, status):
    x = exchange()
    application = submitted_application(x)
    client = _clients(x)[who]()
    response = client.get(f"{URL}{application.pk}/")
    if status == 200:
        assert ok(response)["id"] == application.pk
        assert [row["id"] for row in ok(client.get(URL))["results"]] == [application.pk]
    else:
        assert_problem(response, status)
        if status == 404:
            assert ok(client.get(URL))["results"] == []


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("visitor", 200),
        ("home_key", 200),
        ("home_key_read", 403),
        ("home_office", 404),
        ("host_office", 404),
        ("host_key", 403),
        ("officer", 200),
        ("other_researcher", 404),
        ("other_key", 404),
    ],
)
def test_who_saves_a_draft(who, status):
    x = exchange()
    application = draft_application(x)
    response = _clients(x)[who]().patch(
        f"{URL}{application.pk}/", {"version": application.version, "months": 3}, format="json"
    )
    if status == 200 and who == "officer":
        # Fund staff see every application, but only the visitor's side changes it.
        assert_problem(response, 403)
        return
    if status == 200:
        assert ok(response)["months"] == 3
    else:
        assert_problem(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("visitor", 200),
        ("home_key", 200),
        ("home_key_read", 403),
        ("host_key", 403),
        ("host_office", 404),
        ("officer", 403),
        ("other_key", 404),
    ],
)
def test_who_submits(who, status):
    x = exchange()
    application = draft_application(x)
    response = _clients(x)[who]().post(f"{URL}{application.pk}/submit/")
    if status == 200:
        assert ok(response)["state"] == "submitted"
    else:
        assert_problem(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("visitor", 200),
        ("home_key", 200),
        ("host_key", 403),
        ("host_office", 403),
        ("officer", 403),
        ("other_key", 404),
    ],
)
def test_who_withdraws(who, status):
    x = exchange()
    application = submitted_application(x)
    response = _clients(x)[who]().post(f"{URL}{application.pk}/withdraw/", {}, format="json")
    if status == 200:
        assert ok(response)["state"] == "withdrawn"
    else:
        assert_problem(response, status)


@pytest.mark.parametrize("step", ["endorse", "return"])
@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("host_key", 200),
        ("host_office", 200),
        ("host_key_read", 403),
        ("home_key", 403),
        ("home_office", 403),
        ("visitor", 403),
        ("officer", 403),
        ("other_key", 404),
        ("other_researcher", 404),
    ],
)
def test_who_endorses_or_returns(step, who, status):
    x = exchange()
    application = submitted_application(x)
    body = {"comment": "Welcome."} if step == "endorse" else {"reason": "Please add the plan."}
    response = _clients(x)[who]().post(f"{URL}{application.pk}/{step}/", body, format="json")
    if status == 200:
        assert ok(response)["state"] == ("endorsed" if step == "endorse" else "draft")
    else:
        assert_problem(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("officer", 200),
        ("visitor", 403),
        ("host_office", 403),
        ("home_key", 403),
        ("host_key", 403),
        ("other_key", 404),
        ("other_researcher", 404),
    ],
)
def test_who_decides_an_award(who, status):
    x = exchange()
    application = application_under_review(x)
    response = _clients(x)[who]().post(
        f"{URL}{application.pk}/award/", {"outcome": "rejected", "reason": "Weak"}, format="json"
    )
    if status == 200:
        assert ok(response)["award_decision"]["two_person"]["state"] == "pending"
    else:
        assert_problem(response, status)


def test_a_create_needs_the_write_scope_and_the_home_organisation():
    x = exchange()
    body = {
        "call": x.call.pk,
        "visitor": x.visitor.pk,
        "home_organisation": x.home.pk,
        "host_organisation": x.host.pk,
    }
    assert_problem(key_client(x.home, ("proposals:read",)).post(URL, body, format="json"), 403)
    problem = assert_problem(key_client(x.host, RW).post(URL, body, format="json"), 422)
    assert "home_organisation" in problem["errors"]
    assert_problem(user_client(x.officers.jp).post(URL, body, format="json"), 403)
    assert_problem(user_client(x.host_office).post(URL, body, format="json"), 422)


# --------------------------------------------------------------------------- the list


def _pending_rejection() -> Exchange:
    """An exchange of its own (one visitor's effort, one duplicate check) with an
    application under review that one officer has approved rejecting."""
    x = exchange()
    application = application_under_review(x)
    visit_award_approve(
        application=application, actor=x.officers.jp, outcome="reject", reason="Weak"
    )
    return x


def test_the_list_costs_the_same_queries_at_two_sizes_and_filters():
    first = _pending_rejection()
    client = user_client(first.officers.jp)
    counts = []
    for n in (1, 4):
        while VisitApplication.objects.count() < n:
            _pending_rejection()
        with CaptureQueriesContext(connection) as queries:
            rows = ok(client.get(URL))["results"]
        counts.append(len(queries))
        assert len(rows) == n
        assert all(row["award_decision"]["two_person"]["state"] == "pending" for row in rows)
    assert counts[0] == counts[1]
    assert ok(client.get(URL, {"state": "draft"}))["results"] == []
    assert len(ok(client.get(URL, {"call": first.call.pk}))["results"]) == 1
    assert_problem(client.get(URL, {"call": "1.5"}), 400)


def test_every_operation_is_documented_with_a_summary_an_example_and_problems():
    router = DefaultRouter()
    register(router)
    generator = SchemaGenerator(patterns=[path("api/v1/", include(router.urls))])
    schema = generator.get_schema(request=None, public=True)
    operations = [
        (method, url, op)
        for url, ops in schema["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "patch") and url.startswith(URL)
    ]
    assert len(operations) == 11
    for method, url, op in operations:
        assert op.get("summary"), (method, url)
        contents = [
            *op.get("requestBody", {}).get("content", {}).values(),
            *(c for r in op["responses"].values() for c in r.get("content", {}).values()),
        ]
        assert any("examples" in c for c in contents), (method, url)
        codes = [code for code in op["responses"] if code.startswith("4")]
        assert codes, (method, url)
        for code in codes:
            assert list(op["responses"][code]["content"]) == ["application/problem+json"]
