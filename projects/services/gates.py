"""Gate evaluation (§8): turn a stage's KPIs and measurements into an immutable snapshot.

The rule itself lives in ``projects.rules.gates`` (pure); this module loads its inputs in
a constant number of queries, stores what it returns, moves the stage and the gate, and
hands the snapshot to the automatic decision (``projects.services.decisions``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, Inexact
from functools import reduce
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import DEFERRED, Model
from django.utils import timezone
from django.utils.translation import gettext as _
from psycopg.types.json import Json, Jsonb
from psycopg.types.numeric import Int8BinaryLoader

from fundapp import jsontext
from fundapp.accounts.models import ApiKey, Role, User
from fundapp.actors import Actor
from fundapp.audit.services import AuditEntry, audit_record_many_parts
from fundapp.errors import Conflict, DomainError, NotFound, PermissionDenied
from fundapp.kernel.approvals import LIVE_STATES
from fundapp.kernel.calendar import today_in_tokyo as today_in_tokyo
from fundapp.notifications.outbox import Event, event_record_many_part
from fundapp.prepared import copy_rows, fetch_prepared, prepared_cursor
from fundapp.statements import Part, statement_run
from projects.models import (
    KPI,
    Call,
    Gate,
    GateDecision,
    GateEvaluation,
    GateState,
    Measurement,
    Project,
    ProjectState,
    Stage,
    StageState,
    Tranche,
    TrancheState,
)
from projects.models.projects import GATE_WORKFLOW, STAGE_WORKFLOW
from projects.permissions import can_evaluate_gate as can_evaluate_gate
from projects.rules import gates as rules
from projects.selectors.projects import projects_visible_to
from projects.services.decisions import Evaluated, gates_decide_automatically
from projects.services.notices import (
    RecipientsNotice,
    notify_people_many_parts,
    officers,
    project_pi_recipients_and_organisations_many,
    project_urls,
    recipients_of,
)

logger = logging.getLogger(__name__)

# The stage states in which its gate can be evaluated; gate_pending is a re-evaluation.
EVALUABLE_STAGE_STATES = (StageState.ACTIVE, StageState.EXTENDED, StageState.GATE_PENDING)


def gate_policy_for_call(call: Call) -> rules.GatePolicy:
    """The call's gate policy (§4) as the rule's value."""
    return rules.GatePolicy(
        pass_threshold=call.pass_threshold,
        conditional_threshold=call.conditional_threshold,
        conditional_floor=call.conditional_floor,
        bonus_rate=call.bonus_rate,
        max_multiplier=call.max_multiplier,
        conditional_rate=call.conditional_rate,
        max_extensions=call.max_extensions,
        max_extension_months=call.max_extension_months,
        auto_release_on_pass=call.auto_release_on_pass,
    )


def _conflict(message: str, code: str) -> Conflict:
    return Conflict(message, code=code)


def _refusal(
    gate: Gate, stage: Stage, project: Project, as_of: date, *, live: bool
) -> Conflict | None:
    """Why the gate cannot be evaluated now (``live``: a decision of its round is live)."""
    if gate.state == GateState.DECIDED:
        return _conflict(_("This gate has already been decided."), "already_decided")
    if live:
        return _conflict(
            _(
                "A decision on this gate is awaiting its second approval; cancel it before "
                "evaluating again."
            ),
            "decision_pending",
        )
    if project.state != ProjectState.ACTIVE:
        return _conflict(
            _("The project is “%(state)s”; its gates are not evaluated.")
            % {"state": ProjectState(project.state).label},
            "project_not_active",
        )
    if stage.state not in EVALUABLE_STAGE_STATES or stage.started_on is None:
        return _conflict(
            _("Stage %(number)d is “%(state)s”; its gate cannot be evaluated.")
            % {"number": stage.number, "state": StageState(stage.state).label},
            "stage_not_running",
        )
    if gate.due_on > as_of:
        return _conflict(
            _("This gate is due on %(day)s; it cannot be evaluated before then.")
            % {"day": gate.due_on.isoformat()},
            "not_due",
        )
    return None


# The KPI columns the evaluation reads, in ``rules.KpiSpec``'s order after the stage id.
_KPI_COLUMNS = (
    "stage_id",
    "id",
    "code",
    "direction",
    "baseline",
    "target",
    "weight",
    "mandatory",
    "aggregation",
    "evidence",
)


def _kpi_input(kpi: rules.KpiSpec) -> dict[str, Any]:
    return {
        "id": kpi.kpi_id,
        "code": kpi.code,
        "direction": kpi.direction,
        "baseline": str(kpi.baseline),
        "target": str(kpi.target),
        "weight": str(kpi.weight),
        "mandatory": kpi.mandatory,
        "aggregation": kpi.aggregation,
        "evidence": kpi.evidence,
    }


def _kpi_result(result: rules.KpiResult, kpi: rules.KpiSpec) -> dict[str, Any]:
    """The snapshot's record of one KPI, without ``measurement_ids``: those are every
    measurement the database counted (not only the points the rule was given), and go into
    the stored JSON as the database wrote them (``_snapshot_row``)."""
    return {
        "kpi_id": result.kpi_id,
        "code": result.code,
        "value": None if result.value is None else str(result.value),
        "achievement": str(result.achievement),
        "met": result.met,
        "missing": result.missing,
        "weight": str(kpi.weight),
        "mandatory": kpi.mandatory,
    }


def gate_evaluate(
    *, gate: Gate, actor: Actor | None = None, as_of: date | None = None
) -> GateEvaluation:
    """Evaluate a due gate now and store the snapshot (§8); then let it be decided automatically.

    ``actor`` is ``None`` for the scheduler. ``as_of`` (default: today in Asia/Tokyo) only
    decides whether the gate is due (``due_on ≤ as_of``); the window is always
    ``[stage_window_start(stage.started_on), gate_cutoff(gate.due_on)]``.

    The same code as ``gates_evaluate`` with a batch of one, except that the gate's lock is
    waited for, a gate already evaluated in its round is evaluated again (a new snapshot,
    the latest is decided), and a refusal is raised: a decided gate, a gate with a live
    decision for its round, a project that is not active, a stage not running, a gate not
    yet due and a stage without KPIs are refused (``Conflict``) with nothing written.
    """
    as_of = as_of or today_in_tokyo()
    if actor is not None:
        project_id = Stage.objects.filter(pk=gate.stage_id).values_list("project_id", flat=True)
        visible = projects_visible_to(actor).filter(pk__in=project_id).first()
        if visible is None:
            raise NotFound()
        allowed, reason = can_evaluate_gate(actor, visible)
        if not allowed:
            raise PermissionDenied(reason)
    result = _evaluate_batch([gate.pk], as_of=as_of, actor=actor, single=True)
    return result.evaluations[gate.pk]


BATCH_SIZE = 500


@dataclass
class GateBatchResult:
    """What a batch evaluation did, by gate id."""

    evaluations: dict[int, GateEvaluation] = field(default_factory=dict)
    decisions: dict[int, GateDecision] = field(default_factory=dict)
    skipped: dict[int, Conflict] = field(default_factory=dict)
    failed: dict[int, Exception] = field(default_factory=dict)
    # Tranches decided by the automatic decisions, to be released (after commit).
    tranches: dict[int, list[int]] = field(default_factory=dict)

    def merge(self, other: GateBatchResult) -> None:
        self.evaluations.update(other.evaluations)
        self.decisions.update(other.decisions)
        self.skipped.update(other.skipped)
        self.failed.update(other.failed)
        self.tranches.update(other.tranches)


def gates_evaluate(
    *,
    gate_ids: Sequence[int],
    as_of: date,
    actor: Actor | None = None,
    batch_size: int = BATCH_SIZE,
) -> GateBatchResult:
    """Evaluate many due gates (§8, §16), ``batch_size`` at a time, each batch in one
    transaction, and let them be decided automatically.

    Per batch, in a fixed number of queries whatever the number of gates, KPIs and
    measurements:

    - the gates are locked in ``pk`` order with ``SKIP LOCKED`` (a gate another worker or
      an officer holds is theirs: it is skipped, code ``locked``, as is a gate that no
      longer exists), then their projects,
      then their stages, each kind in ``pk`` order (the documented lock order); under the
      locks every gate is checked again, so one decided, with a live decision, already
      evaluated in its round (by someone else since it was found due), of a project not
      active, of a stage not running, not yet due or without KPIs is skipped with the
      reason, and nothing of it is written;
    - the inputs (KPIs, the non-rejected measurements of every window, the policies,
      previous evaluations, live decisions, last-stage facts, the final gate's
      requirement) are read for the whole batch; the pure rule (``projects.rules.gates``)
      runs per gate in Python;
    - snapshots, stage and gate states, audit events, notifications and outbox events are
      written in bulk, then the automatic decisions (``gates_decide_automatically``) with
      their tranche decisions; releases are enqueued after commit.

    A batch that fails on one gate's data (a ``DomainError`` or an arithmetic error) is
    rolled back and run again gate by gate; the failing gate is reported in ``failed``.

    The caller authorises: ``actor`` is recorded, not checked (``None`` for the scheduler).
    """
    result = GateBatchResult()
    ids = sorted({int(pk) for pk in gate_ids})
    with _collecting_only_new_objects():
        for offset in range(0, len(ids), batch_size):
            _evaluate_chunk(ids[offset : offset + batch_size], as_of, actor, result)
    return result


@contextlib.contextmanager
def _collecting_only_new_objects() -> Iterator[None]:
    """Let the cyclic garbage collector look only at objects made from now on.

    A batch makes hundreds of thousands of short-lived objects, which set off full
    collections; each of those would also walk every object the process held before
    (Django, the modules, caches), about a fifth of a batch's time. The older objects are
    frozen (``gc.freeze``) for the batch and given back to the collector after it. A
    process whose objects are already frozen (by its server, at start) is left as it is.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _cycles_collected_after() -> Iterator[None]:
    """No cyclic garbage collection while a batch runs; once after it.

    A batch's objects are freed by their reference counts as it goes, but while it runs
    the collector's young generations are set off every few hundred allocations and walk
    the batch's live objects again each time: about 2,000 collections and a tenth of the
    Python time of 10,000 gates. The few cycles a batch leaves are collected when it ends.
    A process that has switched the collector off is left as it is.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)


def _evaluate_chunk(
    chunk: list[int], as_of: date, actor: Actor | None, result: GateBatchResult
) -> None:
    """One batch in one transaction, into ``result``; a failing batch gate by gate."""
    try:
        with _cycles_collected_after():
            evaluated = _evaluate_batch(chunk, as_of=as_of, actor=actor, single=False)
        result.merge(evaluated)
    except (DomainError, ValueError, ArithmeticError) as exc:
        if len(chunk) == 1:
            result.failed[chunk[0]] = exc
            return
        # One gate's bad data must not hold up the others: its batch is rolled back and
        # run again gate by gate, so only that gate fails.
        logger.warning("gate batch %s–%s failed (%s); one by one", chunk[0], chunk[-1], exc)
        for gate_id in chunk:
            _evaluate_chunk([gate_id], as_of, actor, result)


# Measurement values are stored with this many decimal places (the column's scale): the
# aggregating statement sends each as a whole number of units of that place.
_PLACES: int = Measurement._meta.get_field("value").decimal_places  # type: ignore[assignment]
# The values whose units fit a ``bigint`` for certain: |value| below this many whole units.
_UNITS_FIT_BELOW = 2**63 // 10**_PLACES


@dataclass(frozen=True)
class _Aggregate:
    """One KPI's counted measurements (§8, §22), as the database read them."""

    # The latest measurement (greatest measured_at, ties by greatest id) and its time as
    # microseconds since the epoch.
    latest_id: int
    latest_us: int
    # Every value, in the order of the series, as integer units of the column's ``_PLACES``
    # (``rules.unit_decimal`` makes each the stored ``Decimal`` again): ``max``, ``min`` and
    # the exact ``sum`` are taken from them where a KPI asks for one
    # (``_aggregate_points``), and ``mean`` by the rule's own arithmetic
    # (``rules.mean_of_units``). ``None`` when a value's units do not fit a ``bigint``
    # (|value| ≥ ``_UNITS_FIT_BELOW``): then ``values`` holds the decimals.
    units: list[int] | None
    values: list[Decimal] | None
    # Every measurement counted, ascending by id, as JSON arrays: the values (decimal
    # text) as the database wrote them, the ids and the times (microseconds since the
    # epoch) as ``_read_aggregates`` wrote them from its integers. They go into the
    # snapshot as they are, never parsed in Python.
    ids_json: str
    values_json: str
    measured_at_us_json: str


