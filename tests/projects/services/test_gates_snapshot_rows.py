"""The snapshots a batch writes (§8): each row holds exactly what the evaluation computed.

Given due gates evaluated in one batch, when their snapshots are written, then each
instance carries its row's id (taken in batch order), ``inputs`` and ``kpi_results`` are
stored as the very JSON text computed (and left deferred on the instance), and every other
column holds the instance's value.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from projects.models import GateEvaluation
from projects.services import gates
from projects.services.gates import gates_evaluate
from tests.factories import MeasurementFactory, running_project
from tests.factories.gates import tokyo

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("no_automatic_decision", "private_media"),
]

AS_OF = date(2026, 7, 1)

# Values that are easy to get wrong on the way: quotes and backslashes in a code,
# non-ASCII text, a value with many digits.
KPIS = [
    {"code": 'K"1\\a', "mandatory": True},
    {"code": "達成率 K2", "mandatory": False},
]


def test_each_row_is_the_evaluation_the_batch_computed(monkeypatch):
    # given three due gates with measurements, one of them without any
    gate_ids = []
    for i in range(3):
        project = running_project(kpis=KPIS)
        if i != 1:
            for kpi in project.kpis.filter(stage__number=1):
                MeasurementFactory.create(
                    kpi=kpi, value=Decimal("15.123456"), measured_at=tokyo(date(2026, 6, 1))
                )
        gate_ids.append(project.stages.get(number=1).gate.pk)
    computed: list[tuple[str, str]] = []
    snapshot_json = gates._snapshot_json

    def recorded(*args: Any) -> tuple[str, str]:
        texts = snapshot_json(*args)
        computed.append(texts)
        return texts

    monkeypatch.setattr(gates, "_snapshot_json", recorded)

    # when they are evaluated in one batch
    result = gates_evaluate(gate_ids=gate_ids, as_of=AS_OF)

    # then each instance is its row, ids in the batch's order
    evaluations = [result.evaluations[pk] for pk in gate_ids]
    assert [e.pk for e in evaluations] == sorted(e.pk for e in evaluations)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, gate_id, round, evaluated_at, as_of, window_start, cutoff, score, "
            "outcome, plan_version, policy::text, inputs::text, kpi_results::text, "
            "anomaly_flags::text, evaluated_by_id, evaluated_by_api_key_id "
            "FROM projects_gateevaluation WHERE gate_id = ANY(%s) ORDER BY id",
            [gate_ids],
        )
        rows = cursor.fetchall()
    assert len(rows) == len(computed) == 3
    for row, evaluation, (inputs, kpi_results) in zip(rows, evaluations, computed, strict=True):
        assert "inputs" in evaluation.get_deferred_fields()
        assert "kpi_results" in evaluation.get_deferred_fields()
        assert not evaluation._state.adding
        assert row[:10] == (
            evaluation.pk,
            evaluation.gate_id,
            evaluation.round,
            evaluation.evaluated_at,
            evaluation.as_of,
            evaluation.window_start,
            evaluation.cutoff,
            evaluation.score,
            evaluation.outcome,
            evaluation.plan_version,
        )
        assert json.loads(row[10]) == evaluation.policy
        assert (row[11], row[12]) == (inputs, kpi_results)
        assert json.loads(row[13]) == evaluation.anomaly_flags
        assert row[14:] == (None, None)
        # and the instance reads its deferred JSON back from that row
        assert evaluation.kpi_results == json.loads(kpi_results)
        stored = GateEvaluation.objects.get(pk=evaluation.pk)
        assert stored.inputs == json.loads(inputs)
    codes = {kpi["code"] for text, _results in computed for kpi in json.loads(text)["kpis"]}
    assert codes == {'K"1\\a', "達成率 K2"}
