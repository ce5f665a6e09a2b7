"""The gate selectors answer in a fixed number of queries (§19)."""

from __future__ import annotations

from datetime import date

import pytest

from projects.selectors.gates import (
    evaluation_history,
    gates_due,
    get_kpi_for_actor,
    kpi_progress,
    latest_evaluation,
)
from projects.services.gates import gate_evaluate
from projects.services.measurements import measurement_reject
from tests.factories.gates import build_project, measure, tokyo

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("no_automatic_decision"),
    pytest.mark.usefixtures("private_media", "axes_off"),
]


def test_kpi_progress_is_two_queries_whatever_the_number_of_points(django_assert_num_queries):
    built = build_project()
    early = measure(built.kpis["K1A"], "12", tokyo(date(2026, 2, 1)))
    late = measure(built.kpis["K1A"], "15", tokyo(date(2026, 3, 1)))
    for i in range(30):
        measure(built.kpis["K1B"], str(10 + i), tokyo(date(2026, 4, 1), 0, i))
    wrong = measure(built.kpis["K1A"], "99", tokyo(date(2026, 5, 1)))
    measurement_reject(measurement=wrong, actor=built.officer, reason="typo")

    with django_assert_num_queries(2):
        series = kpi_progress(built.project)

    assert [s.kpi.code for s in series] == ["K1A", "K1B", "K2A"]
    k1a = series[0]
    assert [p.id for p in k1a.points] == [early.pk, late.pk, wrong.pk]
    assert [p.rejected for p in k1a.points] == [False, False, True]
    assert k1a.latest is not None and k1a.latest.id == late.pk  # the rejected one is not counted
    assert (k1a.baseline, k1a.target) == (built.kpis["K1A"].baseline, built.kpis["K1A"].target)
    assert len(series[1].points) == 30
    assert series[2].points == [] and series[2].latest is None
    with django_assert_num_queries(2):
        only_stage_2 = kpi_progress(built.project, stage=built.stages[1])
    assert [s.kpi.code for s in only_stage_2] == ["K2A"]


def test_gates_due_is_one_query(django_assert_num_queries):
    for _ in range(3):
        build_project()
    with django_assert_num_queries(1):
        assert len(list(gates_due(date(2026, 7, 1)))) == 3


def test_latest_evaluation_and_history():
    built = build_project()
    gate = built.gates[0]
    assert latest_evaluation(gate) is None
    first = gate_evaluate(gate=gate, as_of=date(2026, 7, 1))
    second = gate_evaluate(gate=gate, as_of=date(2026, 7, 2))
    assert latest_evaluation(gate) == second
    assert latest_evaluation(gate, round=2) is None
    assert list(evaluation_history(gate)) == [second, first]


def test_a_kpi_of_a_project_one_cannot_see_is_404():
    from fundapp.errors import NotFound

    built = build_project()
    assert get_kpi_for_actor(built.researcher, built.kpis["K1A"].pk) == built.kpis["K1A"]
    with pytest.raises(NotFound):
        get_kpi_for_actor(built.stranger, built.kpis["K1A"].pk)
