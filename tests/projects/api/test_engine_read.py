"""Projects, stages and KPIs over the API: §21 fields, visibility (404), scopes, queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fundapp.accounts.models import Role
from projects.models import ProjectState
from tests.factories import UserFactory, jp_org, member_of, officer
from tests.factories.projects_api import assert_problem, key_client, make_project, ok, user_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

LIST = "/api/v1/projects/"

PROJECT_FIELDS = {"id", "title", "state", "call", "current_stage"}
STAGE_FIELDS = {"id", "number", "state", "gate", "kpis", "planned_tranche"}
KPI_FIELDS = {"id", "code", "direction", "baseline", "target", "weight", "mandatory", "aggregation"}


def detail(project) -> str:
    return f"{LIST}{project.pk}/"


def ids(response) -> set[int]:
    return {row["id"] for row in ok(response)["results"]}


def test_list_carries_the_published_fields():
    built = make_project()
    project = built.project

    rows = ok(user_client(built.c.pi_jp).get(LIST))["results"]

    assert len(rows) == 1
    row = rows[0]
    assert set(row) >= PROJECT_FIELDS
    assert row["id"] == project.pk
    assert row["title"] == "Edge AI accelerators"
    assert row["state"] == "active"
    assert row["call"] == project.call_id
    assert row["current_stage"] == built.stages[0].pk
    assert row["current_stage_number"] == 1


def test_detail_has_stages_with_gate_kpis_and_planned_tranche():
    built = make_project()

    body = ok(key_client(built.c.kr).get(detail(built.project)))

    assert set(body) >= PROJECT_FIELDS | {"stages"}
    assert [s["number"] for s in body["stages"]] == [1, 2]
    first = body["stages"][0]
    assert set(first) >= STAGE_FIELDS
    assert first["id"] == built.stages[0].pk
    assert first["state"] == "active"
    assert set(first["gate"]) >= {"id", "due_on"}
    assert first["gate"]["id"] == built.gates[0].pk
    assert first["gate"]["due_on"] == built.gates[0].due_on.isoformat()
    assert first["planned_tranche"] == {"JPY": 40_000_000, "KRW": 400_000_000}
    assert body["stages"][1]["planned_tranche"] == {"JPY": 60_000_000, "KRW": 600_000_000}
    assert isinstance(first["planned_tranche"]["JPY"], int)
    kpi = first["kpis"][0]
    assert set(kpi) >= KPI_FIELDS
    assert kpi == {
        **kpi,
        "code": "K1A",
        "direction": "higher_is_better",
        "baseline": "10.000000",
        "target": "20.000000",
        "weight": "1.0000",
        "mandatory": True,
        "aggregation": "latest",
    }
    assert [k["code"] for k in first["kpis"]] == ["K1A", "K1B"]


def test_other_organisations_get_404_and_see_nothing():
    built = make_project()
    stranger_org = jp_org()
    stranger = member_of(stranger_org)
    stranger_key = key_client(stranger_org)

    assert_problem(user_client(stranger).get(detail(built.project)), 404)
    assert_problem(stranger_key.get(detail(built.project)), 404)
    assert ids(user_client(stranger).get(LIST)) == set()
    assert ids(stranger_key.get(LIST)) == set()
    # a reviewer never sees running projects
    reviewer = UserFactory.create(role=Role.REVIEWER)
    assert_problem(user_client(reviewer).get(detail(built.project)), 404)
    # a missing id answers the same
    assert_problem(user_client(built.c.pi_jp).get(f"{LIST}999999/"), 404)
    assert_problem(user_client(built.c.pi_jp).get(f"{LIST}abc/"), 404)


def test_officers_see_every_project():
    a, b = make_project(), make_project()
    assert ids(user_client(officer("KR")).get(LIST)) == {a.project.pk, b.project.pk}
    finance = UserFactory.create(role=Role.FINANCE_OFFICER, side="JP")
    assert ok(user_client(finance).get(detail(b.project)))["id"] == b.project.pk


def test_keys_need_projects_read():
    built = make_project()
    key = key_client(built.c.jp, scopes=["kpi:write", "gates:read"])
    assert_problem(key.get(LIST), 403)
    assert_problem(key.get(detail(built.project)), 403)
    assert_problem(key.get("/api/v1/stages/"), 403)
    assert_problem(key.get("/api/v1/kpis/"), 403)


def test_list_filters_by_state_and_call():
    a, b = make_project(), make_project()
    b.project.state = ProjectState.SUSPENDED
    b.project.save(update_fields=["state"])
    client = user_client(officer())

    assert ids(client.get(LIST, {"state": "suspended"})) == {b.project.pk}
    assert ids(client.get(LIST, {"state": "active"})) == {a.project.pk}
    assert ids(client.get(LIST, {"call": a.project.call_id})) == {a.project.pk}
    assert_problem(client.get(LIST, {"call": "x"}), 400)
    assert_problem(client.get(LIST, {"state": "nonsense"}), 400)


def test_list_and_detail_queries_do_not_grow_with_size():
    client = user_client(officer())
    make_project()
    with CaptureQueriesContext(connection) as one:
        assert len(ok(client.get(LIST))["results"]) == 1
    built = [make_project() for _ in range(4)]
    with CaptureQueriesContext(connection) as five:
        assert len(ok(client.get(LIST))["results"]) == 5
    assert len(five) == len(one)

    key = key_client(built[0].c.jp)
    with CaptureQueriesContext(connection) as detail_queries:
        ok(key.get(detail(built[0].project)))
    # key, project, stages (+gate), KPIs, tranches, organisations (+ last_used_at stamp)
    assert len(detail_queries) <= 7


def test_stages_and_kpis_lists_filter_by_project_and_hide_others():
    a, b = make_project(), make_project()
    client = user_client(a.c.pi_kr)

    stages = ok(client.get("/api/v1/stages/"))["results"]
    assert {s["id"] for s in stages} == {s.pk for s in a.stages}
    assert set(stages[0]) >= STAGE_FIELDS | {"project"}
    kpis = ok(client.get("/api/v1/kpis/", {"project": a.project.pk}))["results"]
    assert {k["code"] for k in kpis} == {"K1A", "K1B", "K2A", "K2B"}
    assert set(kpis[0]) >= KPI_FIELDS | {"project", "stage"}
    only_stage = ok(client.get("/api/v1/kpis/", {"stage": a.stages[1].pk}))["results"]
    assert {k["code"] for k in only_stage} == {"K2A", "K2B"}

    staff = user_client(officer())
    assert {
        s["project"] for s in ok(staff.get("/api/v1/stages/", {"project": b.project.pk}))["results"]
    } == {b.project.pk}
    assert_problem(client.get(f"/api/v1/stages/{b.stages[0].pk}/"), 404)
    other_kpi = b.kpis()[0]
    assert_problem(client.get(f"/api/v1/kpis/{other_kpi.pk}/"), 404)
    assert ok(client.get(f"/api/v1/kpis/{a.kpis()[0].pk}/"))["code"] == "K1A"


def test_stage_and_kpi_lists_have_constant_queries():
    client = user_client(officer())
    make_project()
    with CaptureQueriesContext(connection) as one_stages:
        ok(client.get("/api/v1/stages/"))
    with CaptureQueriesContext(connection) as one_kpis:
        ok(client.get("/api/v1/kpis/"))
    for _ in range(3):
        make_project()
    with CaptureQueriesContext(connection) as many_stages:
        assert len(ok(client.get("/api/v1/stages/"))["results"]) == 8
    with CaptureQueriesContext(connection) as many_kpis:
        assert len(ok(client.get("/api/v1/kpis/"))["results"]) == 16
    assert len(many_stages) == len(one_stages)
    assert len(many_kpis) == len(one_kpis)


def test_a_project_made_by_the_award_service_reads_in_the_published_shape():
    from projects.services.projects import project_create_from_proposal
    from tests.factories.projects_api import fund_side
    from tests.factories.proposals import submitted_proposal

    proposal, c = submitted_proposal()
    fund_side("JP", 100_000_000)
    fund_side("KR", 1_000_000_000)
    project = project_create_from_proposal(proposal=proposal, actor=officer("JP"))

    body = ok(key_client(c.jp).get(detail(project)))

    assert set(body) >= PROJECT_FIELDS | {"stages"}
    assert body["current_stage"] == body["stages"][0]["id"]
    assert [s["planned_tranche"] for s in body["stages"]] == [
        {"JPY": 40_000_000, "KRW": 400_000_000},
        {"JPY": 60_000_000, "KRW": 600_000_000},
    ]
    for stage in body["stages"]:
        assert set(stage) >= STAGE_FIELDS
        assert set(stage["gate"]) >= {"id", "due_on"}
        assert [set(k) >= KPI_FIELDS for k in stage["kpis"]] == [True, True]
    # Frozen at award (§22): the mandatory KPI asks for a document, the other for nothing.
    assert [
        (k["code"], k["mandatory"], k["evidence"], k["means_of_verification"])
        for k in body["stages"][0]["kpis"]
    ] == [("K1A", True, "document", ""), ("K1B", False, "none", "")]
    assert ids(user_client(c.pi_kr).get(LIST)) == {project.pk}
    tranches = ok(key_client(c.kr).get("/api/v1/tranches/", {"project": project.pk}))["results"]
    assert [(t["stage_number"], t["side"], t["state"]) for t in tranches][:2] == [
        (1, "JP", "decided"),
        (1, "KR", "decided"),
    ]
