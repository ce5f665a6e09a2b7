"""gates_evaluate (§8, §16, §19): due gates evaluated in batches, on sets.

Given due gates, when they are evaluated in one batch, then the queries do not grow with
the number of gates, and the result is the one evaluating each gate alone would give.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fundapp.accounts.models import ApiKey, User
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict
from fundapp.notifications.models import Notification, OutboxEvent
from ip_licensing.models import IPAsset
from projects.models import (
    DecisionState,
    Gate,
    GateDecision,
    GateEvaluation,
    GateState,
    Measurement,
    Project,
    ProjectState,
    StageState,
    Tranche,
    TrancheState,
)
from projects.rules import gates as rules
from projects.rules.gates import GATE_TIMEZONE, gate_cutoff, stage_window_start
from projects.selectors.gates import has_evidence_files
from projects.services import gates
from projects.services.gates import gate_evaluate, gates_evaluate
from tests.concurrency import run_at_once
from tests.factories import CallFactory, MeasurementFactory, officer, running_project
from tests.factories.gates import api_key, evidence_rows
from tests.outbox import the_event
from tests.workflow_states import force_state

pytestmark = pytest.mark.usefixtures("private_media")

AS_OF = date(2026, 7, 1)
STARTED = date(2026, 1, 5)
GATE_DAY = date(2026, 6, 30)


def tokyo(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=GATE_TIMEZONE)


def _gate(project: Project) -> Gate:
    return Gate.objects.get(stage__project=project, stage__number=1)


# A passing value above the target (20): one exactly at it is an anomaly (§22) and keeps the
# gate from being released automatically.
PASSING = "21"


def _measure(project: Project, value: str, day: date = date(2026, 6, 1)) -> None:
    for kpi in project.kpis.filter(stage__number=1):
        MeasurementFactory.create(kpi=kpi, value=Decimal(value), measured_at=tokyo(day))


def _mixed_world(n: int, calls: dict[str, Any]) -> list[int]:
    """``n`` due gates cycling through: a PASS released automatically, a FAIL left to the
    officers, a PASS on a final gate with its results registered (the project completes),
    a PASS on a final gate without results (left to the officers)."""
    ids = []
    for i in range(n):
        kind = i % 4
        days = (GATE_DAY,) if kind >= 2 else (GATE_DAY, date(2026, 12, 31))
        project = running_project(call=calls["auto"], gate_days=days)
        _measure(project, PASSING if kind != 1 else "12")
        if kind == 2:
            lead = project.organisations.first()
            assert lead is not None
            IPAsset.objects.create(
                kind="patent",
                title_en="Result",
                owner=lead.organisation,
                project=project,
            )
        ids.append(_gate(project).pk)
    return ids


@pytest.fixture
def calls():
    officer("JP")
    officer("KR")
    return {
        "auto": CallFactory.create(auto_release_on_pass=True),
        "manual": CallFactory.create(auto_release_on_pass=False),
    }


# --------------------------------------------------------------------------- queries


@pytest.mark.django_db
def test_ten_and_two_hundred_due_gates_take_the_same_number_of_queries(
    calls, django_assert_num_queries
):
    few = _mixed_world(10, calls)
    with CaptureQueriesContext(connection) as small:
        result = gates_evaluate(gate_ids=few, as_of=AS_OF)
    assert len(result.evaluations) == 10
    assert len(result.decisions) == 5  # the automatic releases and the completed projects

    many = _mixed_world(200, calls)
    with django_assert_num_queries(len(small.captured_queries)):
        result = gates_evaluate(gate_ids=many, as_of=AS_OF)

    assert len(result.evaluations) == 200
    assert len(result.decisions) == 100
    assert result.skipped == {}
    assert Tranche.objects.filter(state=TrancheState.DECIDED).count() == 2 * (3 + 50)
    assert Project.objects.filter(state=ProjectState.COMPLETED).count() == 2 + 50
    # Both officers are told each decision needed; a final gate without results names the
    # requirement that holds it (by name, explained when read), a FAIL names none.
    needed = Notification.objects.filter(message="gate.decision_needed")
    held = needed.filter(params__reason="ip_licensing.results_registered")
    assert held.count() == 2 * (2 + 50)
    assert needed.filter(params__reason="").count() == 2 * (3 + 50)
    assert set(needed.values_list("title", "body").distinct()) == {("", "")}


@pytest.mark.django_db
def test_a_batch_writes_what_gate_evaluate_writes_and_skips_what_it_refuses(calls):
    passing = running_project(call=calls["auto"])
    _measure(passing, PASSING)
    failing = running_project(call=calls["auto"])
    not_due = running_project(call=calls["auto"], gate_days=(date(2026, 7, 2), date(2026, 12, 31)))
    decided = running_project(call=calls["auto"])
    force_state(_gate(decided), GateState.DECIDED)
    no_kpis = running_project(call=calls["auto"], kpis=[])
    ids = [_gate(p).pk for p in (passing, failing, not_due, decided, no_kpis)]

    result = gates_evaluate(gate_ids=ids, as_of=AS_OF, batch_size=2)

    assert sorted(result.evaluations) == [_gate(passing).pk, _gate(failing).pk]
    assert {pk: exc.code for pk, exc in result.skipped.items()} == {
        _gate(not_due).pk: "not_due",
        _gate(decided).pk: "already_decided",
        _gate(no_kpis).pk: "no_kpis",
    }
    assert list(result.decisions) == [_gate(passing).pk]
    assert _gate(passing).state == GateState.DECIDED
    assert _gate(failing).state == GateState.EVALUATED
    assert passing.stages.get(number=2).state == StageState.ACTIVE
    assert sorted(result.tranches[_gate(passing).pk]) == sorted(
        Tranche.objects.filter(project=passing).values_list("pk", flat=True)
    )
    actions = list(
        AuditEvent.objects.filter(object_type="projects.gate").values_list("action", flat=True)
    )
    assert sorted(actions) == ["gate.decided", "gate.evaluated", "gate.evaluated"]
    kinds = sorted(OutboxEvent.objects.values_list("kind", flat=True))
    assert kinds == ["gate.decided", "gate.decision_needed", "gate.evaluated", "gate.evaluated"]
    event = OutboxEvent.objects.get(kind="gate.evaluated", object_id=str(_gate(passing).pk))
    assert event.payload["latest_evaluation"]["outcome"] == "pass"
    assert set(event.organisation_ids) == set(
        passing.organisations.values_list("organisation_id", flat=True)
    )
    assert Notification.objects.filter(kind="gate_evaluated").count() == 2
    assert Notification.objects.filter(kind="decision_needed").count() == 2  # both officers

    # Evaluated in its round already: the next beat run skips it, nothing is written twice.
    again = gates_evaluate(gate_ids=[_gate(failing).pk], as_of=AS_OF)
    assert again.skipped[_gate(failing).pk].code == "already_evaluated"
    assert GateEvaluation.objects.filter(gate=_gate(failing)).count() == 1


@pytest.mark.django_db
def test_a_batchs_outbox_events_carry_the_gate_under_its_schema(calls):
    passing = running_project(call=calls["auto"])
    _measure(passing, PASSING)
    failing = running_project(call=calls["auto"])

    gates_evaluate(gate_ids=[_gate(passing).pk, _gate(failing).pk], as_of=AS_OF)

    for project, kinds in (
        (passing, ("gate.evaluated", "gate.decided")),
        (failing, ("gate.evaluated", "gate.decision_needed")),
    ):
        organisations = project.organisations.values_list("organisation_id", flat=True)
        for kind in kinds:
            data = the_event(kind, _gate(project), organisations=organisations)
            assert (data["id"], data["project"]) == (_gate(project).pk, project.pk)


@pytest.mark.django_db
def test_a_single_gate_keeps_its_refusals(calls):
    project = running_project(call=calls["auto"])
    with pytest.raises(Conflict) as refused:
        gate_evaluate(gate=_gate(project), as_of=date(2026, 6, 29))
    assert refused.value.code == "not_due"
    assert not GateEvaluation.objects.exists()


# --------------------------------------------------------------------------- equivalence

AGGREGATIONS = ("latest", "max", "min", "sum", "mean")
EVIDENCE_LEVELS = ("none", "document", "attested")

kpi_specs = st.fixed_dictionaries(
    {
        "aggregation": st.sampled_from(AGGREGATIONS),
        "direction": st.sampled_from(("higher_is_better", "lower_is_better")),
        "mandatory": st.booleans(),
        "weight": st.sampled_from(("1", "2", "0.5")),
        "evidence": st.sampled_from(EVIDENCE_LEVELS),
        # (value, day offset from the window, rejected, evidence files): offsets -1 and
        # 177+ fall outside.
        "measurements": st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=30),
                st.sampled_from((-1, 0, 30, 90, 176, 177)),
                st.booleans(),
                st.integers(min_value=0, max_value=2),
            ),
            max_size=4,
        ),
    }
)
gate_specs = st.fixed_dictionaries(
    {
        "auto": st.booleans(),
        "final": st.booleans(),
        "results": st.booleans(),
        "kpis": st.lists(kpi_specs, min_size=1, max_size=3),
    }
)


def _build(spec: dict[str, Any], calls: dict[str, Any]) -> int:
    kpis = []
    for i, k in enumerate(spec["kpis"]):
        lower = k["direction"] == "lower_is_better"
        kpis.append(
            {
                "code": f"K{i}",
                "aggregation": k["aggregation"],
                "direction": k["direction"],
                "mandatory": k["mandatory"],
                "evidence": k["evidence"],
                "weight": Decimal(k["weight"]),
                "baseline": Decimal("20" if lower else "10"),
                "target": Decimal("10" if lower else "20"),
            }
        )
    days = (GATE_DAY,) if spec["final"] else (GATE_DAY, date(2026, 12, 31))
    project = running_project(
        call=calls["auto" if spec["auto"] else "manual"], gate_days=days, kpis=kpis
    )
    if spec["final"] and spec["results"]:
        lead = project.organisations.first()
        assert lead is not None
        IPAsset.objects.create(
            kind="patent",
            title_en="Result",
            owner=lead.organisation,
            project=project,
        )
    start = stage_window_start(STARTED)
    for kpi, k in zip(project.kpis.order_by("code"), spec["kpis"], strict=True):
        for value, offset, rejected, documented in k["measurements"]:
            at = start + timedelta(days=offset, microseconds=offset * 1111)
            if offset == 177:
                at = gate_cutoff(GATE_DAY) + timedelta(microseconds=1)
            m = MeasurementFactory.create(kpi=kpi, value=Decimal(value), measured_at=at)
            evidence_rows(m, documented)
            if rejected:
                Measurement.objects.filter(pk=m.pk).update(
                    rejected_at=at, rejection_reason="wrong instrument"
                )
    return _gate(project).pk


def _reference(evaluation: GateEvaluation) -> dict[str, Any]:
    """The snapshot §8 and §22 ask for, from the pure rule over every measurement row of
    the stage's KPIs (loaded one by one, windowed, filtered and aggregated in Python): what
    the database's aggregation must reproduce."""
    stage = evaluation.gate.stage
    kpis = list(stage.kpis.order_by("id"))
    every = list(
        Measurement.objects.filter(kpi__in=kpis)
        .annotate(documented=has_evidence_files())
        .order_by("measured_at", "id")
        .values_list("id", "kpi_id", "value", "measured_at", "rejected_at", "documented")
    )
    result = rules.evaluate_gate(
        [
            rules.KpiSpec(
                kpi_id=k.pk,
                code=k.code,
                direction=k.direction,
                baseline=k.baseline,
                target=k.target,
                weight=k.weight,
                mandatory=k.mandatory,
                aggregation=k.aggregation,
                evidence=k.evidence,
            )
            for k in kpis
        ],
        [
            rules.MeasurementPoint(
                m, k, v, at, rejected=rejected is not None, has_evidence=documented
            )
            for m, k, v, at, rejected, documented in every
        ],
        start=evaluation.window_start,
        cutoff=evaluation.cutoff,
        policy=rules.GatePolicy.from_dict(evaluation.policy),
    )
    counted = {i for r in result.kpis for i in r.measurement_ids}
    why = {i: reason for r in result.kpis for i, reason in r.excluded}
    return {
        "score": result.score,
        "outcome": result.outcome,
        "kpis": [
            (
                r.kpi_id,
                None if r.value is None else str(r.value),
                str(r.achievement),
                r.met,
                r.missing,
                list(r.measurement_ids),
            )
            for r in result.kpis
        ],
        "measurements": [
            (m, k, str(v), at.isoformat()) for m, k, v, at, _r, _s in every if m in counted
        ],
        "excluded": [
            (m, k, str(v), at.isoformat(), why[m]) for m, k, v, at, _r, _s in every if m in why
        ],
    }