_NO_MEASUREMENTS = '{"ids":[],"values":[],"measured_at_us":[]}'

# Why a measurement is left out (§22), the SQL twin of ``rules.exclusion_reason``: the
# same checks in the same order, NULL when it counts. For a KPI at level ``attested`` the
# verifiers' verdicts on the measurement are read where the case is reached (a scalar
# subquery, one index probe per measurement of such KPIs only; the other levels cost no
# probe): any dispute wins over attestations (``projects.selectors.verification``), and
# verdicts given before a designation was revoked still count; none at all is "not
# attested". "No evidence" is a probe of the evidence rows' measurement index, made only
# for KPIs at level ``document``.
_LEFT_OUT_SQL = f"""
CASE
  WHEN m.rejected_at IS NOT NULL THEN '{rules.LEFT_OUT_REJECTED}'
  WHEN m.measured_at < w.ws OR m.measured_at > w.co THEN '{rules.LEFT_OUT_OUTSIDE_WINDOW}'
  WHEN k.evidence = '{rules.EVIDENCE_ATTESTED}' THEN (
    SELECT CASE WHEN bool_or(a.verdict = '{rules.VERDICT_DISPUTED}')
                  THEN '{rules.LEFT_OUT_DISPUTED}'
                WHEN bool_or(a.verdict = '{rules.VERDICT_ATTESTED}') THEN NULL
                ELSE '{rules.LEFT_OUT_NOT_ATTESTED}'
           END
    FROM projects_measurementattestation a
    WHERE a.measurement_id = m.id)
  WHEN k.evidence = '{rules.EVIDENCE_DOCUMENT}'
       AND NOT EXISTS (SELECT 1 FROM projects_measurementevidence e
                       WHERE e.measurement_id = m.id)
    THEN '{rules.LEFT_OUT_NO_EVIDENCE}'
END
"""  # noqa: S608 (the rule's own constants)

