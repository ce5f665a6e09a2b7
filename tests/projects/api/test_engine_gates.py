"""Gates over the API: the published shape, evaluation now, decisions (§8, §14, §21)."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.routers import DefaultRouter

from fundapp.accounts.models import Role
from projects.api.engine import register as register_engine
from projects.models import GateDecision, GateEvaluation, GateState
from tests.factories import UserFactory, jp_org, member_of, officer
from tests.factories.projects_api import (
    assert_problem,
    automatic_decision,
    evaluation,
    key_client,
    make_project,
    measure,
    ok,
    user_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

URL = "/api/v1/gates/"
GATE_FIELDS = {"id", "stage", "state", "due_on", "latest_evaluation"}
EVALUATION_FIELDS = {"id", "score", "outcome", "evaluated_at", "kpis"}
KPI_LINE_FIELDS = {"code", "value", "achievement", "met", "missing"}
READ = ["gates:read"]


def gate_url(gate, suffix: str = "") -> str:
    return f"{URL}{gate.pk}/{suffix}"


def test_a_gate_shows_its_latest_evaluation_in_the_published_shape():
    built = make_project()
    gate = built.gates[0]
    kpis = built.kpis()
    old = evaluation(
        gate,
        score="0.5000",
        outcome="fail",
        kpis=kpis,
        evaluated_at=timezone.now() - timedelta(days=1),
    )
    latest = evaluation(gate, score="1.2", outcome="pass", kpis=kpis)
    assert latest.evaluated_at > old.evaluated_at

    body = ok(key_client(built.c.jp, READ).get(gate_url(gate)))

    assert set(body) >= GATE_FIELDS
    assert body["id"] == gate.pk
    assert body["stage"] == built.stages[0].pk
    assert body["state"] == "pending"
    assert body["due_on"] == gate.due_on.isoformat()
    ev = body["latest_evaluation"]
    assert set(ev) >= EVALUATION_FIELDS
    assert ev["id"] == latest.pk
    assert ev["score"] == "1.2000"
    assert ev["outcome"] == "pass"
    assert [set(line) >= KPI_LINE_FIELDS for line in ev["kpis"]] == [True, True]
    met, missing = ev["kpis"]
    assert met == {
        **met,
        "code": "K1A",
        "value": "22.000000",
        "achievement": "1.2000",
        "met": True,
        "missing": False,
    }
    assert missing == {
        **missing,
        "code": "K1B",
        "value": None,
        "achievement": "0.0000",
        "met": False,
        "missing": True,
    }


def test_a_gate_never_evaluated_has_no_latest_evaluation():
    built = make_project()
    assert ok(user_client(built.c.pi_jp).get(gate_url(built.gates[1])))["latest_evaluation"] is None


def test_ties_on_evaluated_at_go_to_the_greatest_id():
    built = make_project()
    gate = built.gates[0]
    at = timezone.now()
    evaluation(gate, score="0.1", outcome="fail", kpis=built.kpis(), evaluated_at=at)
    second = evaluation(gate, score="0.2", outcome="fail", kpis=built.kpis(), evaluated_at=at)
    client = user_client(officer())
    assert ok(client.get(gate_url(gate)))["latest_evaluation"]["id"] == second.pk
    rows = ok(client.get(URL, {"project": built.project.pk}))["results"]
    assert rows[0]["latest_evaluation"]["id"] == second.pk


def test_list_filters_and_hides_other_projects():
    built, other = make_project(), make_project()
    evaluation(built.gates[0], score="1", outcome="pass", kpis=built.kpis())
    GateEvaluation.objects.none()
    client = user_client(built.c.pi_kr)

    assert {g["id"] for g in ok(client.get(URL))["results"]} == {g.pk for g in built.gates}
    staff = user_client(officer())
    assert {g["id"] for g in ok(staff.get(URL, {"project": other.project.pk}))["results"]} == {
        g.pk for g in other.gates
    }
    assert ok(staff.get(URL, {"state": "evaluated"}))["results"] == []
    assert_problem(staff.get(URL, {"state": "bogus"}), 400)
    assert_problem(client.get(gate_url(other.gates[0])), 404)
    assert_problem(key_client(built.c.jp, READ).get(gate_url(other.gates[0])), 404)


def test_keys_need_gates_read_to_read_and_gates_write_to_evaluate():
    built = make_project()
    key = key_client(built.c.jp, ["projects:read", "kpi:write"])
    gate = built.gates[0]
    assert_problem(key.get(URL), 403)
    assert_problem(key.get(gate_url(gate)), 403)
    assert_problem(key.get(gate_url(gate, "evaluations/")), 403)
    assert_problem(key.post(gate_url(gate, "evaluate/")), 403)
    assert_problem(key_client(built.c.jp, READ).post(gate_url(gate, "evaluate/")), 403)
    assert not GateEvaluation.objects.exists()


def test_gate_list_queries_do_not_grow_with_gates_or_evaluations():
    client = user_client(officer())
    first = make_project()
    evaluation(first.gates[0], score="1", outcome="pass", kpis=first.kpis())
    with CaptureQueriesContext(connection) as small:
        assert len(ok(client.get(URL))["results"]) == 2
    for _ in range(3):
        built = make_project()
        for _ in range(3):
            evaluation(built.gates[0], score="1", outcome="pass", kpis=built.kpis())
    with CaptureQueriesContext(connection) as large:
        rows = ok(client.get(URL))["results"]
    assert len(rows) == 8
    assert len(large) == len(small)


def test_evaluations_are_listed_newest_first_with_the_snapshot():
    built = make_project()
    gate = built.gates[0]
    older = evaluation(
        gate,
        score="0.5",
        outcome="fail",
        kpis=built.kpis(),
        evaluated_at=timezone.now() - timedelta(hours=1),
    )
    newer = evaluation(gate, score="1", outcome="pass", kpis=built.kpis())

    rows = ok(key_client(built.c.jp, READ).get(gate_url(gate, "evaluations/")))["results"]

    assert [r["id"] for r in rows] == [newer.pk, older.pk]
    assert set(rows[0]) >= EVALUATION_FIELDS | {
        "policy",
        "inputs",
        "window_start",
        "cutoff",
        "gate",
    }
    assert rows[1]["score"] == "0.5000"


# --------------------------------------------------------------------------- evaluating


def test_an_officer_evaluates_a_due_gate_now():
    built = make_project()
    k1, k2 = built.kpis()
    measure(k1, "20", at=timezone.now() - timedelta(days=60))
    measure(k2, "25", at=timezone.now() - timedelta(days=60))
    gate = built.gates[0]

    body = ok(user_client(officer()).post(gate_url(gate, "evaluate/")))

    assert body["id"] == gate.pk
    assert body["state"] in (GateState.EVALUATED, GateState.DECIDED)
    ev = body["latest_evaluation"]
    assert ev["id"] == GateEvaluation.objects.get(gate=gate).pk
    assert ev["outcome"] == "pass"
    # K1A: (20-10)/(20-10) = 1; K1B: (25-10)/(20-10) = 1.5 (the clamp); S = (1 + 2·1.5)/3
    assert ev["score"] == "1.3333"
    assert [(k["code"], k["value"], k["achievement"], k["met"]) for k in ev["kpis"]] == [
        ("K1A", "20.000000", "1.0000", True),
        ("K1B", "25.000000", "1.5000", True),
    ]


def test_an_evaluation_publishes_every_counted_measurement_in_one_list():
    built = make_project()
    k1, k2 = built.kpis()
    first = measure(k1, "20", at=timezone.now() - timedelta(days=60))
    second = measure(k2, "25", at=timezone.now() - timedelta(days=50))
    gate = built.gates[0]
    ok(user_client(officer()).post(gate_url(gate, "evaluate/")))

    rows = ok(key_client(built.c.jp, READ).get(gate_url(gate, "evaluations/")))["results"]

    inputs = rows[0]["inputs"]
    assert [k["code"] for k in inputs["kpis"]] == ["K1A", "K1B"]
    assert [(m["id"], m["kpi_id"], m["value"]) for m in inputs["measurements"]] == [
        (first.pk, k1.pk, "20.000000"),
        (second.pk, k2.pk, "25.000000"),
    ]
    assert inputs["measurements"][0]["measured_at"] == first.measured_at.astimezone(UTC).isoformat()


def test_a_consortium_key_with_gates_write_evaluates_and_others_may_not():
    built, other = make_project(), make_project()
    gate = built.gates[0]

    assert_problem(user_client(built.c.pi_jp).post(gate_url(gate, "evaluate/")), 403)
    assert_problem(key_client(other.c.jp, ["gates:write"]).post(gate_url(gate, "evaluate/")), 404)
    body = ok(key_client(built.c.kr, ["gates:write"]).post(gate_url(gate, "evaluate/")))
    assert body["latest_evaluation"]["outcome"] == "fail"
    assert body["latest_evaluation"]["kpis"][0]["missing"] is True
    assert body["latest_evaluation"]["kpis"][0]["value"] is None


def test_a_gate_not_yet_due_is_409():
    built = make_project()
    assert_problem(user_client(officer()).post(gate_url(built.gates[1], "evaluate/")), 409)


# --------------------------------------------------------------------------- deciding


def test_two_officers_of_both_sides_decide_a_failed_gate():
    built = make_project()
    gate = built.gates[0]
    ok(user_client(officer("JP")).post(gate_url(gate, "evaluate/")))  # nothing measured: FAIL
    decision = {"kind": "extend", "justification": "", "extension_months": 3}

    jp = officer("JP")
    first = user_client(jp).post(gate_url(gate, "decisions/"), decision, format="json")
    body = ok(first, 201)
    assert set(body) >= {
        "id",
        "kind",
        "state",
        "first_officer",
        "first_side",
        "second_officer",
        "second_side",
        "automatic",
        "override",
    }
    assert (body["kind"], body["state"], body["first_officer"], body["first_side"]) == (
        "extend",
        "pending",
        jp.pk,
        "JP",
    )
    assert body["second_officer"] is None
    assert_problem(
        user_client(officer("JP")).post(gate_url(gate, "decisions/"), decision, format="json"), 403
    )

    kr = officer("KR")
    second = ok(user_client(kr).post(gate_url(gate, "decisions/"), decision, format="json"))
    assert (second["id"], second["state"], second["second_officer"], second["second_side"]) == (
        body["id"],
        "completed",
        kr.pk,
        "KR",
    )
    listed = ok(user_client(built.c.pi_jp).get(gate_url(gate, "decisions/")))["results"]
    assert [d["id"] for d in listed] == [body["id"]]


def test_only_fund_officers_decide_in_the_session():
    built = make_project()
    gate = built.gates[0]
    decision = {"kind": "terminate", "justification": "x"}
    assert_problem(
        user_client(built.c.pi_jp).post(gate_url(gate, "decisions/"), decision, format="json"), 403
    )
    finance = UserFactory.create(role=Role.FINANCE_OFFICER, side="JP")
    assert_problem(
        user_client(finance).post(gate_url(gate, "decisions/"), decision, format="json"), 403
    )
    all_scopes = ["gates:read", "gates:write", "projects:read", "payments:write"]
    assert_problem(
        key_client(built.c.jp, all_scopes).post(
            gate_url(gate, "decisions/"), decision, format="json"
        ),
        403,
    )
    stranger = member_of(jp_org())
    assert_problem(
        user_client(stranger).post(gate_url(gate, "decisions/"), decision, format="json"), 404
    )
    assert_problem(
        user_client(officer()).post(gate_url(gate, "decisions/"), {"kind": "nope"}, format="json"),
        400,
    )
    assert not GateDecision.objects.exists()


def test_an_automatic_decision_is_listed():
    built = make_project()
    gate = built.gates[0]
    ev = evaluation(gate, score="1.2", outcome="pass", kpis=built.kpis())
    auto = automatic_decision(gate, ev)
    rows = ok(key_client(built.c.jp, READ).get(gate_url(gate, "decisions/")))["results"]
    assert rows == [
        {
            **rows[0],
            "id": auto.pk,
            "automatic": True,
            "state": "completed",
            "first_officer": None,
            "multiplier": "1.1000000000",
        }
    ]


def test_a_gate_shows_its_evaluations_anomaly_flags():
    built = make_project()
    gate = built.gates[0]
    kpis = built.kpis()
    m = measure(kpis[0], "20")
    flag = {
        "kind": "at_target",
        "kpi_id": kpis[0].pk,
        "measurement_ids": [m.pk],
        "detail": {"value": "20.000000", "target": "20.000000"},
    }
    latest = evaluation(gate, score="1.0", outcome="pass", kpis=kpis, anomaly_flags=[flag])

    body = ok(key_client(built.c.jp, READ).get(gate_url(gate)))

    assert body["latest_evaluation"]["anomaly_flags"] == [{**flag, "code": kpis[0].code}]
    listed = ok(user_client(officer()).get(gate_url(gate, "evaluations/")))["results"]
    assert listed[0]["id"] == latest.pk
    assert listed[0]["anomaly_flags"] == [{**flag, "code": kpis[0].code}]
    # Not the consortium's: the gate, flags and all, is not there.
    assert_problem(key_client(jp_org(), READ).get(gate_url(gate)), 404)


def test_an_evaluation_without_flags_lists_none():
    built = make_project()
    evaluation(built.gates[0], score="0.5", outcome="fail", kpis=built.kpis())
    body = ok(user_client(built.c.pi_jp).get(gate_url(built.gates[0])))
    assert body["latest_evaluation"]["anomaly_flags"] == []


def test_the_schema_documents_the_flag_kinds():
    router = DefaultRouter()
    register_engine(router)
    generator = SchemaGenerator(patterns=[path("api/v1/", include(router.urls))])
    schema = generator.get_schema(request=None, public=True)
    flag = schema["components"]["schemas"]["AnomalyFlag"]
    assert set(flag["required"]) >= {"kind", "kpi_id", "measurement_ids", "detail"}
    kind = flag["properties"]["kind"]
    if "$ref" in kind:
        kind = schema["components"]["schemas"][kind["$ref"].split("/")[-1]]
    elif "allOf" in kind:
        kind = schema["components"]["schemas"][kind["allOf"][0]["$ref"].split("/")[-1]]
    assert kind["enum"] == [
        "late_decisive",
        "at_target",
        "jump",
        "reentered_after_rejection",
        "shared_evidence",
    ]
    evaluation_schema = schema["components"]["schemas"]["Evaluation"]
    assert "anomaly_flags" in evaluation_schema["properties"]