def _as_recorded(evaluation: GateEvaluation) -> dict[str, Any]:
    return {
        "score": evaluation.score,
        "outcome": evaluation.outcome,
        "kpis": [
            (
                k["kpi_id"],
                k["value"],
                k["achievement"],
                k["met"],
                k["missing"],
                k["measurement_ids"],
            )
            for k in evaluation.kpi_results
        ],
        "measurements": [
            (m["id"], m["kpi_id"], m["value"], m["measured_at"])
            for m in evaluation.counted_measurements()
        ],
        "excluded": [
            (m["id"], m["kpi_id"], m["value"], m["measured_at"], m["reason"])
            for m in evaluation.excluded_measurements()
        ],
    }


def _state(gate_ids: list[int]) -> list[dict[str, Any]]:
    """What the evaluations decided, without ids and times that differ between runs."""
    out = []
    for gate in (
        Gate.objects.filter(pk__in=gate_ids).select_related("stage__project").order_by("pk")
    ):
        project = gate.stage.project
        evaluation = GateEvaluation.objects.filter(gate=gate).order_by("-id").first()
        assert evaluation is not None
        out.append(
            {
                "gate": (gate.state, gate.round, gate.due_on),
                "snapshot": (
                    evaluation.round,
                    evaluation.score,
                    evaluation.outcome,
                    evaluation.kpi_results,
                    evaluation.inputs,
                    evaluation.policy,
                    evaluation.window_start,
                    evaluation.cutoff,
                ),
                "decisions": list(
                    GateDecision.objects.filter(gate=gate).values_list(
                        "state", "kind", "automatic", "multiplier", "round"
                    )
                ),
                "stages": list(
                    project.stages.order_by("number").values_list(
                        "number", "state", "started_on", "gate__due_on"
                    )
                ),
                "tranches": list(
                    Tranche.objects.filter(project=project)
                    .order_by("stage__number", "side")
                    .values_list("side", "state", "multiplier", "decision__kind")
                ),
                "project": (
                    Project.objects.filter(pk=project.pk)
                    .values_list("state", "current_stage__number")
                    .get()
                ),
                "evaluations": GateEvaluation.objects.filter(gate=gate).count(),
            }
        )
    return out