# The database gathers each KPI's counted measurements (§8: non-rejected, in the window;
# §22: meeting the KPI's evidence level) for the whole batch in one statement: the counted
# ids, values and times (as microseconds since the epoch: exact, and an integer costs
# ~0.1 µs to read where a time costs several through Django's time-zone loader). ``max``,
# ``min`` and the exact ``sum`` are taken from the values in Python, only for a KPI that
# asks for one (``_aggregate_points``): an aggregate in SQL is evaluated on every row of
# every KPI. The same pass writes what the snapshot stores of every counted measurement (§8:
# ids and values, and when each was measured) and of every one left out (§22: with its
# reason), as JSON text: one scan of the KPI's measurements serves the rule and the
# snapshot. The snapshot's times are microseconds since the epoch too: exact, half the
# length of ISO 8601 text, and no timestamp to format (the JSON arrays of the counted ones'
# times and ids are written in Python from the integers it reads, see below).
#
# Each KPI is aggregated on its own (``LATERAL``), from its measurements in id order
# (``s``: read by the KPI's index, a sort of a few dozen rows in memory), so every array
# comes in id order without a sort of its own, and the batch's rows are never sorted as a
# whole (that sort, ~50,000 rows for 500 gates, spilled to disk). An aggregate with
# ``ORDER BY`` would sort each KPI's rows again, once per aggregate. The order of the
# series (``measured_at``, then id), whose last is ``latest`` (§8: greatest measured_at,
# ties by greatest id) and whose values make ``mean`` (left to the rule: its 28-digit
# rounding is the rule's), is made from the times in Python (``_series_order``): none at
# all when the times already rise with the ids, as for regular reports. A KPI without
# measurements comes as a row of nulls, which ``_read_aggregates`` skips.
#
# The values go to Python as whole numbers of units of the column's last decimal place
# (``s.units``, a ``bigint``; ``_PLACES``), which the rule compares and adds as integers:
# loading a ``numeric`` makes a ``Decimal`` (~1 µs each, ~20 per KPI), loading a ``bigint``
# an ``int``, ten times cheaper in the text format, thirty in the binary one the rows come
# in. A value whose units might not fit a ``bigint`` (|value| ≥ ``_UNITS_FIT_BELOW``) has
# NULL units, and its ``numeric`` comes in the next column (NULL when no value of the KPI
# is that large: the usual case pays no ``numeric`` at all).
#
# The counted measurements' times come as the timestamps themselves, which the binary
# format sends as integer microseconds since 2000-01-01 UTC and ``_read_aggregates`` reads
# as those integers (``_TIMES_AS_MICROSECONDS``): exact, and no arithmetic on the server,
# where ``extract(epoch …)`` is ``numeric`` arithmetic (~1 µs a row, on every counted row
# of the batch). The snapshot's JSON arrays of them and of the ids are written in Python
# from the same integers (by orjson, ``fundapp.jsontext.dumps``), as ``array_to_json``
# writes a ``bigint[]`` (``[1,2,3]``), for less than the server's ``array_to_json``.
_AGGREGATES_TEMPLATE = f"""
SELECT k.id, a.*
FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) AS w(stage_id, ws, co)
JOIN projects_kpi k ON k.stage_id = w.stage_id
CROSS JOIN LATERAL (
SELECT array_agg(s.id) FILTER (WHERE s.why IS NULL),
       array_agg(s.units) FILTER (WHERE s.why IS NULL),
       array_agg(s.value) FILTER (WHERE s.why IS NULL AND s.units IS NULL),
       array_agg(s.measured_at) FILTER (WHERE s.why IS NULL),
       array_to_json(array_agg(s.value::text) FILTER (WHERE s.why IS NULL))::text,
       json_agg(json_build_object('id', s.id, 'value', s.value::text,
                                  'measured_at_us',
                                  (extract(epoch FROM s.measured_at) * 1000000)::bigint,
                                  'reason', s.why))
         FILTER (WHERE s.why IS NOT NULL)::text{{anomaly_columns}}
FROM (
  SELECT m.id, m.value, m.measured_at, m.created_at, m.rejected_at, w.co,
         CASE WHEN abs(m.value) < {_UNITS_FIT_BELOW}
              THEN (m.value * {10**_PLACES})::bigint END AS units,
         {_LEFT_OUT_SQL} AS why
  FROM projects_measurement m
  WHERE m.kpi_id = k.id
  ORDER BY m.id
) AS s
) AS a
"""  # noqa: S608 (the rule's own constants, values as parameters)

# What the anomaly flags (§22, ``rules.anomaly_flags``) read besides, in the same pass, for
# the evaluation (the forecast computes no flags): when the counted measurements (in id
# order, as above) were entered, and the rejected ones with their values and when they
# were rejected. When each was entered matters only within ``rules.LATE_ENTRY`` up to the
# cutoff, or, for a value equal to a rejected one of the KPI, after that rejection: the
# first are sent (the others NULL, which the rule reads as "long before"); for a KPI with a
# rejection (the rejected ids' aggregate, shared with the column that sends them), every
# counted one is also sent, and only those whose value a rejected measurement has are made
# times (``_entered``). The late entries' and the rejections' times are sent as
# microseconds since the epoch (computed for those few rows only), every counted one's
# entry as the timestamp itself (read as its integer microseconds since 2000, as the
# counted times above: no arithmetic on each row), each made a time in Python only where it
# is read; the rejected values as units, as above, with the ``numeric`` of those too large
# for a ``bigint``.
_ANOMALY_COLUMNS = f""",
       array_agg(CASE WHEN s.created_at BETWEEN s.co - interval '{rules.LATE_ENTRY.days} days'
                                            AND s.co
                      THEN (extract(epoch FROM s.created_at) * 1000000)::bigint END)
         FILTER (WHERE s.why IS NULL),
       CASE WHEN array_agg(s.id) FILTER (WHERE s.rejected_at IS NOT NULL) IS NOT NULL
            THEN array_agg(s.created_at) FILTER (WHERE s.why IS NULL)
       END,
       array_agg(s.id) FILTER (WHERE s.rejected_at IS NOT NULL),
       array_agg(s.units) FILTER (WHERE s.rejected_at IS NOT NULL),
       array_agg(s.value) FILTER (WHERE s.rejected_at IS NOT NULL AND s.units IS NULL),
       array_agg((extract(epoch FROM s.rejected_at) * 1000000)::bigint)
         FILTER (WHERE s.rejected_at IS NOT NULL)"""

_AGGREGATES_SQL = _AGGREGATES_TEMPLATE.replace("{anomaly_columns}", "")
_EVALUATION_AGGREGATES_SQL = _AGGREGATES_TEMPLATE.replace("{anomaly_columns}", _ANOMALY_COLUMNS)

# The evidence files of the batch's KPIs' measurements that a measurement of another KPI of
# the same project also carries (same SHA-256, §22): one query per batch, by the hash index.
_SHARED_EVIDENCE_SQL = """
SELECT m.kpi_id, e.measurement_id, e.sha256, o.measurement_id, om.kpi_id
FROM projects_measurement m
JOIN projects_measurementevidence e ON e.measurement_id = m.id
JOIN projects_measurementevidence o ON o.sha256 = e.sha256 AND o.measurement_id <> m.id
JOIN projects_measurement om ON om.id = o.measurement_id
WHERE m.kpi_id = ANY(%s::bigint[]) AND m.rejected_at IS NULL
  AND om.project_id = m.project_id AND om.kpi_id <> m.kpi_id
ORDER BY m.kpi_id, e.measurement_id, e.sha256, o.measurement_id
"""

