"""1. Gate evaluation of every due gate, the beat task's path (§16, §19): the due gates in
the batches ``evaluate_due_gates`` sends (``due_gate_batches``), each through the body of the
``evaluate_gates_batch`` task — snapshots and automatic decisions included, the releases they
decide enqueued after commit as in production — against one SQL query computing the same
per-KPI aggregates, achievements and scores. The database is restored from a snapshot before
every run, so each run evaluates the same due gates.

Two rows: the batches dealt in turn to ``WORKERS`` forked processes, as the beat task's
messages reach the engine worker's pool (the ``engine`` queue; ``docker-compose.yml``'s
``engine-worker`` runs ``--concurrency auto``: one process per core this machine lets it
use), and the same batches one after another in this process (one worker). Both are timed
against the same baseline medians.

``evaluate_gates --as-of`` (§21), which also posts those releases in-process, one
``tranche_release`` each, is timed once after the medians and reported as a note."""

from __future__ import annotations

import io
from decimal import Decimal

# celery-types does not declare it (Celery 5.7's ``--concurrency auto`` sizing).
from celery.utils.sysinfo import cpu_budget  # type: ignore[attr-defined]
from django.core.management import call_command
from django.db import connection

from bench import db, world
from bench.core import Row, counting, n, parallel, timed
from projects.models import GateEvaluation, Tranche, TrancheState
from projects.services.gates import BATCH_SIZE
from projects.services.notices import project_urls_by_id
from projects.tasks import due_gate_batches, evaluate_gates_batch

FULL_GATES = 10_000
# Worker processes of the pool: what Celery's ``--concurrency auto`` gives the engine worker
# here (``docker-compose.yml``'s ``engine-worker``).
WORKERS = cpu_budget().count
KPIS = 5
MEASUREMENTS = 20

BASELINE_SQL = """
WITH due AS (
    SELECT g.id AS gate_id, s.id AS stage_id, s.started_on, g.due_on
    FROM projects_gate g
    JOIN projects_stage s ON s.id = g.stage_id
    JOIN projects_project p ON p.id = s.project_id
    WHERE g.due_on <= %(as_of)s AND g.state <> 'decided' AND p.state = 'active'
      AND s.state IN ('active', 'extended', 'gate_pending') AND s.started_on IS NOT NULL
), agg AS (
    SELECT d.gate_id, k.id AS kpi_id, k.direction, k.baseline, k.target, k.weight,
        CASE k.aggregation
            WHEN 'latest' THEN (array_agg(m.value ORDER BY m.measured_at DESC, m.id DESC))[1]
            WHEN 'max' THEN max(m.value)
            WHEN 'min' THEN min(m.value)
            WHEN 'sum' THEN sum(m.value)
            WHEN 'mean' THEN avg(m.value)
        END AS value
    FROM due d
    JOIN projects_kpi k ON k.stage_id = d.stage_id
    LEFT JOIN projects_measurement m
        ON m.kpi_id = k.id AND m.rejected_at IS NULL
        -- §22: a document KPI counts readings with a file; nothing is attested yet.
        AND (k.evidence = 'none' OR (k.evidence = 'document' AND EXISTS (
            SELECT 1 FROM projects_measurementevidence e WHERE e.measurement_id = m.id)))
        AND m.measured_at >= (d.started_on::timestamp AT TIME ZONE 'Asia/Tokyo')
        AND m.measured_at < ((d.due_on + 1)::timestamp AT TIME ZONE 'Asia/Tokyo')
    GROUP BY d.gate_id, k.id
), ach AS (
    SELECT gate_id, kpi_id, value, weight,
        CASE WHEN value IS NULL THEN 0 ELSE round(least(1.5, greatest(0,
            CASE direction
                WHEN 'higher_is_better' THEN (value - baseline) / (target - baseline)
                ELSE (baseline - value) / (baseline - target)
            END)), 4)
        END AS achievement
    FROM agg
)
SELECT gate_id, kpi_id, value, achievement, achievement >= 1 AS met,
    round(sum(weight * achievement) OVER w / sum(weight) OVER w, 4) AS score
FROM ach
WINDOW w AS (PARTITION BY gate_id)
"""


def setup(scale: float, repeat: int) -> dict:
    gates = n(scale, FULL_GATES, 10)
    db.fresh()
    base = world.make_base(jp_pool=10**13, kr_pool=10**14)
    projects = world.make_projects(base, gates, kpis_per_stage=KPIS)
    world.make_measurements(projects, MEASUREMENTS, officer=base.officer_jp)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    # Every run evaluates twice (the pool, then one process) from the same data.
    db.snapshot()
    # A worker has imported and compiled the URLconf (the notifications' links) before its
    # first batch; done here once, before the timed runs and the forks.
    project_urls_by_id(projects.ids[:1])
    return {"gates": gates}