@pytest.mark.django_db
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(gate_specs, min_size=1, max_size=4))
def test_a_batch_decides_what_each_gate_alone_decides(calls, specs):
    with transaction.atomic():
        ids = [_build(spec, calls) for spec in specs]
        before = transaction.savepoint()
        batched = gates_evaluate(gate_ids=ids, as_of=AS_OF, batch_size=3)
        assert sorted(batched.evaluations) == sorted(ids)
        for evaluation in batched.evaluations.values():
            evaluation.refresh_from_db()
            assert _as_recorded(evaluation) == _reference(evaluation)
        together = _state(ids)
        transaction.savepoint_rollback(before)

        for gate_id in ids:
            gate_evaluate(gate=Gate.objects.get(pk=gate_id), as_of=AS_OF)
        alone = _state(ids)
        transaction.set_rollback(True)

    assert together == alone


# --------------------------------------------------------------------------- concurrency


@pytest.mark.django_db(transaction=True)
def test_the_beat_batch_and_the_api_on_one_gate_store_one_snapshot_round_and_one_decision(
    monkeypatch,
):
    monkeypatch.setattr(
        "projects.services.tranches.tranche_enqueue_release", lambda tranche_id: None
    )
    staff = officer("JP")
    call = CallFactory.create(auto_release_on_pass=True)
    projects = [running_project(call=call) for _ in range(3)]
    for project in projects:
        _measure(project, PASSING)

    for project in projects:
        gate = _gate(project)

        def work(index: int, gate: Gate = gate) -> object:
            if index == 0:
                return gates_evaluate(gate_ids=[gate.pk], as_of=AS_OF)
            return gate_evaluate(gate=gate, actor=staff, as_of=AS_OF)  # the API's call

        results, errors = run_at_once(work, threads=2)

        assert errors[0] is None
        assert errors[1] is None or (
            isinstance(errors[1], Conflict) and errors[1].code == "already_decided"
        )
        assert GateEvaluation.objects.filter(gate=gate).count() == 1
        assert GateEvaluation.objects.filter(gate=gate).values_list("round", flat=True).get() == 1
        assert GateDecision.objects.filter(gate=gate).count() == 1
        assert GateDecision.objects.get(gate=gate).state == DecisionState.COMPLETED
        assert _gate(project).state == GateState.DECIDED
        assert Tranche.objects.filter(project=project, state=TrancheState.DECIDED).count() == 2