# Snapshots are written by one COPY in the binary format (``fundapp.prepared.copy_rows``),
# their ids taken from the table's sequence first (COPY returns nothing): the rows are
# formatted in C, and the server neither parses nor plans a statement holding the batch's
# megabytes of JSON. ``inputs`` and ``kpi_results`` (``json`` columns, the bulk of a
# snapshot) go as the JSON text of ``_snapshot_json``, checked by the database and stored
# as they are; ``policy`` and ``anomaly_flags`` as JSON text (``fundapp.jsontext.dumps``)
# made ``jsonb``.
_SNAPSHOT_IDS_SQL = """
SELECT nextval(pg_get_serial_sequence('projects_gateevaluation', 'id'))
FROM generate_series(1, %s)
"""
_SNAPSHOT_COLUMNS = (
    ("id", "bigint"),
    ("gate_id", "bigint"),
    ("round", "smallint"),
    ("evaluated_at", "timestamptz"),
    ("as_of", "date"),
    ("window_start", "timestamptz"),
    ("cutoff", "timestamptz"),
    ("score", "numeric"),
    ("outcome", "text"),
    ("plan_version", "integer"),
    ("policy", "jsonb"),
    ("inputs", "json"),
    ("kpi_results", "json"),
    ("anomaly_flags", "jsonb"),
    ("evaluated_by_id", "bigint"),
    ("evaluated_by_api_key_id", "bigint"),
)


@dataclass
class _Snapshot:
    """A snapshot to insert: the instance (``inputs`` and ``kpi_results`` left deferred)
    and those two as the JSON text stored."""

    evaluation: GateEvaluation
    inputs: str
    kpi_results: str


def _snapshot_json(
    stage_kpis: list[rules.KpiSpec],
    results: list[dict[str, Any]],
    aggregates: dict[int, _Aggregate],
    excluded: dict[int, str],
) -> tuple[str, str]:
    """``inputs`` and ``kpi_results`` as JSON text: each KPI's counted measurements and
    those left out spliced in as the database wrote them.

    ``inputs`` is ``{"kpis": [{…the KPI…, "measurements": {"ids": […], "values": […],
    "measured_at_us": […]}, "excluded": [{"id", "value", "measured_at_us", "reason"}]}]}``
    (ascending ids; times as integer microseconds since the epoch;
    ``GateEvaluation.counted_measurements`` and ``excluded_measurements`` read them back as
    lists with ISO 8601 times, as they read the ``measured_at`` texts of older snapshots);
    each of ``kpi_results`` carries ``measurement_ids``, the ids counted."""
    dumps = jsontext.dumps
    kpis = []
    for kpi in stage_kpis:
        found = aggregates.get(kpi.kpi_id)
        measurements = (
            _NO_MEASUREMENTS
            if found is None
            else f'{{"ids":{found.ids_json},"values":{found.values_json},'
            f'"measured_at_us":{found.measured_at_us_json}}}'
        )
        left_out = excluded.get(kpi.kpi_id, "[]")
        kpis.append(
            f'{dumps(_kpi_input(kpi))[:-1]},"measurements":{measurements},"excluded":{left_out}}}'
        )
    lines = []
    for result in results:
        found = aggregates.get(result["kpi_id"])
        ids = "[]" if found is None else found.ids_json
        lines.append(f'{dumps(result)[:-1]},"measurement_ids":{ids}}}')
    return '{"kpis":[' + ",".join(kpis) + "]}", "[" + ",".join(lines) + "]"


def _insert_snapshots(snapshots: list[_Snapshot]) -> None:
    """Insert the snapshots (two statements whatever their number) and set their ids;
    ``inputs`` and ``kpi_results`` are left deferred on the instances (read on first
    access)."""
    evaluations = [s.evaluation for s in snapshots]
    with prepared_cursor() as cursor:
        cursor.execute(_SNAPSHOT_IDS_SQL, [len(snapshots)])
        ids = sorted(pk for (pk,) in cursor.fetchall())
    dumps = jsontext.dumps
    # A batch's gates share their calls' few policies: each is dumped once.
    policies: dict[int, Jsonb] = {}
    rows = []
    for pk, snapshot, e in zip(ids, snapshots, evaluations, strict=True):
        policy = policies.get(id(e.policy))
        if policy is None:
            policy = policies[id(e.policy)] = Jsonb(dumps(e.policy), str)
        rows.append(
            (
                pk,
                e.gate_id,
                e.round,
                e.evaluated_at,
                e.as_of,
                e.window_start,
                e.cutoff,
                e.score,
                e.outcome,
                e.plan_version,
                policy,
                Json(snapshot.inputs, str),
                Json(snapshot.kpi_results, str),
                Jsonb(dumps(e.anomaly_flags), str),
                e.evaluated_by_id,
                e.evaluated_by_api_key_id,
            )
        )
    copy_rows(
        GateEvaluation._meta.db_table,
        [column for column, _type in _SNAPSHOT_COLUMNS],
        [type_ for _column, type_ in _SNAPSHOT_COLUMNS],
        rows,
    )
    alias = connection.alias
    for pk, evaluation in zip(ids, evaluations, strict=True):
        evaluation.id = pk
        evaluation._state.adding = False
        evaluation._state.db = alias


# The columns of the models a batch builds instances of, in the models' order: the locked
# rows are made instances by ``_row_instance``, and ``_new_evaluation`` builds a snapshot
# from them by position, as a read of the row does (~3 µs; by keyword, with the gate and
# actor set through their descriptors, ~16 µs).
_ATTNAMES: dict[type[Model], tuple[str, ...]] = {
    model: tuple(field.attname for field in model._meta.concrete_fields)
    for model in (Gate, GateEvaluation, Project, Stage)
}
_EVALUATION_GATE = GateEvaluation._meta.get_field("gate")
_EVALUATION_BY = GateEvaluation._meta.get_field("evaluated_by")
_EVALUATION_BY_KEY = GateEvaluation._meta.get_field("evaluated_by_api_key")


def _new_evaluation(gate: Gate, actor: Actor | None, **values: Any) -> GateEvaluation:
    """An unsaved snapshot of ``gate`` by ``actor`` with the other columns in ``values``
    (all of them but the id, the gate, the actor, ``inputs`` and ``kpi_results``, which are
    left deferred: ``_insert_snapshots`` writes them as JSON text); the gate and the actor
    are the instances given, as ``GateEvaluation(gate=…, evaluated_by=…)`` would hold
    them."""
    user = actor if isinstance(actor, User) else None
    key = actor if isinstance(actor, ApiKey) else None
    fixed = {
        "id": None,
        "gate_id": gate.pk,
        "inputs": DEFERRED,
        "kpi_results": DEFERRED,
        "evaluated_by_id": None if user is None else user.pk,
        "evaluated_by_api_key_id": None if key is None else key.pk,
    }
    evaluation = GateEvaluation(
        *[fixed[name] if name in fixed else values.pop(name) for name in _ATTNAMES[GateEvaluation]]
    )
    if values:
        raise TypeError(f"not columns of a snapshot: {sorted(values)}")
    _EVALUATION_GATE.set_cached_value(evaluation, gate)
    if actor is not None:
        _EVALUATION_BY.set_cached_value(evaluation, user)
        _EVALUATION_BY_KEY.set_cached_value(evaluation, key)
    return evaluation


def _kpi_aggregates(
    windows: list[tuple[int, datetime, datetime]],
) -> tuple[dict[int, _Aggregate], dict[int, str]]:
    """Per KPI of the stages with a window ``(stage id, start, cutoff)``: the aggregates of
    its counted measurements (if it has any), and those left out as the snapshot's JSON
    text (if any). One query."""
    aggregates, excluded, _series = _read_aggregates(_AGGREGATES_SQL, windows)
    return aggregates, excluded


def _kpi_aggregates_and_series(
    windows: list[tuple[int, datetime, datetime]],
) -> tuple[dict[int, _Aggregate], dict[int, str], dict[int, rules.KpiSeries]]:
    """``_kpi_aggregates`` and, per KPI with counted or rejected measurements, what its
    anomaly flags read (``rules.KpiSeries`` without the shared files). One query."""
    return _read_aggregates(_EVALUATION_AGGREGATES_SQL, windows)


