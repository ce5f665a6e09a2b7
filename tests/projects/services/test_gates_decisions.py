"""gate_evaluate hands its snapshot to the Engine's automatic decision (§8)."""

from __future__ import annotations

import importlib.util
from datetime import date

import pytest

from projects.models import GateDecision, GateState, StageState
from projects.services.gates import gate_evaluate
from tests.factories.gates import build_project, measure, tokyo

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        importlib.util.find_spec("projects.services.decisions") is None,
        reason="the decisions service is not there yet",
    ),
    pytest.mark.usefixtures("private_media", "axes_off"),
]


def test_a_pass_is_decided_automatically_and_the_next_stage_starts():
    built = build_project()
    gate, stage, following = built.gates[0], built.stages[0], built.stages[1]
    measure(built.kpis["K1A"], "22", tokyo(date(2026, 6, 1)))
    measure(built.kpis["K1B"], "21", tokyo(date(2026, 6, 1)))

    evaluation = gate_evaluate(gate=gate, as_of=date(2026, 7, 1))

    assert evaluation.outcome == "pass"
    decision = GateDecision.objects.get(gate=gate)
    assert decision.automatic and decision.evaluation == evaluation
    for row in (gate, stage, following):
        row.refresh_from_db()
    assert gate.state == GateState.DECIDED
    assert stage.state == StageState.PASSED
    assert following.state == StageState.ACTIVE


def test_a_fail_waits_for_the_officers():
    built = build_project()
    evaluation = gate_evaluate(gate=built.gates[0], as_of=date(2026, 7, 1))
    assert evaluation.outcome == "fail"
    assert not GateDecision.objects.exists()
    built.gates[0].refresh_from_db()
    assert built.gates[0].state == GateState.EVALUATED