@pytest.mark.django_db
def test_the_batch_task_evaluates_its_gates_and_reports_the_rest(calls):
    from projects.tasks import evaluate_gates_batch

    due = running_project(call=calls["manual"])
    later = running_project(call=calls["manual"], gate_days=(date(2026, 8, 1), date(2027, 1, 1)))

    result = evaluate_gates_batch([_gate(due).pk, _gate(later).pk, 10**9], AS_OF.isoformat())

    assert result == {
        "evaluated": [_gate(due).pk],
        "decided": [],
        "skipped": {str(_gate(later).pk): "not_due", str(10**9): "locked"},
        "failed": [],
    }
    assert evaluate_gates_batch.acks_late is True


@pytest.mark.django_db
def test_the_automatic_decisions_get_each_gates_locked_stage_and_its_projects_call(
    calls, monkeypatch
):
    # given due gates of projects under two calls
    projects = [running_project(call=calls[kind]) for kind in ("auto", "manual", "auto")]
    for project in projects:
        _measure(project, PASSING)
    handed: list[Any] = []
    decide = gates.gates_decide_automatically

    def capture(items, *, fund_officers=None):
        handed.extend(items)
        return decide(items, fund_officers=fund_officers)

    monkeypatch.setattr(gates, "gates_decide_automatically", capture)

    # when they are evaluated in one batch
    gates_evaluate(gate_ids=[_gate(p).pk for p in projects], as_of=AS_OF)

    # then each item holds the gate's stage and the project's call, one Call per call
    assert [item.project.pk for item in handed] == [p.pk for p in projects]
    for item in handed:
        assert item.gate.stage is item.stage
        assert item.stage.project_id == item.project.pk
        assert item.project.call.pk == item.project.call_id
    first, second, third = (item.project.call for item in handed)
    assert first is third and first.auto_release_on_pass
    assert second.pk == calls["manual"].pk and not second.auto_release_on_pass


