"""evaluate_gates (§21), the evaluate_gate task and the evaluate_due_gates beat task (§16)."""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from projects.models import (
    DecisionState,
    GateDecision,
    GateDecisionKind,
    GateEvaluation,
    GateState,
    ProjectState,
    StageState,
)
from projects.schedules import ensure_schedules
from projects.selectors.gates import gates_due
from projects.services.gates import gate_evaluate, today_in_tokyo
from projects.tasks import evaluate_due_gates, evaluate_gate, evaluate_gates_batch
from tests.factories.gates import build_project, measure, tokyo
from tests.workflow_states import force_state

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("no_automatic_decision"),
    pytest.mark.usefixtures("private_media", "axes_off"),
]

AS_OF = date(2026, 7, 1)


def run(*args: str) -> str:
    out = StringIO()
    call_command("evaluate_gates", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


# --------------------------------------------------------------------------- command


def test_command_evaluates_one_gate_and_prints_its_line():
    built = build_project()
    gate = built.gates[0]
    measure(built.kpis["K1A"], "20", tokyo(date(2026, 6, 1)))
    measure(built.kpis["K1B"], "20", tokyo(date(2026, 6, 1)))

    out = run("--gate", str(gate.pk), "--as-of", "2026-07-01")

    evaluation = GateEvaluation.objects.get(gate=gate)
    assert out.strip() == f"gate {gate.pk}: score 1.0000, outcome pass"
    assert evaluation.as_of == AS_OF


def test_command_without_gate_evaluates_every_due_gate():
    due = build_project(gate_day=date(2026, 6, 30))
    also_due = build_project(gate_day=date(2026, 7, 1))
    not_yet = build_project(gate_day=date(2026, 7, 2))

    out = run("--as-of", "2026-07-01")

    lines = out.strip().splitlines()
    assert lines == [
        f"gate {due.gates[0].pk}: score 0.0000, outcome fail",
        f"gate {also_due.gates[0].pk}: score 0.0000, outcome fail",
    ]
    assert not GateEvaluation.objects.filter(gate=not_yet.gates[0]).exists()
    assert "No gate is due" in run("--as-of", "2026-07-01")  # both are evaluated now


@pytest.mark.parametrize(
    "args",
    [
        ("--gate", "999999"),
        ("--gate", "abc"),
        ("--as-of", "2026-13-01"),
        ("--as-of", "01/07/2026"),
        ("--as-of", "2026-7-1"),
    ],
)
def test_command_exits_non_zero_on_bad_arguments(args):
    build_project()
    with pytest.raises(CommandError):
        run(*args)
    assert not GateEvaluation.objects.exists()


def test_command_exits_non_zero_when_the_gate_cannot_be_evaluated():
    built = build_project()
    with pytest.raises(CommandError, match="due on 2026-06-30"):
        run("--gate", str(built.gates[0].pk), "--as-of", "2026-06-29")


def test_command_is_non_zero_through_the_shell(tmp_path):
    """The exit status a cron job or an operator sees."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "manage.py", "evaluate_gates", "--as-of", "not-a-date"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "YYYY-MM-DD" in result.stderr


# --------------------------------------------------------------------------- tasks


def test_evaluate_gate_task_is_late_acknowledged_and_skips_decided_gates():
    built = build_project()
    gate = built.gates[0]
    assert evaluate_gate.name == "projects.evaluate_gate"
    assert evaluate_gate.acks_late is True

    result = evaluate_gate(gate.pk, "2026-07-01")
    assert result["outcome"] == "fail"

    gate.state = GateState.DECIDED
    gate.save()
    assert evaluate_gate(gate.pk, "2026-07-01") == {"gate": gate.pk, "skipped": "decided"}
    assert evaluate_gate(10**9) == {"gate": 10**9, "skipped": "missing"}
    assert GateEvaluation.objects.count() == 1


def test_evaluate_gate_task_skips_a_gate_not_due():
    built = build_project()
    result = evaluate_gate(built.gates[0].pk, "2026-06-01")
    assert result == {"gate": built.gates[0].pk, "skipped": "not_due"}


def test_gates_due_lists_only_due_undecided_gates_of_active_projects():
    due = build_project(gate_day=date(2026, 6, 30))
    future = build_project(gate_day=date(2026, 7, 2))
    decided = build_project()
    force_state(decided.gates[0], GateState.DECIDED)
    suspended = build_project()
    suspended.project.state = ProjectState.SUSPENDED
    suspended.project.save()
    build_project(first_stage_state=StageState.PLANNED)  # its first stage not yet running
    awaiting_officers = build_project()  # evaluated, FAIL: officers decide, no re-evaluation
    gate_evaluate(gate=awaiting_officers.gates[0], as_of=AS_OF)
    pending_decision = build_project()
    evaluation = gate_evaluate(gate=pending_decision.gates[0], as_of=AS_OF)
    GateDecision.objects.create(
        gate=pending_decision.gates[0],
        round=1,
        evaluation=evaluation,
        kind=GateDecisionKind.EXTEND,
        state=DecisionState.PENDING,
        first_officer=pending_decision.officer,
        first_side="JP",
    )
    evaluated_pass = build_project()  # a PASS left to officers (e.g. the final gate's results)
    measure(evaluated_pass.kpis["K1A"], "20", tokyo(date(2026, 6, 1)))
    measure(evaluated_pass.kpis["K1B"], "20", tokyo(date(2026, 6, 1)))
    assert gate_evaluate(gate=evaluated_pass.gates[0], as_of=AS_OF).outcome == "pass"
    extended = build_project()  # evaluated in round 1, extended: due again in round 2
    gate_evaluate(gate=extended.gates[0], as_of=AS_OF)
    extended.gates[0].round = 2
    extended.gates[0].save()

    found = list(gates_due(AS_OF).values_list("pk", flat=True))

    assert found == [due.gates[0].pk, extended.gates[0].pk]
    assert future.gates[0].pk not in found


def test_evaluate_due_gates_enqueues_after_commit_one_batch_of_the_due_gates(
    django_capture_on_commit_callbacks, monkeypatch
):
    today = today_in_tokyo()
    due = build_project(started_on=today - timedelta(days=90), gate_day=today - timedelta(days=1))
    build_project(started_on=today - timedelta(days=90), gate_day=today + timedelta(days=5))
    decided = build_project(
        started_on=today - timedelta(days=90), gate_day=today - timedelta(days=2)
    )
    force_state(decided.gates[0], GateState.DECIDED)
    sent: list[int] = []
    batches: list[tuple[list[int], str]] = []

    def delay(gate_ids: list[int], as_of: str) -> None:
        batches.append((gate_ids, as_of))
        sent.extend(gate_ids)

    monkeypatch.setattr(evaluate_gates_batch, "delay", delay)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = evaluate_due_gates()
    assert sent == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()

    assert result == {"gates": [due.gates[0].pk]}
    assert sent == [due.gates[0].pk]
    assert batches == [([due.gates[0].pk], today.isoformat())]
    assert evaluate_due_gates.acks_late is True


def test_the_beat_schedule_runs_every_15_minutes():
    ensure_schedules()
    task = PeriodicTask.objects.get(name="projects.evaluate_due_gates")
    assert task.task == "projects.evaluate_due_gates"
    assert (task.interval.every, task.interval.period) == (15, "minutes")


def test_command_releases_what_the_automatic_decision_decided(monkeypatch):
    """The command lets the release run here and now, not only through a worker."""
    from django.utils import timezone

    from projects.models import Tranche, TrancheState

    built = build_project()
    tranche = Tranche.objects.create(
        project=built.project, stage=built.stages[1], side="JP", currency="JPY", planned=1000
    )

    def decide(items, *, fund_officers=None):
        (item,) = items
        evaluation = item.evaluation
        decision = GateDecision.objects.create(
            gate=evaluation.gate,
            round=evaluation.round,
            evaluation=evaluation,
            kind=GateDecisionKind.RELEASE,
            state=DecisionState.COMPLETED,
            automatic=True,
            completed_at=timezone.now(),
        )
        Tranche.objects.filter(pk=tranche.pk).update(state=TrancheState.DECIDED, decision=decision)
        return {item.gate.pk: decision}

    released: list[int] = []
    monkeypatch.setattr("projects.services.gates.gates_decide_automatically", decide)
    monkeypatch.setattr(
        "projects.management.commands.evaluate_gates._release_tranche", released.append
    )

    out = run("--gate", str(built.gates[0].pk), "--as-of", "2026-07-01")

    assert released == [tranche.pk]
    assert out.strip().endswith(f"released tranches {tranche.pk}")


def test_command_releases_a_batchs_tranches_together_and_names_a_refused_one(monkeypatch):
    """Without --gate the releases every gate of a batch decided go out in one call
    (``tranches_release``); a tranche it refuses fails its gate's line and the command."""
    from django.utils import timezone

    from fundapp.errors import Conflict
    from projects.models import Tranche, TrancheState

    built = [build_project(gate_day=date(2026, 6, 30)) for _ in range(2)]
    tranches = {
        b.gates[0].pk: Tranche.objects.create(
            project=b.project, stage=b.stages[1], side="JP", currency="JPY", planned=1000
        )
        for b in built
    }

    def decide(items, *, fund_officers=None):
        decided = {}
        for item in items:
            evaluation = item.evaluation
            decided[item.gate.pk] = GateDecision.objects.create(
                gate=evaluation.gate,
                round=evaluation.round,
                evaluation=evaluation,
                kind=GateDecisionKind.RELEASE,
                state=DecisionState.COMPLETED,
                automatic=True,
                completed_at=timezone.now(),
            )
            Tranche.objects.filter(pk=tranches[item.gate.pk].pk).update(
                state=TrancheState.DECIDED, decision=decided[item.gate.pk]
            )
        return decided

    calls: list[list[int]] = []
    refused_id = tranches[built[1].gates[0].pk].pk

    def release(tranche_ids):
        calls.append(list(tranche_ids))
        return {refused_id: Conflict("The reserve is empty.", code="insufficient")}

    monkeypatch.setattr("projects.services.gates.gates_decide_automatically", decide)
    monkeypatch.setattr("projects.management.commands.evaluate_gates._release_tranches", release)
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="1 gate"):
        call_command("evaluate_gates", "--as-of", "2026-07-01", stdout=out, stderr=err)

    assert calls == [sorted(t.pk for t in tranches.values())]
    first = tranches[built[0].gates[0].pk].pk
    assert out.getvalue().strip().endswith(f"released tranches {first}")
    assert f"gate {built[1].gates[0].pk}: failed, The reserve is empty." in err.getvalue()
