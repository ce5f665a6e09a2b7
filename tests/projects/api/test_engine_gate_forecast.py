"""``GET /api/v1/gates/{id}/forecast/`` (§22): what an evaluation now would give, read-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from projects.models import GateEvaluation
from tests.factories import officer
from tests.factories.projects_api import (
    assert_problem,
    key_client,
    make_project,
    measure,
    ok,
    user_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def url(gate) -> str:
    return f"/api/v1/gates/{gate.pk}/forecast/"


def test_the_forecast_is_what_the_evaluation_then_stores_and_writes_nothing():
    built = make_project()
    k1, k2 = built.kpis()
    measure(k1, "22", at=timezone.now() - timedelta(days=60))
    measure(k2, "15", at=timezone.now() - timedelta(days=50))
    gate = built.gates[0]

    body = ok(user_client(built.c.pi_jp).get(url(gate)))
    assert not GateEvaluation.objects.filter(gate=gate).exists()

    stored = ok(user_client(officer()).post(f"/api/v1/gates/{gate.pk}/evaluate/"))
    latest = stored["latest_evaluation"]
    assert body["outcome"] == latest["outcome"]
    assert body["score"] == latest["score"]
    assert [(k["code"], k["achievement"], k["met"], k["missing"]) for k in body["kpis"]] == [
        (k["code"], k["achievement"], k["met"], k["missing"]) for k in latest["kpis"]
    ]
    first = body["kpis"][0]
    assert first["needed"] == f"{k1.target:.10f}"
    assert first["gap"] == f"{max(k1.target - 22, 0):.10f}"


def test_others_get_404_keys_need_gates_read_and_a_planned_stage_is_409():
    built, other = make_project(), make_project()
    assert_problem(user_client(other.c.pi_jp).get(url(built.gates[0])), 404)
    assert_problem(key_client(other.c.jp, ["gates:read"]).get(url(built.gates[0])), 404)
    assert_problem(key_client(built.c.jp, ["projects:read"]).get(url(built.gates[0])), 403)
    ok(key_client(built.c.jp, ["gates:read"]).get(url(built.gates[0])))
    ok(user_client(officer()).get(url(built.gates[0])))
    assert_problem(user_client(built.c.pi_kr).get(url(built.gates[1])), 409)


def test_a_forecast_takes_the_same_number_of_queries_for_more_measurements():
    built = make_project()
    k1, k2 = built.kpis()
    client = user_client(built.c.pi_jp)
    counts = []
    for n in (1, 20):
        for i in range(n):
            measure(k1, str(20 + i), at=timezone.now() - timedelta(days=60 + i))
            measure(k2, "30", at=timezone.now() - timedelta(days=60 + i))
        with CaptureQueriesContext(connection) as queries:
            ok(client.get(url(built.gates[0])))
        counts.append(len(queries))
    assert counts[0] == counts[1]
