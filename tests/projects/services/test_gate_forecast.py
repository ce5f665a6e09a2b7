"""The gate forecast (§22) equals what a real evaluation on the same day stores."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings

from projects.models import Gate, GateDecision, GateEvaluation
from projects.services.forecast import gate_forecast
from projects.services.gates import gate_evaluate
from tests.projects.services.test_gates_batch import AS_OF, _build, gate_specs
from tests.projects.services.test_gates_batch import calls as calls  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("private_media")


def _recorded(evaluation: GateEvaluation) -> dict[str, object]:
    return {
        "score": Decimal(evaluation.score),
        "outcome": evaluation.outcome,
        "window": (evaluation.window_start, evaluation.cutoff),
        "kpis": [
            (k["kpi_id"], k["value"], k["achievement"], k["met"], k["missing"])
            for k in evaluation.kpi_results
        ],
    }


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=gate_specs)
def test_the_forecast_is_what_the_evaluation_on_the_same_day_stores(calls, spec):  # noqa: F811
    with transaction.atomic():
        gate = Gate.objects.get(pk=_build(spec, calls))
        with CaptureQueriesContext(connection) as queries:
            forecast = gate_forecast(gate, as_of=AS_OF)
        assert forecast is not None
        assert len(queries) <= 7
        assert not GateEvaluation.objects.filter(gate=gate).exists()

        evaluation = gate_evaluate(gate=gate, as_of=AS_OF)
        evaluation.refresh_from_db()
        assert {
            "score": forecast.score,
            "outcome": forecast.outcome,
            "window": (forecast.window_start, forecast.cutoff),
            "kpis": [
                (
                    k.kpi_id,
                    None if k.value is None else str(k.value),
                    str(k.achievement),
                    k.met,
                    k.missing,
                )
                for k in forecast.kpis
            ],
        } == _recorded(evaluation)
        decision = GateDecision.objects.filter(gate=gate).first()
        if decision is not None and decision.multiplier is not None:
            # The fund released by itself: with the multiplier the forecast sized.
            assert forecast.automatic
            assert decision.multiplier == forecast.multiplier
            decided = [t.pk for t in decision.tranches.all()]
            assert sorted(decided) == sorted(t.tranche_id for t in forecast.tranches)
        elif evaluation.anomaly_flags:
            # Flagged (§22): officers decide, whatever the forecast (which flags nothing)
            # expected; nothing was decided by the fund.
            assert decision is None
        else:
            # Officers decide, the final gate's requirements included.
            assert not forecast.automatic
        for kpi in forecast.kpis:
            assert kpi.met == (kpi.gap == 0)
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_forecast_of_a_stage_not_started_is_none(calls):  # noqa: F811
    kpi = {
        "aggregation": "latest",
        "direction": "higher_is_better",
        "mandatory": True,
        "weight": "1",
        "evidence": "none",
        "measurements": [],
    }
    gate = Gate.objects.get(
        pk=_build({"auto": True, "final": False, "results": False, "kpis": [kpi]}, calls)
    )
    following = Gate.objects.get(stage__project=gate.stage.project, stage__number=2)
    assert gate_forecast(following, as_of=AS_OF) is None