def test_the_series_order_is_made_from_the_times_only_when_they_fall_as_ids_rise():
    # Times (µs since the epoch) of a KPI's counted measurements, given in id order.
    assert gates._series_order([1, 2, 2, 5]) is None
    assert gates._series_order([]) is None
    # Ids 0..3 measured at 5, 1, 5, 3: the series is 1 (id 1), 3 (id 3), then the equal
    # times 5 in id order (ids 0 and 2).
    assert gates._series_order([5, 1, 5, 3]) == [1, 3, 0, 2]


@pytest.mark.django_db
def test_max_min_and_sum_are_the_databases_own(calls):
    # Given one KPI's counted values (stored with 6 decimals), and a rejected one
    project = running_project(call=calls["auto"])
    kpi = project.kpis.get(stage__number=1)
    values = ("-0.000001", "12345678901234.999999", "0.1", "7", "-3.25", "0.1")
    for day, value in enumerate(values, start=1):
        MeasurementFactory.create(
            kpi=kpi, value=Decimal(value), measured_at=tokyo(date(2026, 3, day))
        )
    rejected = MeasurementFactory.create(
        kpi=kpi, value=Decimal("99999999999999"), measured_at=tokyo(date(2026, 3, 9))
    )
    Measurement.objects.filter(pk=rejected.pk).update(rejected_at=tokyo(date(2026, 3, 10)))
    stage = kpi.stage
    start, cutoff = stage_window_start(STARTED), gate_cutoff(GATE_DAY)
    # When the evaluation reads them and the KPI asks for max, min or sum
    aggregates, _excluded = gates._kpi_aggregates([(stage.pk, start, cutoff)])
    (spec,) = gates._stage_kpis([stage.pk])[stage.pk]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(value), min(value), sum(value) FROM projects_measurement"
            " WHERE kpi_id = %s AND rejected_at IS NULL",
            [kpi.pk],
        )
        expected = cursor.fetchone()
    found = [
        gates._aggregate_points(replace(spec, aggregation=aggregation), aggregates[kpi.pk], start)
        for aggregation in ("max", "min", "sum")
    ]
    # Then each is PostgreSQL's, digit for digit
    assert [str(point.value) for (point,) in found] == [str(value) for value in expected]
    assert [str(value) for value in expected] == [
        "12345678901234.999999",
        "-3.250000",
        "12345678901238.949998",
    ]