def _read_aggregates(
    sql: str, windows: list[tuple[int, datetime, datetime]]
) -> tuple[dict[int, _Aggregate], dict[int, str], dict[int, rules.KpiSeries]]:
    aggregates: dict[int, _Aggregate] = {}
    excluded: dict[int, str] = {}
    series: dict[int, rules.KpiSeries] = {}
    # The binary format: the arrays of integers are read without printing and parsing
    # their text; the JSON columns are cast to ``text`` in the statement, so they come as
    # ``str`` to splice into the snapshot, as in the text format.
    with prepared_cursor(binary=True) as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", _TIMES_AS_MICROSECONDS)
        cursor.execute(
            sql,
            [[w[0] for w in windows], [w[1] for w in windows], [w[2] for w in windows]],
        )
        for (
            kpi_id,
            ids,
            units,
            too_large,
            times_us,
            values_json,
            excluded_json,
            *anomaly,
        ) in cursor.fetchall():
            if ids is None and excluded_json is None:
                continue  # a KPI without measurements (the aggregate's row of nulls)
            if times_us is not None:
                times_us = list(map(_SINCE_2000_US.__add__, times_us))
            # The usual case keeps the units; a KPI with a value too large for them reads
            # all its values as decimals.
            values = None if too_large is None else _decimals(units, too_large)
            if values is not None:
                units = None
            # In id order, as the database wrote the other arrays; written here from the
            # integers already read (``array_to_json`` on the server cost more).
            ids_json = jsontext.dumps(ids) if ids else ""
            measured_at_us_json = jsontext.dumps(times_us) if ids else ""
            order = _series_order(times_us) if ids else None
            if order is not None:
                ids = [ids[i] for i in order]
                times_us = [times_us[i] for i in order]
                if units is not None:
                    units = [units[i] for i in order]
                if values is not None:
                    values = [values[i] for i in order]
            if ids:
                aggregates[kpi_id] = _Aggregate(
                    latest_id=ids[-1],
                    latest_us=times_us[-1],
                    units=units,
                    values=values,
                    ids_json=ids_json,
                    values_json=values_json,
                    measured_at_us_json=measured_at_us_json,
                )
            if excluded_json is not None:
                excluded[kpi_id] = excluded_json
            if anomaly:
                (
                    late_us,
                    entered_us,
                    rejected_ids,
                    rejected_units,
                    rejected_too_large,
                    rejected_us,
                ) = anomaly
                if order is not None:
                    late_us = [late_us[i] for i in order]
                    if entered_us:
                        entered_us = [entered_us[i] for i in order]
                rejected_values = (
                    _decimals(rejected_units, rejected_too_large) if rejected_ids else None
                )
                # What ``_entered`` compares: units where both sides have them, the
                # decimals otherwise.
                counted_keys: Sequence[int | Decimal] | None = units
                rejected_keys: Sequence[int | Decimal] | None = rejected_units
                if rejected_ids and (units is None or rejected_too_large is not None):
                    counted_keys = values if units is None else _decimals(units, None)
                    rejected_keys = rejected_values
                counted: Sequence[Decimal] = ()
                if ids:
                    counted = rules.ScaledValues(units, _PLACES) if values is None else values
                series[kpi_id] = rules.KpiSeries(
                    ids=ids or (),
                    values=counted,
                    created_at=_entered(late_us, counted_keys, entered_us, rejected_keys),
                    rejected=tuple(
                        zip(
                            rejected_ids,
                            rejected_values,
                            [_EPOCH + timedelta(microseconds=us) for us in rejected_us],
                            strict=True,
                        )
                    )
                    if rejected_ids and rejected_values is not None
                    else (),
                    units=None if units is None or not ids else (units, _PLACES),
                )
    return aggregates, excluded, series


def _decimals(units: Sequence[int | None], too_large: list[Decimal] | None) -> list[Decimal]:
    """The stored values of which the statement sent ``units`` (of ``_PLACES``), each NULL
    one's ``numeric`` taken in turn from ``too_large``."""
    larger = iter(too_large or ())
    unit_decimal = rules.unit_decimal
    return [next(larger) if unit is None else unit_decimal(unit, _PLACES) for unit in units]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# PostgreSQL's timestamps count microseconds from 2000-01-01 UTC: this many after the epoch.