def baseline() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL, {"as_of": world.AS_OF})
        return cursor.fetchall()


def project() -> int:
    """The beat task's path: every batch of due gates through ``evaluate_gates_batch``, one
    after another in this process."""
    return _work(due_gate_batches(world.AS_OF))


def _work(batches: list[list[int]]) -> int:
    """One worker: its batches, each through ``evaluate_gates_batch``; returns the
    statements sent."""
    as_of = world.AS_OF.isoformat()
    with counting() as counter:
        for batch in batches:
            evaluate_gates_batch(batch, as_of)
    return counter.count


def pool() -> tuple[float, int]:
    """The beat task's messages on the worker pool: the batches dealt in turn to ``WORKERS``
    forked processes (fewer when there are fewer batches), each on its own connection.
    Returns the wall time from their release to the last finish (``parallel``) and the
    statements of all of them."""
    batches = due_gate_batches(world.AS_OF)
    return parallel(_work, [batches[i::WORKERS] for i in range(min(WORKERS, len(batches)))])


def command() -> int:
    """``evaluate_gates --as-of``: the same batches, then each decided release in-process."""
    with counting() as counter:
        call_command("evaluate_gates", as_of=world.AS_OF.isoformat(), stdout=io.StringIO())
    return counter.count


def compare(rows: list[tuple]) -> list[str]:
    """Every gate's stored score and achievements equal the SQL's."""
    expected: dict[int, tuple[Decimal, dict[int, Decimal]]] = {}
    for gate_id, kpi_id, _value, achievement, _met, score in rows:
        expected.setdefault(gate_id, (score, {}))[1][kpi_id] = achievement
    problems = []
    seen = set()
    for ev in GateEvaluation.objects.order_by("gate_id", "-id").only(
        "gate_id", "score", "kpi_results"
    ):
        if ev.gate_id in seen:
            continue
        seen.add(ev.gate_id)
        if ev.gate_id not in expected:
            problems.append(f"gate {ev.gate_id} evaluated but not due in SQL")
            continue
        score, kpis = expected[ev.gate_id]
        got = {r["kpi_id"]: Decimal(r["achievement"]) for r in ev.kpi_results}
        if ev.score != score or got != kpis:
            problems.append(f"gate {ev.gate_id}: score {ev.score} vs SQL {score}")
    missing = set(expected) - seen
    if missing:
        problems.append(f"{len(missing)} due gates not evaluated")
    return problems


def run(scale: float, repeat: int) -> list[Row]:
    size = setup(scale, repeat)
    pool_times, serial_times, baseline_times = [], [], []
    pool_queries, serial_queries = [], []
    problems: list[str] = []
    for i in range(repeat):
        last = i == repeat - 1
        if i:
            db.restore()
        seconds, rows = timed(baseline)
        baseline_times.append(seconds)
        seconds, count = timed(project)
        serial_times.append(seconds)
        serial_queries.append(count)
        if last:
            problems += compare(rows)
        db.restore()
        seconds, count = pool()
        pool_times.append(seconds)
        pool_queries.append(count)
        if last:
            problems += compare(rows)
    gates = size["gates"]
    batches = -(-gates // BATCH_SIZE)
    notes = list(problems[:5])
    if repeat > 1:
        # The operator's command on the same data: the beat path plus every release it
        # decided, posted here one by one (the path above leaves them to the workers).
        db.restore()
        seconds, count = timed(command)
        released = Tranche.objects.filter(state=TrancheState.RELEASED, decision__isnull=False)
        notes.append(
            f"evaluate_gates command once: {seconds:.2f} s, {count:,} queries, "
            f"{released.count():,} tranches released in-process"
        )
    label = f"{gates:,} gates × {KPIS} KPIs × {MEASUREMENTS} measurements"

    def queries(count: int) -> str:
        return f"{count:,} ({count / gates:.3f} per gate; {count / batches:.0f} per batch)"

    workers = min(WORKERS, batches)
    return [
        Row(
            name="Gate evaluation of every due gate (beat task's path: the batches of "
            f"`evaluate_gates_batch` on {workers} worker process{'es' if workers > 1 else ''})",
            size=label,
            project=pool_times,
            baseline=baseline_times,
            queries=queries(pool_queries[-1]),
            ok=not problems,
            notes=notes,
            scale=scale,
        ),
        Row(
            name="Gate evaluation of every due gate (the same batches one after another in "
            "one process)",
            size=label,
            project=serial_times,
            baseline=baseline_times,
            queries=queries(serial_queries[-1]),
            ok=not problems,
            notes=[],
            scale=scale,
        ),
    ]