@pytest.mark.django_db
def test_a_kpi_without_measurements_is_read_as_none_and_one_with_only_left_out_ones_as_those(
    calls,
):
    project = running_project(call=calls["auto"], kpis=[{"code": "A"}, {"code": "B"}])
    empty, rejected_only = project.kpis.filter(stage__number=1).order_by("code")
    rejected = MeasurementFactory.create(
        kpi=rejected_only, value=Decimal("21"), measured_at=tokyo(date(2026, 3, 1))
    )
    rejected_at = tokyo(date(2026, 3, 2)) + timedelta(microseconds=5)
    Measurement.objects.filter(pk=rejected.pk).update(rejected_at=rejected_at)
    window = (empty.stage_id, stage_window_start(STARTED), gate_cutoff(GATE_DAY))

    aggregates, excluded, series = gates._kpi_aggregates_and_series([window])

    assert aggregates == {}
    assert list(excluded) == [rejected_only.pk]
    assert list(series) == [rejected_only.pk]
    found = series[rejected_only.pk]
    assert (found.ids, found.values, found.created_at) == ((), (), ())
    assert found.rejected == ((rejected.pk, Decimal("21.000000"), rejected_at),)
    assert gates._kpi_aggregates([window]) == ({}, excluded)


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


@pytest.mark.django_db
def test_the_rounds_already_evaluated_are_read_by_index_however_stale_the_statistics(
    calls, owner_cursor
):
    """The snapshots table grows by a batch at a time, faster than its statistics follow:
    planned from those of the empty table, the batch's check of its gates' rounds still
    probes the gate index for each gate rather than scanning every snapshot, and is
    estimated at a row per gate, below the cost at which PostgreSQL compiles a statement
    (JIT) (§19)."""
    gate, other = (_gate(running_project(call=calls["auto"])) for _ in range(2))
    with owner_cursor() as cursor:
        cursor.execute("ANALYZE projects_gateevaluation")
    GateEvaluation.objects.bulk_create(
        GateEvaluation(
            gate=gate,
            round=round_,
            as_of=AS_OF,
            window_start=tokyo(STARTED),
            cutoff=tokyo(GATE_DAY),
            score=Decimal(0),
            outcome="fail",
            policy={},
            inputs={},
            kpi_results=[],
        )
        for round_ in range(2, 3_002)
    )
    absent = [Gate(pk=pk, round=1) for pk in range(10**9, 10**9 + 498)]
    ids, rounds = [gate.pk, other.pk] + [g.pk for g in absent], [2, 1] + [1] * len(absent)

    with connection.cursor() as cursor:
        cursor.execute(
            f"EXPLAIN (FORMAT JSON) {gates._LIVE_AND_EVALUATED_SQL}",
            [ids, rounds, gates._LIVE, ids, rounds],
        )
        plan = cursor.fetchone()[0]
        cursor.execute("SHOW jit_above_cost")
        jit_above_cost = float(cursor.fetchone()[0])

    scans = {
        (node["Node Type"], node.get("Relation Name")) for node in _plan_nodes(plan[0]["Plan"])
    }
    assert ("Seq Scan", "projects_gateevaluation") not in scans, scans
    assert any(relation == "projects_gateevaluation" for _type, relation in scans)
    assert plan[0]["Plan"]["Total Cost"] < jit_above_cost
    gate.round, other.round = 2, 1
    live, evaluated = gates._live_and_evaluated_rounds([gate, other, *absent])
    assert live == set()
    assert evaluated == {gate.pk}
    gate.round = 1
    assert gates._live_and_evaluated_rounds([gate]) == (set(), set())