_SINCE_2000_US = (datetime(2000, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
# Reads a ``timestamptz`` in the binary format as those microseconds (an ``int``): the
# binary format is that 8-byte integer, which the ``bigint`` loader reads.
_TIMES_AS_MICROSECONDS = Int8BinaryLoader


def _series_order(times_us: list[int]) -> list[int] | None:
    """The positions of a KPI's counted measurements (given in id order, with their times
    as microseconds since the epoch) in the order of the series (§8: ``measured_at``, then
    id); ``None`` when that is the id order already (the times never fall as the ids
    rise). The sort is stable, so equal times keep their id order."""
    if times_us == sorted(times_us):
        return None
    return sorted(range(len(times_us)), key=times_us.__getitem__)


def _entered(
    late_us: list[int | None] | None,
    values: Sequence[int | Decimal] | None,
    entered_us: list[int] | None,
    rejected_values: Sequence[int | Decimal] | None,
) -> Sequence[datetime | None]:
    """When each counted measurement was entered, as far as the anomaly flags can use it:
    the late entries' times (``late_us``: microseconds since the epoch, ``None`` for the
    others), and for a value equal to a rejected one of the KPI its time from
    ``entered_us`` (every counted one's, in microseconds since 2000-01-01 UTC, as the
    binary timestamps come); ``None`` for the others. The values and the rejected ones are
    compared as given: both as units, or both as decimals."""
    if not late_us:
        return ()
    again: list[Any] = []
    if entered_us and rejected_values and values:
        # Usually empty: no counted value was rejected.
        again = rules.values_among(list(rejected_values), list(values))
    if not again and late_us.count(None) == len(late_us):
        return [None] * len(late_us)  # the usual case: nothing entered lately
    entered: list[datetime | None] = [
        None if us is None else _EPOCH + timedelta(microseconds=us) for us in late_us
    ]
    if again:
        assert values is not None and entered_us is not None
        for i, value in enumerate(values):
            if value in again and entered[i] is None:
                entered[i] = _EPOCH + timedelta(microseconds=_SINCE_2000_US + entered_us[i])
    return entered


def _shared_evidence(kpi_ids: Sequence[int]) -> dict[int, list[tuple[int, str, int, int]]]:
    """Per KPI, its measurements' evidence files that a measurement of another KPI of the
    same project carries too, as ``(measurement id, sha256, other id, other KPI id)``. One
    query."""
    shared: dict[int, list[tuple[int, str, int, int]]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(_SHARED_EVIDENCE_SQL, [list(kpi_ids)])
        for kpi_id, measurement_id, sha256, other_id, other_kpi_id in cursor.fetchall():
            shared[kpi_id].append((measurement_id, sha256, other_id, other_kpi_id))
    return shared


def _gate_flags(
    stage_kpis: list[rules.KpiSpec],
    series: dict[int, rules.KpiSeries],
    shared: dict[int, list[tuple[int, str, int, int]]],
    cutoff: datetime,
) -> list[dict[str, Any]]:
    """The anomaly flags of one stage's KPIs (§22) as the snapshot stores them."""
    flags: list[dict[str, Any]] = []
    for kpi in stage_kpis:
        found = series.get(kpi.kpi_id)
        if found is None or not found.ids:
            continue
        if kpi.kpi_id in shared:
            found = replace(found, shared=shared[kpi.kpi_id])
        flags.extend(flag.as_dict() for flag in rules.anomaly_flags(kpi, found, cutoff=cutoff))
    return flags


# The ``sum`` aggregation, exact as PostgreSQL's ``sum`` of ``numeric``: stored values have
# at most 20 digits, so 60 hold the sum of any number of them (a rounding would raise).
_SUM_CONTEXT = Context(prec=60, traps=[Inexact])
_ZERO = Decimal(0)


def _aggregate_points(
    kpi: rules.KpiSpec, found: _Aggregate, start: datetime
) -> list[rules.MeasurementPoint]:
    """One point from which the rule's ``aggregate`` gives the KPI's aggregate: the value
    that decides for ``latest``/``max``/``min``/``sum`` (a stored value unchanged, or their
    exact sum), the rule's own ``mean`` of every value for ``mean``. ``measurement_ids`` of
    the result are the database's (all counted measurements). The database has already
    applied the evidence level (§22), so the point carries everything any level asks
    for."""
    units, values = found.units, found.values
    if kpi.aggregation == rules.LATEST:
        measurement_id = found.latest_id
        at = _EPOCH + timedelta(microseconds=found.latest_us)
        if units is not None:
            value = rules.unit_decimal(units[-1], _PLACES)
        else:
            assert values is not None
            value = values[-1]
    else:
        measurement_id, at = 0, start
        if units is None:
            assert values is not None
            if kpi.aggregation == rules.MAX:
                value = max(values)
            elif kpi.aggregation == rules.MIN:
                value = min(values)
            elif kpi.aggregation == rules.SUM:
                value = reduce(_SUM_CONTEXT.add, values, _ZERO)
            else:
                value = rules.mean(values)
        # The same decimals from the units: the stored value, or the exact sum (60 digits
        # hold it, as they hold the decimals' sum), or the rule's own mean.
        elif kpi.aggregation == rules.MAX:
            value = rules.unit_decimal(max(units), _PLACES)
        elif kpi.aggregation == rules.MIN:
            value = rules.unit_decimal(min(units), _PLACES)
        elif kpi.aggregation == rules.SUM:
            value = Decimal(sum(units)).scaleb(-_PLACES, _SUM_CONTEXT)
        else:
            value = rules.mean_of_units(units, _PLACES)
    return [
        rules.MeasurementPoint(
            measurement_id=measurement_id,
            kpi_id=kpi.kpi_id,
            value=value,
            measured_at=at,
            has_evidence=True,
            verdict=rules.VERDICT_ATTESTED,
        )
    ]


_KPI_TABLE_COLUMNS = {f.attname: f.column for f in KPI._meta.concrete_fields}

# ``_KPI_COLUMNS`` of the KPIs of some stages, ascending ids (prepared once per connection).
_STAGE_KPIS_SQL = f"""
SELECT {", ".join(_KPI_TABLE_COLUMNS[name] for name in _KPI_COLUMNS)}
  FROM {KPI._meta.db_table}
 WHERE {_KPI_TABLE_COLUMNS["stage_id"]} = ANY(%s::bigint[])
 ORDER BY id
"""  # noqa: S608 (names from the model, values as parameters)


def _stage_kpis(stage_ids: Sequence[int]) -> dict[int, list[rules.KpiSpec]]:
    """The KPIs of the stages as the rule's values, by stage id, ascending ids. One query."""
    kpis: dict[int, list[rules.KpiSpec]] = defaultdict(list)
    spec = rules.KpiSpec
    for stage_id, *values in fetch_prepared(_STAGE_KPIS_SQL, [list(stage_ids)]):
        kpis[stage_id].append(spec(*values))
    return kpis


def _rule_result(
    stage_kpis: list[rules.KpiSpec],
    aggregates: dict[int, _Aggregate],
    start: datetime,
    cutoff: datetime,
    policy: rules.GatePolicy,
) -> rules.GateResult:
    """The pure rule (§8) over the database's aggregates of one stage's KPIs."""
    points = [
        point
        for k in stage_kpis
        if k.kpi_id in aggregates
        for point in _aggregate_points(k, aggregates[k.kpi_id], start)
    ]
    return rules.evaluate_gate(stage_kpis, points, start=start, cutoff=cutoff, policy=policy)


# How a gate and a project hold the stage and call read for them: set in the instance's
# cache, as ``select_related`` would (the ids are already the same).
_GATE_STAGE = Gate._meta.get_field("stage")
_PROJECT_CALL = Project._meta.get_field("call")


_LIVE = [state.value for state in LIVE_STATES]

# Which gates have a live decision (true) or a snapshot (false) in their current round:
# one index probe per gate into each table, stopped at the first row (``LIMIT 1``, which
# also keeps each subquery a probe of its own). Both tables grow by a batch at a time,
# faster than their statistics follow: a filter by ``gate_id = ANY(…)`` planned from
# statistics of a smaller table (an empty one, after a restore or a first run) scanned the
# whole table, again in every batch. Planned anew for each batch (a plain cursor, not a
# prepared statement): a generic plan kept from the first batches, when a scan of a few
# pages was cheapest, stays a scan per probe. Each probe is estimated at one row, so no
# misestimate of the tables' sizes makes the statement look costly enough for PostgreSQL
# to compile it (JIT, several milliseconds).
_LIVE_AND_EVALUATED_SQL = f"""
SELECT g.id, true
  FROM unnest(%s::bigint[], %s::smallint[]) AS g(id, round)
 CROSS JOIN LATERAL (SELECT 1 FROM {GateDecision._meta.db_table}
                      WHERE gate_id = g.id AND round = g.round AND state = ANY(%s::text[])
                      LIMIT 1) AS d
UNION ALL
SELECT g.id, false
  FROM unnest(%s::bigint[], %s::smallint[]) AS g(id, round)
 CROSS JOIN LATERAL (SELECT 1 FROM {GateEvaluation._meta.db_table}
                      WHERE gate_id = g.id AND round = g.round LIMIT 1) AS e
"""  # noqa: S608 (names from the models, values as parameters)


def _live_and_evaluated_rounds(gates: Sequence[Gate]) -> tuple[set[int], set[int]]:
    """The ids of the gates with a live decision in their current round, and of those
    already evaluated in it. One query."""
    ids = [gate.pk for gate in gates]
    rounds = [gate.round for gate in gates]
    live: set[int] = set()
    evaluated: set[int] = set()
    with connection.cursor() as cursor:
        cursor.execute(_LIVE_AND_EVALUATED_SQL, [ids, rounds, _LIVE, ids, rounds])
        for gate_id, is_live in cursor.fetchall():
            (live if is_live else evaluated).add(gate_id)
    return live, evaluated


def _attach_calls(projects: Sequence[Project]) -> None:
    """Give each project its call (``project.call``), one instance per distinct call. One
    query."""
    calls = Call.objects.in_bulk(sorted({project.call_id for project in projects}))
    for project in projects:
        _PROJECT_CALL.set_cached_value(project, calls[project.call_id])


def _columns(model: type[Model], table: str) -> str:
    """Every column of ``model``, in order, of the table named ``table`` in a statement."""
    return ", ".join(f"{table}.{field.column}" for field in model._meta.concrete_fields)


# The batch's rows, locked in ``pk`` order as ``select_for_update`` locks them, every column
# of each (``_row_instance``): the gates (``FOR NO KEY UPDATE``, skipping those another
# transaction holds unless a single gate is asked for), each with its stage's project id;
# the projects (``FOR NO KEY UPDATE``); the stages (``FOR UPDATE``), each with its project's
# last stage number (whether its gate is the final one), as a read after the locks would
# give it: a project's stages are all created with it at award and keep their numbers.
# Prepared once per connection: Django's ORM compiled each (and built each instance by
# keyword through its loaders) at ~10 µs a row.
_LOCK_GATES_SQL = f"""
SELECT {_columns(Gate, "g")}, s.project_id
  FROM {Gate._meta.db_table} g JOIN {Stage._meta.db_table} s ON s.id = g.stage_id
 WHERE g.id = ANY(%s::bigint[])
 ORDER BY g.id
   FOR NO KEY UPDATE OF g"""  # noqa: S608 (names from the models, values as parameters)
_LOCK_GATES_SKIPPING_SQL = f"{_LOCK_GATES_SQL} SKIP LOCKED"
_LOCK_PROJECTS_SQL = f"""
SELECT {_columns(Project, "p")}
  FROM {Project._meta.db_table} p
 WHERE p.id = ANY(%s::bigint[])
 ORDER BY p.id
   FOR NO KEY UPDATE OF p"""  # noqa: S608 (names from the models, values as parameters)
_LOCK_STAGES_SQL = f"""
SELECT {_columns(Stage, "s")},
       (SELECT l.number FROM {Stage._meta.db_table} l
         WHERE l.project_id = s.project_id ORDER BY l.number DESC LIMIT 1)
  FROM {Stage._meta.db_table} s
 WHERE s.id = ANY(%s::bigint[])
 ORDER BY s.id
   FOR UPDATE OF s"""  # noqa: S608 (names from the models, values as parameters)

_M = TypeVar("_M", bound=Model)


def _row_instance(model: type[_M], row: Sequence[Any], alias: str) -> _M:
    """The instance a read of ``row`` (every column of ``model``, in order) on the
    connection ``alias`` gives."""
    return model.from_db(alias, _ATTNAMES[model], row)


def _evaluate_batch(
    ids: list[int], *, as_of: date, actor: Actor | None, single: bool
) -> GateBatchResult:
    result = GateBatchResult()
    with transaction.atomic():
        # The connection's name, read once: each read of ``connection`` is a lookup in
        # the thread's connections.
        alias = connection.alias
        # The stage of each gate is read (and locked) below; here only its project's id.
        gates: list[Gate] = []
        project_ids_of: set[int] = set()
        for *row, project_id in fetch_prepared(
            _LOCK_GATES_SQL if single else _LOCK_GATES_SKIPPING_SQL, [ids]
        ):
            gates.append(_row_instance(Gate, row, alias))
            project_ids_of.add(project_id)
        if single and not gates:
            raise NotFound()
        for pk in sorted(set(ids) - {gate.pk for gate in gates}):
            result.skipped[pk] = _conflict(
                _("This gate is being evaluated or decided by someone else."), "locked"
            )
        if not gates:
            return result
        projects = {
            row[0]: _row_instance(Project, row, alias)
            for row in fetch_prepared(_LOCK_PROJECTS_SQL, [sorted(project_ids_of)])
        }
        stages: dict[int, Stage] = {}
        last_number: dict[int, int] = {}
        for *row, last in fetch_prepared(
            _LOCK_STAGES_SQL, [sorted(gate.stage_id for gate in gates)]
        ):
            stage = _row_instance(Stage, row, alias)
            stages[stage.pk] = stage
            last_number[stage.project_id] = last
        live, evaluated = _live_and_evaluated_rounds(gates)
        running: list[tuple[Gate, Stage, Project]] = []
        for gate in gates:
            stage = stages[gate.stage_id]
            project = projects[stage.project_id]
            _GATE_STAGE.set_cached_value(gate, stage)
            refusal = _refusal(gate, stage, project, as_of, live=gate.pk in live)
            if refusal is None and not single and gate.pk in evaluated:
                refusal = _conflict(
                    _("This gate has already been evaluated in this round."), "already_evaluated"
                )
            if refusal is not None:
                if single:
                    raise refusal
                result.skipped[gate.pk] = refusal
                continue
            running.append((gate, stage, project))
        if not running:
            return result
        kpis = _stage_kpis([stage.pk for _g, stage, _p in running])
        windows: dict[int, tuple[datetime, datetime]] = {}
        for gate, stage, project in list(running):
            if not kpis[stage.pk]:
                refusal = _conflict(_("This stage has no KPIs to evaluate."), "no_kpis")
                if single:
                    raise refusal
                result.skipped[gate.pk] = refusal
                running.remove((gate, stage, project))
                continue
            assert stage.started_on is not None
            windows[gate.pk] = (
                rules.stage_window_start(stage.started_on),
                rules.gate_cutoff(gate.due_on),
            )
        if not running:
            return result
        _attach_calls([project for _g, _s, project in running])
        aggregates, excluded, series = _kpi_aggregates_and_series(
            [(stage.pk, *windows[gate.pk]) for gate, stage, _p in running]
        )
        shared = _shared_evidence([k.kpi_id for _g, stage, _p in running for k in kpis[stage.pk]])
        pis, organisations = project_pi_recipients_and_organisations_many(
            [project.pk for _g, _s, project in running]
        )
        urls = project_urls([project for _g, _s, project in running])
        now = timezone.now()
        policies: dict[int, tuple[rules.GatePolicy, dict[str, Any]]] = {}
        snapshots: list[_Snapshot] = []
        outcomes: list[rules.GateResult] = []
        for gate, stage, project in running:
            start, cutoff = windows[gate.pk]
            stage_kpis = kpis[stage.pk]
            if project.call_id not in policies:
                policy = gate_policy_for_call(project.call)
                policies[project.call_id] = (policy, policy.as_dict())
            policy, policy_dict = policies[project.call_id]
            outcome = _rule_result(stage_kpis, aggregates, start, cutoff, policy)
            flags = _gate_flags(stage_kpis, series, shared, cutoff)
            by_id = {k.kpi_id: k for k in stage_kpis}
            inputs_json, results_json = _snapshot_json(
                stage_kpis,
                [_kpi_result(r, by_id[r.kpi_id]) for r in outcome.kpis],
                aggregates,
                excluded,
            )
            outcomes.append(outcome)
            snapshots.append(
                _Snapshot(
                    _new_evaluation(
                        gate,
                        actor,
                        round=gate.round,
                        evaluated_at=now,
                        as_of=as_of,
                        window_start=start,
                        cutoff=cutoff,
                        score=outcome.score,
                        outcome=outcome.outcome,
                        # The project row is locked above: no amendment can land between
                        # reading its KPIs and recording the version they belong to.
                        plan_version=project.plan_version,
                        policy=policy_dict,
                        anomaly_flags=flags,
                    ),
                    inputs_json,
                    results_json,
                )
            )
        _insert_snapshots(snapshots)
        evaluations = [snapshot.evaluation for snapshot in snapshots]
        entries: list[AuditEntry] = []
        notices: list[RecipientsNotice] = []
        events: list[Event] = []
        to_pending: list[int] = []
        flagged: list[tuple[Gate, Stage, Project, GateEvaluation]] = []
        for (gate, stage, project), evaluation, outcome in zip(
            running, evaluations, outcomes, strict=True
        ):
            if stage.state != StageState.GATE_PENDING:
                stage_before = STAGE_WORKFLOW.move(stage, StageState.GATE_PENDING, actor=actor)
                to_pending.append(stage.pk)
                entries.append(
                    AuditEntry(
                        actor=actor,
                        action="stage.gate_pending",
                        obj=stage,
                        before={"state": stage_before},
                        after={"state": stage.state, "gate": gate.pk},
                    )
                )
            gate_before = GATE_WORKFLOW.move(gate, GateState.EVALUATED, actor=actor)
            entries.append(
                AuditEntry(
                    actor=actor,
                    action="gate.evaluated",
                    obj=gate,
                    before={"state": gate_before},
                    after={
                        "state": gate.state,
                        "round": gate.round,
                        "evaluation": evaluation.pk,
                        "score": str(evaluation.score),
                        "outcome": evaluation.outcome,
                        "as_of": as_of.isoformat(),
                        "anomaly_flags": sorted({f["kind"] for f in evaluation.anomaly_flags}),
                    },
                )
            )
            notices.append(
                RecipientsNotice(
                    recipients=pis[project.pk],
                    message="gate.evaluated",
                    params={
                        "number": stage.number,
                        "outcome": evaluation.outcome,
                        "score": str(evaluation.score),
                    },
                    url=urls[project.pk],
                )
            )
            events.append(
                Event(
                    kind="gate.evaluated",
                    obj=gate,
                    organisation_ids=organisations[project.pk],
                    payload=_gate_evaluated_payload(gate, stage, project, evaluation, outcome),
                )
            )
            if evaluation.anomaly_flags:
                flagged.append((gate, stage, project, evaluation))
            result.evaluations[gate.pk] = evaluation
        # Read once for the batch: told of flagged gates here, of gates that wait for them in
        # ``gates_decide_automatically``.
        fund_officers = recipients_of(officers(roles=[Role.FUND_OFFICER])) if flagged else None
        if fund_officers is not None:
            for gate, stage, project, evaluation in flagged:
                notices.append(
                    RecipientsNotice(
                        recipients=fund_officers,
                        message="gate.flagged",
                        params={
                            "project": project.pk,
                            "stage": stage.number,
                            "count": len(evaluation.anomaly_flags),
                        },
                        url=urls[project.pk],
                    )
                )
                events.append(
                    Event(
                        kind="gate.flagged",
                        obj=gate,
                        organisation_ids=organisations[project.pk],
                        payload=_gate_flagged_payload(gate, stage, project, evaluation),
                    )
                )
        _write_evaluated(
            stage_ids=to_pending,
            gate_ids=[gate.pk for gate, _s, _p in running],
            entries=entries,
            notices=notices,
            events=events,
        )
        decided = gates_decide_automatically(
            [
                Evaluated(
                    evaluation=evaluation,
                    gate=gate,
                    project=project,
                    stage=stage,
                    last=stage.number >= last_number[project.pk],
                    organisation_ids=organisations[project.pk],
                    policy=policies[project.call_id][0],
                )
                for (gate, stage, project), evaluation in zip(running, evaluations, strict=True)
            ],
            fund_officers=fund_officers,
        )
        result.decisions = decided
        # ``AutomaticDecisions`` say which tranches they decided: nothing is read back. A
        # decision step that hands back plain decisions by gate id has them read.
        tranches = getattr(decided, "tranches", None)
        if tranches is not None:
            result.tranches = tranches
        elif decided:
            by_decision = {d.pk: gate_id for gate_id, d in decided.items()}
            for tranche_id, decision_id in fetch_prepared(
                _DECIDED_TRANCHES_SQL,
                [list(by_decision), TrancheState.DECIDED.value],
                binary=True,
            ):
                result.tranches.setdefault(by_decision[decision_id], []).append(tranche_id)
    return result


# The tranches decided by decisions that do not name them, in ``pk`` order.
_DECIDED_TRANCHES_SQL = f"""
SELECT id, decision_id FROM {Tranche._meta.db_table}
 WHERE decision_id = ANY(%s::bigint[]) AND state = %s::text
 ORDER BY id
"""  # noqa: S608 (the model's table, values as parameters)


# The stages and gates an evaluation moves (the workflow's triggers check each move as for
# any ``UPDATE``), as parts of the statement that writes the batch's records.
_STAGES_PENDING_SQL = f"UPDATE {Stage._meta.db_table} SET state = %s WHERE id = ANY(%s::bigint[])"  # noqa: S608
_GATES_EVALUATED_SQL = f"UPDATE {Gate._meta.db_table} SET state = %s WHERE id = ANY(%s::bigint[])"  # noqa: S608


def _write_evaluated(
    *,
    stage_ids: list[int],
    gate_ids: list[int],
    entries: list[AuditEntry],
    notices: list[RecipientsNotice],
    events: list[Event],
) -> None:
    """Write what a batch's evaluations change besides their snapshots, in one statement
    (``fundapp.statements``): the stages now pending and the gates now evaluated, the audit
    events, the notifications and the outbox events, each as it would be written alone (the
    same rows; e-mails and webhooks go out after commit)."""
    parts = [
        Part("stages_pending", _STAGES_PENDING_SQL, [StageState.GATE_PENDING.value, stage_ids]),
        Part("gates_evaluated", _GATES_EVALUATED_SQL, [GateState.EVALUATED.value, gate_ids]),
        # Nothing here reads the events' ids and hashes or the notifications' ids back.
        audit_record_many_parts(entries, returning=False).part,
        event_record_many_part("outbox_events", events),
    ]
    notified = notify_people_many_parts(notices, ids=False)
    if notified is not None:
        parts.append(notified.part)
    results = statement_run(parts)
    if notified is not None:
        notified.notified(results)


def _gate_evaluated_payload(
    gate: Gate,
    stage: Stage,
    project: Project,
    evaluation: GateEvaluation,
    outcome: rules.GateResult,
) -> dict[str, Any]:
    """The gate as ``GET /api/v1/gates/{id}/`` shows it (§21), for the outbox (§13.2). Dates,
    times and decimals are given as the outbox stores them (ISO text, ``str``), which spares
    its encoder a call back per value."""
    return {
        "id": gate.pk,
        "stage": stage.pk,
        "stage_number": stage.number,
        "project": project.pk,
        "state": gate.state,
        "round": gate.round,
        "due_on": gate.due_on.isoformat(),
        "latest_evaluation": {
            "id": evaluation.pk,
            "score": str(evaluation.score),
            "outcome": evaluation.outcome,
            "evaluated_at": evaluation.evaluated_at.isoformat(),
            "kpis": [
                {
                    "code": k.code,
                    "value": None if k.value is None else str(k.value),
                    "achievement": str(k.achievement),
                    "met": k.met,
                    "missing": k.missing,
                }
                for k in outcome.kpis
            ],
        },
    }


def _gate_flagged_payload(
    gate: Gate, stage: Stage, project: Project, evaluation: GateEvaluation
) -> dict[str, Any]:
    """The flagged gate for the outbox (§13.2, §22): the gate, the evaluation and its flags
    (the measurements behind them are the project's own, by id); values as stored, like
    ``_gate_evaluated_payload``'s."""
    return {
        "id": gate.pk,
        "stage": stage.pk,
        "stage_number": stage.number,
        "project": project.pk,
        "state": gate.state,
        "round": gate.round,
        "due_on": gate.due_on.isoformat(),
        "evaluation": evaluation.pk,
        "outcome": evaluation.outcome,
        "score": str(evaluation.score),
        "flags": [
            {
                "kind": flag["kind"],
                "kpi": flag["kpi_id"],
                "measurement_ids": flag["measurement_ids"],
                "detail": flag["detail"],
            }
            for flag in evaluation.anomaly_flags
        ],
    }


def tranches_to_release(evaluation: GateEvaluation) -> list[int]:
    """Ids of tranches an evaluation's decision has decided but not yet released."""
    return list(
        Tranche.objects.filter(
            decision__evaluation=evaluation, state=TrancheState.DECIDED
        ).values_list("pk", flat=True)
    )