class _Cycle:
    """An object in a reference cycle: freed only by the cyclic collector."""

    def __init__(self) -> None:
        self.itself = self


@pytest.mark.django_db
def test_a_batch_runs_without_cyclic_collection_and_its_cycles_are_collected_after(
    calls, monkeypatch
):
    """§19: the collector's young generations walked a batch's live objects every few
    hundred allocations; a batch runs with it off, and what it leaves is collected after."""
    gate = _gate(running_project(call=calls["auto"]))
    _measure(gate.stage.project, PASSING)
    during: list[bool] = []
    cycles: list[weakref.ref[_Cycle]] = []
    evaluate_batch = gates._evaluate_batch

    def observed(*args, **kwargs):
        during.append(gc.isenabled())
        cycles.append(weakref.ref(_Cycle()))
        return evaluate_batch(*args, **kwargs)

    monkeypatch.setattr(gates, "_evaluate_batch", observed)
    result = gates_evaluate(gate_ids=[gate.pk], as_of=AS_OF)

    assert list(result.evaluations) == [gate.pk]
    assert during == [False]
    assert gc.isenabled()
    assert cycles[0]() is None


@pytest.mark.django_db
@pytest.mark.parametrize("by", [None, "user", "key"])
def test_a_snapshot_built_by_position_is_the_one_built_by_keyword(calls, by):
    """``_new_evaluation`` builds the batch's snapshots by column position (§19): the same
    values as by keyword, the gate and actor held as given, ``inputs`` and ``kpi_results``
    left deferred for ``_insert_snapshots``."""
    gate = _gate(running_project(call=calls["auto"]))
    member = gate.stage.project.organisations.first()
    assert member is not None
    organisation = member.organisation
    actor = {None: None, "user": officer("jp"), "key": api_key(organisation, [])}[by]
    values = {
        "round": 2,
        "evaluated_at": tokyo(AS_OF),
        "as_of": AS_OF,
        "window_start": tokyo(STARTED),
        "cutoff": tokyo(GATE_DAY),
        "score": Decimal("0.9500"),
        "outcome": "conditional",
        "plan_version": 3,
        "policy": {"pass_threshold": "1.0000"},
        "anomaly_flags": [{"kind": "jump"}],
    }
    built = gates._new_evaluation(gate, actor, **values)
    expected = GateEvaluation(
        gate=gate,
        evaluated_by=actor if isinstance(actor, User) else None,
        evaluated_by_api_key=actor if isinstance(actor, ApiKey) else None,
        **values,
    )
    columns = [f.attname for f in GateEvaluation._meta.concrete_fields]
    kept = [name for name in columns if name not in {"inputs", "kpi_results"}]
    assert {n: getattr(built, n) for n in kept} == {n: getattr(expected, n) for n in kept}
    assert built.get_deferred_fields() == {"inputs", "kpi_results"}
    assert built._state.adding
    with CaptureQueriesContext(connection) as queries:
        assert built.gate is gate
        assert built.evaluated_by is (actor if by == "user" else None)
        assert built.evaluated_by_api_key is (actor if by == "key" else None)
    assert len(queries) == 0
    with pytest.raises(TypeError, match="inputs"):
        gates._new_evaluation(gate, actor, inputs={}, **values)
