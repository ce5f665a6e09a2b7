"""Gate decisions (§8) under the two-person rule (§2), and what they set in motion.

A PASS with ``auto_release_on_pass`` is decided automatically; everything else waits for two
fund officers, one from each side: the first approval is stored as a pending decision, the
second (another person, of the other side, approving the same kind) completes it. The
database backs the rule (check constraints on the two officers and sides; one live decision
per gate round), and the gate's row lock makes two officers approving at the same moment
complete exactly one decision.

Applying a completed decision:

- ``release`` / ``release_reduced``: the stage is passed / conditional, the next stage
  starts the day after the gate day and its tranches are decided with the multiplier
  (released by a worker after commit); after the last stage the project is completed;
- ``extend``: the stage is extended, the gate moves by the months and opens a new round;
- ``terminate``: the stage fails and the project is terminated with clawback.

Lock order: gate → project → stage → tranche → disbursement → ledger accounts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import Role, User
from fundapp.actors import Actor
from fundapp.audit.services import (
    AuditEntry,
    audit_record,
    audit_record_many_parts,
    object_type_of,
)
from fundapp.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundapp.kernel import registry
from fundapp.kernel.approvals import (
    LIVE_STATES,
    decision_complete,
    decision_decline,
    decision_start,
    decision_withdraw,
    decisions_cancel,
    require_decision_action,
)
from fundapp.kernel.decisions import require
from fundapp.notifications.outbox import Event, event_record_many, event_record_many_part
from fundapp.statements import Part, execute_prepared_rows, statement_run
from projects import permissions as perms
from projects.events import project_data
from projects.models import (
    Call,
    DecisionState,
    Gate,
    GateDecision,
    GateDecisionKind,
    GateEvaluation,
    GateOutcome,
    GateState,
    Project,
    ProjectState,
    Stage,
    StageState,
)
from projects.models.projects import GATE_WORKFLOW, PROJECT_WORKFLOW, STAGE_WORKFLOW
from projects.rules.gates import (
    PASS,
    GatePolicy,
    automatic_decision,
    decisions_for,
    extension_allowed,
    release_multiplier,
)
from projects.rules.schedule import add_months, chained_gate_days, gate_day, next_stage_start
from projects.selectors.deliverables import DELIVERABLES_HOLD, deliverables_holding_gates

from .deliverables import StageDates, deliverables_follow_stages
from .notices import (
    RecipientsNotice,
    notify_people,
    notify_people_many_parts,
    officers,
    project_organisation_ids,
    project_url,
    project_urls,
    recipients_of,
)
from .projects import (
    lock_project,
    project_terminate,
    stages_reschedule_after,
)
from .tranches import StageTranches, TranchesDecided, tranches_decide_planned_parts

RELEASING = (GateDecisionKind.RELEASE, GateDecisionKind.RELEASE_REDUCED)
MAX_JUSTIFICATION = 5000


# --------------------------------------------------------------------------- rules


def final_gate_requirements_met(project: Project) -> tuple[bool, str]:
    """What the final gate requires beyond its KPIs before the project may complete (§7).

    Other domains register these with the kernel (``ip_licensing``: the IP registry holds
    the project's results, at least one IP asset registered for the project with its one
    owner). A ``False`` answer carries the reason shown to officers; the final gate is then
    neither decided automatically nor released.
    """
    return registry.final_gate_requirements_met_many([project.pk])[project.pk]


def final_gate_requirements_met_many(project_ids: Sequence[int]) -> dict[int, tuple[bool, str]]:
    """``final_gate_requirements_met`` for many projects, by id, in one query per
    registered requirement."""
    return registry.final_gate_requirements_met_many(project_ids)


def final_gate_requirements_unmet_many(project_ids: Sequence[int]) -> dict[int, str]:
    """For each of the projects that does not meet every final-gate requirement, the name
    of the first one it does not meet (one query per registered requirement)."""
    return registry.final_gate_requirements_unmet_many(project_ids)


def final_gate_requirement_unmet(project: Project) -> str:
    """The name of the first final-gate requirement the project does not meet, or ""."""
    return final_gate_requirements_unmet_many([project.pk]).get(project.pk, "")


def require_deliverables_accepted(stage: Stage) -> None:
    """A gate is not released while a mandatory deliverable of its stage is not accepted
    (§24), as the final gate waits for the results list (§7): ``Conflict``
    ``deliverables_not_accepted`` naming each one (one query)."""
    held = deliverables_holding_gates([stage.pk]).get(stage.pk)
    if held:
        message = _(
            "Stage %(stage)d's mandatory deliverables are not all accepted: %(titles)s. "
            "Accept them before the gate releases money."
        ) % {"stage": stage.number, "titles": ", ".join(f"“{d.title}”" for d in held)}
        raise Conflict(
            message, code="deliverables_not_accepted", errors={"deliverables": [message]}
        )


def policy_from_call(call: Call) -> GatePolicy:
    return GatePolicy(
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


def evaluation_policy(evaluation: GateEvaluation, call: Call) -> GatePolicy:
    """The policy the evaluation used (its snapshot), or the call's if the snapshot lacks it."""
    try:
        return GatePolicy.from_dict(evaluation.policy)
    except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError):
        return policy_from_call(call)


def is_override(outcome: str, kind: str) -> bool:
    """Does deciding ``kind`` on ``outcome`` override the automatic outcome (§8)?

    The kinds §8 gives officers for an outcome are not overrides, except terminating a
    PASS; anything else (releasing on FAIL, a reduced release on PASS, …) is, and needs a
    written justification.
    """
    if outcome == PASS and kind == GateDecisionKind.TERMINATE:
        return True
    return kind not in decisions_for(outcome)


def decision_multiplier(
    kind: str, evaluation: GateEvaluation, policy: GatePolicy
) -> Decimal | None:
    """``m`` of a releasing decision: §8's formula on a PASS, the plan (1) for a release that
    overrides another outcome, ``conditional_rate`` for a reduced release."""
    if kind == GateDecisionKind.RELEASE:
        if evaluation.outcome == GateOutcome.PASS:
            return release_multiplier(evaluation.outcome, Decimal(evaluation.score), policy, kind)
        return Decimal(1)
    if kind == GateDecisionKind.RELEASE_REDUCED:
        return policy.conditional_rate
    return None


def decision_choices(evaluation: GateEvaluation) -> list[tuple[str, bool]]:
    """Every decision kind with whether it would be an override, for forms and the API."""
    return [(kind, is_override(evaluation.outcome, kind)) for kind in GateDecisionKind.values]


# --------------------------------------------------------------------------- helpers


def _lock(gate_id: int) -> tuple[Gate, Project, Stage]:
    gate = Gate.objects.select_for_update(of=("self",), no_key=True).filter(pk=gate_id).first()
    if gate is None:
        raise NotFound(_("No such gate."))
    stage_project = Stage.objects.filter(pk=gate.stage_id).values_list("project_id", flat=True)
    project = lock_project(stage_project.get())
    stage = Stage.objects.select_for_update(of=("self",)).get(pk=gate.stage_id)
    gate.stage = stage
    return gate, project, stage


def _latest_evaluation(gate: Gate) -> GateEvaluation | None:
    return (
        GateEvaluation.objects.filter(gate=gate, round=gate.round)
        .order_by("-evaluated_at", "-id")
        .first()
    )


def _live_decision(gate: Gate) -> GateDecision | None:
    return (
        GateDecision.objects.filter(gate=gate, round=gate.round)
        .filter(state__in=LIVE_STATES)
        .first()
    )


def _is_last(stage: Stage) -> bool:
    return not Stage.objects.filter(project_id=stage.project_id, number__gt=stage.number).exists()


def _mark_evaluated(gate: Gate, stage: Stage, actor: Actor | None) -> None:
    """The stage awaits its gate decision once a snapshot exists (§7)."""
    if stage.state in (StageState.ACTIVE, StageState.EXTENDED):
        before = STAGE_WORKFLOW.move(stage, StageState.GATE_PENDING, actor=actor)
        stage.save(update_fields=["state"])
        audit_record(
            actor=actor,
            action="stage.gate_pending",
            obj=stage,
            before={"state": before},
            after={"state": stage.state, "gate": gate.pk, "round": gate.round},
        )
    if gate.state == GateState.PENDING:
        before = GATE_WORKFLOW.move(gate, GateState.EVALUATED, actor=actor)
        gate.save(update_fields=["state"])
        audit_record(
            actor=actor,
            action="gate.evaluated",
            obj=gate,
            before={"state": before},
            after={"state": gate.state, "round": gate.round},
        )


def _decision_payload(decision: GateDecision) -> dict[str, Any]:
    return {
        "state": decision.state,
        "gate": decision.gate_id,
        "round": decision.round,
        "evaluation": decision.evaluation_id,
        "kind": decision.kind,
        "automatic": decision.automatic,
        "override": decision.override,
        "justification": decision.justification,
        "extension_months": decision.extension_months,
        "multiplier": decision.multiplier,
        "first_officer": decision.first_officer_id,
        "first_side": decision.first_side,
        "second_officer": decision.second_officer_id,
        "second_side": decision.second_side,
    }


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={field: [message]})


# --------------------------------------------------------------------------- applying


def _apply(
    decision: GateDecision, gate: Gate, project: Project, stage: Stage, actor: Actor | None
) -> None:
    """Carry out a completed decision (the gate, project and stage rows are locked)."""
    kind = decision.kind
    if kind in RELEASING:
        require_deliverables_accepted(stage)
        if _is_last(stage):
            met, reason = final_gate_requirements_met(project)
            if not met:
                raise Conflict(reason, code="final_gate_requirements")
        released = _release_many([_Releasing(decision, gate, project, stage)], actor=actor)
        released.write()
    elif kind == GateDecisionKind.EXTEND:
        months = decision.extension_months or 0
        stage_before = STAGE_WORKFLOW.move(stage, StageState.EXTENDED, actor=actor)
        stage.extensions_used += 1
        stage.save(update_fields=["state", "extensions_used"])
        gate_before = GATE_WORKFLOW.move(gate, GateState.PENDING, actor=actor)
        due_before = gate.due_on
        gate.round += 1
        gate.due_on = add_months(gate.due_on, months)
        gate.save(update_fields=["state", "round", "due_on"])
        moved, planned = stages_reschedule_after(stage)
        deliverables_moved = deliverables_follow_stages(
            stages=[
                StageDates(
                    stage_id=stage.pk,
                    started_on=stage.started_on or gate.due_on,
                    gate_day=gate.due_on,
                    extended_by=months,
                ),
                *planned,
            ]
        )
        audit_record(
            actor=actor,
            action="stage.extended",
            obj=stage,
            before={"state": stage_before},
            after={
                "state": stage.state,
                "extensions_used": stage.extensions_used,
                "decision": decision.pk,
            },
        )
        audit_record(
            actor=actor,
            action="gate.extended",
            obj=gate,
            before={"state": gate_before, "due_on": due_before, "round": gate.round - 1},
            after={
                "state": gate.state,
                "due_on": gate.due_on,
                "round": gate.round,
                "later_gates_moved": moved,
                "deliverables_moved": deliverables_moved,
            },
        )
    elif kind == GateDecisionKind.TERMINATE:
        stage_before = STAGE_WORKFLOW.move(stage, StageState.FAILED, actor=actor)
        stage.save(update_fields=["state"])
        gate_before = GATE_WORKFLOW.move(gate, GateState.DECIDED, actor=actor)
        gate.save(update_fields=["state"])
        audit_record(
            actor=actor,
            action="stage.failed",
            obj=stage,
            before={"state": stage_before},
            after={"state": stage.state, "decision": decision.pk},
        )
        audit_record(
            actor=actor,
            action="gate.decided",
            obj=gate,
            before={"state": gate_before},
            after={"state": gate.state, "decision": decision.pk, "kind": kind},
        )
        reason = decision.justification or _(
            "Terminated at the gate of stage %(stage)d (outcome: %(outcome)s)."
        ) % {"stage": stage.number, "outcome": decision.evaluation.outcome}
        assert actor is not None
        project_terminate(project=project, actor=actor, reason=reason, clawback=True)
        project.refresh_from_db()


@dataclass(frozen=True)
class _Releasing:
    """A completed releasing decision with its gate, project and stage (all locked)."""

    decision: GateDecision
    gate: Gate
    project: Project
    stage: Stage


class _OtherStage(NamedTuple):
    """A stage of a releasing project other than its current one, with its gate, as the
    locking read returns it (plain values: only the stage that starts is moved)."""

    pk: int
    project_id: int
    number: int
    state: str
    months: int
    gate_id: int
    gate_state: str
    gate_due_on: date


# What applying decisions changes in the stages, gates and projects, each as parts of the
# statement that writes the batch's records (the workflow's triggers check each move as for
# any ``UPDATE``). The columns are the ones the instances' updates would write. The rows are
# also named by ``id = ANY(…)`` (the ids once more, the last parameter): joined to the
# arrays alone, a batch's few hundred rows were found by a hash join over a sequential scan
# of the whole table (estimated cheaper than as many index probes while the table is small,
# and slower even then: ~1.5 ms against ~0.2 ms at 20,000 stages).
_STAGES_SQL = f"""UPDATE {Stage._meta.db_table} AS t
   SET state = v.state, started_on = v.started_on
  FROM unnest(%s::bigint[], %s::text[], %s::date[]) AS v(id, state, started_on)
 WHERE t.id = v.id AND t.id = ANY(%s::bigint[])"""  # noqa: S608 (table name from the model, values as parameters)
_GATES_SQL = f"""UPDATE {Gate._meta.db_table} AS t
   SET state = v.state, due_on = v.due_on
  FROM unnest(%s::bigint[], %s::text[], %s::date[]) AS v(id, state, due_on)
 WHERE t.id = v.id AND t.id = ANY(%s::bigint[])"""  # noqa: S608 (table name from the model, values as parameters)
_PROJECTS_MOVED_SQL = f"""UPDATE {Project._meta.db_table} AS t
   SET current_stage_id = v.current_stage_id
  FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, current_stage_id)
 WHERE t.id = v.id AND t.id = ANY(%s::bigint[])"""  # noqa: S608 (table name from the model, values as parameters)
_PROJECTS_COMPLETED_SQL = f"""UPDATE {Project._meta.db_table} AS t
   SET state = v.state, ended_at = v.ended_at
  FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS v(id, state, ended_at)
 WHERE t.id = v.id AND t.id = ANY(%s::bigint[])"""  # noqa: S608 (table name from the model, values as parameters)

_STAGE_OBJECT_TYPE = object_type_of(Stage)
_DECISION_OBJECT_TYPE = object_type_of(GateDecision)

# Every stage of some projects with its gate, the stages locked in ``pk`` order (only the
# stages' rows, as ``select_for_update(of=("self",))`` locks them), as ``_OtherStage``.
_PROJECT_STAGES_LOCK_SQL = f"""SELECT s.id, s.project_id, s.number, s.state, s.months,
       g.id, g.state, g.due_on
  FROM {Stage._meta.db_table} s
  LEFT JOIN {Gate._meta.db_table} g ON g.stage_id = s.id
 WHERE s.project_id = ANY(%s::bigint[])
 ORDER BY s.id
   FOR UPDATE OF s"""  # noqa: S608 (table names from the models, values as parameters)

# The automatic decisions of a batch, inserted in one statement prepared once per
# connection: what differs between them (gate, round, evaluation, multiplier) as arrays,
# every other column once, as the model's defaults and ``pre_save`` give it for the first
# of them. Each comes back with its gate, so ids never depend on the order of the rows.
_DECISION_FIELDS = [f for f in GateDecision._meta.concrete_fields if not f.primary_key]
_DECISION_VARYING = {
    "gate_id": "bigint",
    "round": "smallint",
    "evaluation_id": "bigint",
    "multiplier": "numeric(14, 10)",
}
_DECISIONS_INSERT_SQL = f"""INSERT INTO {GateDecision._meta.db_table}
       ({", ".join(connection.ops.quote_name(f.column) for f in _DECISION_FIELDS)})
SELECT {
    ", ".join(
        f"v.{f.attname}" if f.attname in _DECISION_VARYING else f"%s::{f.db_type(connection)}"
        for f in _DECISION_FIELDS
    )
}
  FROM unnest({", ".join(f"%s::{t}[]" for t in _DECISION_VARYING.values())})
       WITH ORDINALITY AS v({", ".join(_DECISION_VARYING)}, ord)
 ORDER BY v.ord
RETURNING id, gate_id"""  # noqa: S608 (names from the model, values as parameters)
_DECISION_ATTNAMES = [f.attname for f in GateDecision._meta.concrete_fields]
_DECISION_GATE = GateDecision._meta.get_field("gate")
_DECISION_EVALUATION = GateDecision._meta.get_field("evaluation")


@dataclass
class _Writes:
    """What applying a batch of decisions writes, gathered so it is written in one
    statement (``write()``): the rows' new values, audit entries, outbox events,
    notifications and the tranches decided."""

    audit: dict[int, list[AuditEntry]] = field(default_factory=lambda: defaultdict(list))
    events: list[Event] = field(default_factory=list)
    notices: list[RecipientsNotice] = field(default_factory=list)
    # (id, state, started_on) of each stage moved, (id, state, due_on) of each gate.
    stages: list[tuple[int, str, date | None]] = field(default_factory=list)
    gates: list[tuple[int, str, date]] = field(default_factory=list)
    # (id, current stage id) of each project moving on, (id, state, ended_at) of each
    # project completed.
    moved_projects: list[tuple[int, int]] = field(default_factory=list)
    completed: list[tuple[int, str, datetime | None]] = field(default_factory=list)
    tranches: TranchesDecided | None = None
    # The ids of the tranches each decision decides, by its gate's id, in ``pk`` order (a
    # gate whose next stage has no planned tranche is not named).
    tranches_by_gate: dict[int, list[int]] = field(default_factory=dict)

    def write(self) -> None:
        """Write it all in one statement (``fundapp.statements``): the same rows as one
        statement per table would, audit events in the order gathered (the tranches'
        last), outbox events in order; e-mails, webhooks and the tranches' releases go out
        after commit."""
        parts: list[Part] = []
        for name, sql, rows in (
            ("stages_moved", _STAGES_SQL, self.stages),
            ("gates_moved", _GATES_SQL, self.gates),
            ("projects_moved", _PROJECTS_MOVED_SQL, self.moved_projects),
            ("projects_completed", _PROJECTS_COMPLETED_SQL, self.completed),
        ):
            if rows:
                columns = [list(column) for column in zip(*rows, strict=True)]
                parts.append(Part(name, sql, [*columns, columns[0]]))
        entries = [entry for entries in self.audit.values() for entry in entries]
        if self.tranches is not None and self.tranches.part is not None:
            parts.append(self.tranches.part)
            entries.extend(self.tranches.entries)
        # Nothing here reads the events' ids and hashes or the notifications' ids back.
        if entries:
            parts.append(audit_record_many_parts(entries, returning=False).part)
        if self.events:
            parts.append(event_record_many_part("outbox_events", self.events))
        notified = notify_people_many_parts(self.notices, ids=False) if self.notices else None
        if notified is not None:
            parts.append(notified.part)
        if not parts:
            return
        results = statement_run(parts)
        if notified is not None:
            notified.notified(results)
        if self.tranches is not None:
            self.tranches.enqueue()


def _gate_event_data(gate: Gate, stage: Stage, project: Project) -> dict[str, Any]:
    return {
        "id": gate.pk,
        "stage": stage.pk,
        "stage_number": stage.number,
        "project": project.pk,
        "state": gate.state,
        "round": gate.round,
        "due_on": gate.due_on,
    }


def _release_many(
    items: Sequence[_Releasing],
    *,
    actor: Actor | None,
    organisations: dict[int, list[int]] | None = None,
) -> _Writes:
    """Apply completed ``release`` / ``release_reduced`` decisions (§8), in bulk.

    The gates, projects and current stages are locked by the caller, who has checked the
    final gate's requirements. Each stage becomes passed / conditional and its gate
    decided; after the last stage the project is completed, otherwise the next stage
    starts the day after the gate day (the later planned gates re-chained) and its planned
    tranches are decided with the decision's multiplier. The other stages of the projects
    are locked in ``pk`` order (one query, plain values), then the started stages'
    deliverables (re-dated, §24) and planned tranches; ``organisations`` are the projects'
    organisations by project id when the caller has read them. The instances given are
    moved; the rows, audit entries, events and tranche decisions are returned for
    ``write()``.
    """
    writes = _Writes()
    if not items:
        return writes
    now = timezone.now()
    current = {item.stage.pk for item in items}
    by_project: dict[int, list[_OtherStage]] = defaultdict(list)
    for row in execute_prepared_rows(
        _PROJECT_STAGES_LOCK_SQL, [sorted({item.project.pk for item in items})]
    ):
        other = _OtherStage._make(row)
        if other.pk not in current:
            by_project[other.project_id].append(other)
    if organisations is None:
        organisations = project_organisation_ids([item.project.pk for item in items])
    following_of: list[StageTranches] = []
    gate_of_following: dict[int, int] = {}
    # Where each started or re-chained stage now lies, for its deliverables (§24), and the
    # audit entry of each start, told which deliverables moved.
    stage_dates: list[StageDates] = []
    started_audit: dict[int, tuple[list[int], dict[str, Any]]] = {}
    for item in items:
        decision, gate, project, stage = item.decision, item.gate, item.project, item.stage
        entries = writes.audit[gate.pk]
        later = sorted(
            (s for s in by_project[project.pk] if s.number > stage.number), key=lambda s: s.number
        )
        target = (
            StageState.PASSED
            if decision.kind == GateDecisionKind.RELEASE
            else StageState.CONDITIONAL
        )
        # The items are completed decisions: two officers agreed, or the fund decided.
        stage_before = STAGE_WORKFLOW.move(stage, target, actor=actor, agreed=True)
        gate_before = GATE_WORKFLOW.move(gate, GateState.DECIDED, actor=actor)
        writes.stages.append((stage.pk, stage.state, stage.started_on))
        writes.gates.append((gate.pk, gate.state, gate.due_on))
        entries.append(
            AuditEntry(
                actor=actor,
                action=f"stage.{target}",
                obj=stage,
                before={"state": stage_before},
                after={"state": stage.state, "decision": decision.pk},
            )
        )
        entries.append(
            AuditEntry(
                actor=actor,
                action="gate.decided",
                obj=gate,
                before={"state": gate_before},
                after={"state": gate.state, "decision": decision.pk, "kind": decision.kind},
            )
        )
        writes.events.append(
            Event(
                kind="gate.decided",
                obj=gate,
                organisation_ids=organisations.get(project.pk, []),
                payload={
                    **_gate_event_data(gate, stage, project),
                    "decision": {
                        "id": decision.pk,
                        "kind": decision.kind,
                        "automatic": decision.automatic,
                        "multiplier": decision.multiplier,
                        "evaluation": decision.evaluation_id,
                    },
                },
            )
        )
        if not later:
            before = PROJECT_WORKFLOW.move(project, ProjectState.COMPLETED, actor=actor)
            project.ended_at = now
            writes.completed.append((project.pk, project.state, project.ended_at))
            entries.append(
                AuditEntry(
                    actor=actor,
                    action="project.completed",
                    obj=project,
                    before={"state": before},
                    after={"state": project.state, "decision": decision.pk},
                )
            )
            writes.events.append(
                Event(
                    kind="project.state_changed",
                    obj=project,
                    organisation_ids=organisations.get(project.pk, []),
                    payload=project_data(project, previous_state=before),
                )
            )
            continue
        following = later[0]
        started_on = next_stage_start(gate.due_on)
        STAGE_WORKFLOW.check(following.state, StageState.ACTIVE, actor=actor)
        writes.stages.append((following.pk, str(StageState.ACTIVE), started_on))
        following_due = gate_day(started_on, following.months)
        writes.gates.append((following.gate_id, following.gate_state, following_due))
        moved = []
        days = chained_gate_days(next_stage_start(following_due), [s.months for s in later[1:]])
        stage_dates.append(
            StageDates(stage_id=following.pk, started_on=started_on, gate_day=following_due)
        )
        project_stage_ids = {following.pk, *(s.pk for s in later)}
        for planned, (start, due) in zip(later[1:], days, strict=True):
            if planned.state != StageState.PLANNED:
                break
            stage_dates.append(StageDates(stage_id=planned.pk, started_on=start, gate_day=due))
            if planned.gate_due_on != due:
                moved.append({"stage": planned.number, "from": planned.gate_due_on, "to": due})
                writes.gates.append((planned.gate_id, planned.gate_state, due))
        after = {
            "state": str(StageState.ACTIVE),
            "started_on": started_on,
            "gate_due_on": following_due,
            "later_gates_moved": moved,
        }
        started_audit[following.pk] = (
            [d.stage_id for d in stage_dates if d.stage_id in project_stage_ids],
            after,
        )
        entries.append(
            AuditEntry(
                actor=actor,
                action="stage.started",
                object_type=_STAGE_OBJECT_TYPE,
                object_id=following.pk,
                before={"state": following.state},
                after=after,
            )
        )
        project.current_stage_id = following.pk
        writes.moved_projects.append((project.pk, following.pk))
        assert decision.multiplier is not None
        following_of.append(
            StageTranches(stage_id=following.pk, multiplier=decision.multiplier, decision=decision)
        )
        gate_of_following[following.pk] = gate.pk
    deliverables_moved = deliverables_follow_stages(stages=stage_dates)
    for stage_ids, after in started_audit.values():
        after["deliverables_moved"] = [m for m in deliverables_moved if m["stage"] in stage_ids]
    writes.tranches = tranches_decide_planned_parts(following_of, actor=actor)
    writes.tranches_by_gate = {
        gate_of_following[stage_id]: ids for stage_id, ids in writes.tranches.by_stage.items()
    }
    return writes


@dataclass(frozen=True)
class Evaluated:
    """A snapshot just stored by the batch evaluation, with its locked rows (§8)."""

    evaluation: GateEvaluation
    gate: Gate
    project: Project
    stage: Stage
    last: bool
    # The project's organisations (``project_organisation_ids``), when the caller has read
    # them; read here otherwise.
    organisation_ids: list[int] | None = None
    # The policy the snapshot records (``evaluation.policy`` as the rule's value), when the
    # caller has it; read from the snapshot otherwise (``evaluation_policy``).
    policy: GatePolicy | None = None


class AutomaticDecisions(dict[int, GateDecision]):
    """The automatic decisions of a batch by gate id, with ``tranches``: the ids of the
    tranches each decided, by gate id, in ``pk`` order (a gate whose decision decided none
    is not named)."""

    def __init__(
        self,
        decisions: dict[int, GateDecision] | None = None,
        tranches: dict[int, list[int]] | None = None,
    ) -> None:
        super().__init__(decisions or {})
        self.tranches: dict[int, list[int]] = tranches or {}


def _organisations_of(items: Sequence[Evaluated]) -> dict[int, list[int]]:
    """The items' projects' organisations by project id: as the caller read them, or in
    one query if any item came without them."""
    given: dict[int, list[int]] = {}
    for item in items:
        if item.organisation_ids is None:
            return project_organisation_ids([item.project.pk for item in items])
        given[item.project.pk] = item.organisation_ids
    return given


def gates_decide_automatically(
    items: Sequence[Evaluated],
    *,
    fund_officers: Sequence[tuple[int, str, bool, str]] | None = None,
) -> AutomaticDecisions:
    """``gate_decide_automatically`` for a batch of snapshots just stored, in bulk.

    The caller (``gates_evaluate``) holds the gates, projects and stages locked, has
    checked that no live decision exists for the rounds and that each snapshot is its
    round's latest, and has moved the stages and gates to gate_pending / evaluated. Each
    PASS with ``auto_release_on_pass`` of an active project (and, on the final gate, with
    its results registered) and without anomaly flags (§22) gets a completed automatic
    ``release`` decision, applied as ``_release_many`` does; the others tell the fund
    officers a decision is needed (``fund_officers``: the active fund officers as
    ``RecipientsNotice`` takes them, in ``pk`` order, when the caller has read them; read
    here otherwise; each item's ``organisation_ids`` and ``policy`` likewise). The
    decisions are inserted in one statement; the rows they change, audit events, outbox
    events, notifications and tranche decisions in one more, for the whole batch (besides
    the fixed few locking reads). Returns the decisions by gate id with the tranches each
    decided (``AutomaticDecisions``), so nothing is read back.
    """
    if not items:
        return AutomaticDecisions()
    # By the requirement's name: a notification stores it and explains it when read.
    final = final_gate_requirements_unmet_many(
        [item.project.pk for item in items if item.last and item.evaluation.outcome == PASS]
    )
    # §24: a mandatory deliverable not accepted holds the gate for the officers, too.
    held = deliverables_holding_gates(
        [item.stage.pk for item in items if item.evaluation.outcome == PASS]
    )
    organisations = _organisations_of(items)
    automatic: list[tuple[Evaluated, Decimal | None]] = []
    waiting: list[tuple[Evaluated, str]] = []
    for item in items:
        policy = item.policy
        if policy is None:
            policy = evaluation_policy(item.evaluation, item.project.call)
        kind = automatic_decision(item.evaluation.outcome, policy)
        unmet = final.get(item.project.pk, "") if item.last else ""
        if item.stage.pk in held:
            unmet = DELIVERABLES_HOLD
        # A flagged gate (§22) goes to the officers' two-person decision, even on PASS.
        if (
            kind is None
            or item.project.state != ProjectState.ACTIVE
            or unmet
            or item.evaluation.anomaly_flags
        ):
            waiting.append((item, unmet))
            continue
        automatic.append(
            (item, decision_multiplier(GateDecisionKind.RELEASE, item.evaluation, policy))
        )
    decided = _automatic_decisions_insert(automatic)
    writes = _release_many(
        [_Releasing(d, item.gate, item.project, item.stage) for (item, _m), d in decided],
        actor=None,
        organisations=organisations,
    )
    for (item, _multiplier), decision in decided:
        writes.audit[item.gate.pk].insert(
            0,
            AuditEntry(
                actor=None,
                action="gate_decision.automatic",
                object_type=_DECISION_OBJECT_TYPE,
                object_id=decision.pk,
                after=_decision_payload(decision),
            ),
        )
    if waiting:
        recipients = (
            recipients_of(officers(roles=[Role.FUND_OFFICER]))
            if fund_officers is None
            else fund_officers
        )
        urls = project_urls([item.project for item, _reason in waiting])
        writes.notices.extend(
            RecipientsNotice(
                recipients=recipients,
                message="gate.decision_needed",
                params={
                    "project": item.project.pk,
                    "stage": item.stage.number,
                    "outcome": item.evaluation.outcome,
                    "reason": reason,
                },
                url=urls[item.project.pk],
            )
            for item, reason in waiting
        )
        writes.events.extend(
            Event(
                kind="gate.decision_needed",
                obj=item.gate,
                organisation_ids=organisations.get(item.project.pk, []),
                payload={
                    **_gate_event_data(item.gate, item.stage, item.project),
                    "evaluation": item.evaluation.pk,
                    "outcome": item.evaluation.outcome,
                    "score": item.evaluation.score,
                },
            )
            for item, reason in waiting
        )
    writes.write()
    return AutomaticDecisions(
        {item.gate.pk: decision for (item, _m), decision in decided}, writes.tranches_by_gate
    )


def _automatic_decisions_insert(
    automatic: Sequence[tuple[Evaluated, Decimal | None]],
) -> list[tuple[tuple[Evaluated, Decimal | None], GateDecision]]:
    """Store a completed automatic ``release`` decision for each item, with its multiplier,
    in one statement (none for no item); return each item with its decision, saved.

    The rows are the ones ``bulk_create`` of the model's instances would write (every
    column but the four that differ comes from one instance's defaults and ``pre_save``);
    the instances returned are built as a read of those rows builds them, their gate and
    evaluation the items' own.
    """
    if not automatic:
        return []
    now = timezone.now()
    template = GateDecision(
        state=DecisionState.COMPLETED,
        kind=GateDecisionKind.RELEASE,
        automatic=True,
        first_at=now,
        completed_at=now,
    )
    constants = [
        f.get_db_prep_save(f.pre_save(template, True), connection)
        for f in _DECISION_FIELDS
        if f.attname not in _DECISION_VARYING
    ]
    # A choice is bound as its text, as the column stores it.
    constants = [value.value if isinstance(value, Enum) else value for value in constants]
    ids = {
        gate_id: pk
        for pk, gate_id in execute_prepared_rows(
            _DECISIONS_INSERT_SQL,
            [
                *constants,
                [item.gate.pk for item, _m in automatic],
                [item.gate.round for item, _m in automatic],
                [item.evaluation.pk for item, _m in automatic],
                [multiplier for _item, multiplier in automatic],
            ],
        )
    }
    values = [getattr(template, attname) for attname in _DECISION_ATTNAMES]
    slots = {attname: i for i, attname in enumerate(_DECISION_ATTNAMES)}
    decided = []
    for entry in automatic:
        item, multiplier = entry
        values[slots["id"]] = ids[item.gate.pk]
        values[slots["gate_id"]] = item.gate.pk
        values[slots["round"]] = item.gate.round
        values[slots["evaluation_id"]] = item.evaluation.pk
        values[slots["multiplier"]] = multiplier
        decision = GateDecision.from_db(connection.alias, _DECISION_ATTNAMES, values)
        _DECISION_GATE.set_cached_value(decision, item.gate)
        _DECISION_EVALUATION.set_cached_value(decision, item.evaluation)
        decided.append((entry, decision))
    return decided


# --------------------------------------------------------------------------- services


def gate_decide_automatically(*, evaluation: GateEvaluation) -> GateDecision | None:
    """Decide a gate automatically when §8 allows it; otherwise leave it to officers.

    Called by ``gate_evaluate`` after it stores the snapshot. Locks the gate, project and
    stage; the stage becomes ``gate_pending`` and the gate ``evaluated``. When the snapshot
    is the gate round's latest, its outcome is PASS, the policy has
    ``auto_release_on_pass``, the project is active, no live decision exists for the round,
    the snapshot carries no anomaly flag (§22) and (on the final gate)
    ``final_gate_requirements_met`` holds, a completed automatic
    ``release`` decision is stored with ``m`` from ``release_multiplier`` and applied.
    Otherwise returns ``None`` and tells the fund officers a decision is needed.
    Idempotent: a second call for the same round finds the live decision and returns None.
    """
    with transaction.atomic():
        gate, project, stage = _lock(evaluation.gate_id)
        evaluation = GateEvaluation.objects.get(pk=evaluation.pk)
        if gate.state == GateState.DECIDED or evaluation.round != gate.round:
            return None
        if project.state not in (ProjectState.ACTIVE, ProjectState.SUSPENDED):
            return None
        _mark_evaluated(gate, stage, actor=None)
        latest = _latest_evaluation(gate)
        if latest is None or latest.pk != evaluation.pk or _live_decision(gate) is not None:
            return None
        policy = evaluation_policy(evaluation, project.call)
        automatic = automatic_decision(evaluation.outcome, policy)
        final_ok = (True, "")
        hold = ""
        if automatic is not None and deliverables_holding_gates([stage.pk]):
            final_ok, hold = (False, ""), DELIVERABLES_HOLD
        elif automatic is not None and _is_last(stage):
            final_ok = final_gate_requirements_met(project)
        if (
            automatic is None
            or project.state != ProjectState.ACTIVE
            or not final_ok[0]
            or evaluation.anomaly_flags
        ):
            notify_people(
                users=officers(roles=[Role.FUND_OFFICER]),
                message="gate.decision_needed",
                params={
                    "project": project.pk,
                    "stage": stage.number,
                    "outcome": evaluation.outcome,
                    # The final-gate requirement that holds it, by name (read when shown).
                    "reason": hold
                    or (final_gate_requirement_unmet(project) if not final_ok[0] else ""),
                },
                url=project_url(project),
            )
            event_record_many(
                [
                    Event(
                        kind="gate.decision_needed",
                        obj=gate,
                        organisation_ids=project_organisation_ids([project.pk])[project.pk],
                        payload={
                            **_gate_event_data(gate, stage, project),
                            "evaluation": evaluation.pk,
                            "outcome": evaluation.outcome,
                            "score": evaluation.score,
                        },
                    )
                ]
            )
            return None
        now = timezone.now()
        decision = GateDecision.objects.create(
            state=DecisionState.COMPLETED,
            gate=gate,
            round=gate.round,
            evaluation=evaluation,
            kind=GateDecisionKind.RELEASE,
            automatic=True,
            multiplier=decision_multiplier(GateDecisionKind.RELEASE, evaluation, policy),
            first_at=now,
            completed_at=now,
        )
        audit_record(
            actor=None,
            action="gate_decision.automatic",
            obj=decision,
            after=_decision_payload(decision),
        )
        _apply(decision, gate, project, stage, actor=None)
    return decision


def _validated_request(
    *,
    kind: str,
    justification: str,
    extension_months: int | None,
    evaluation: GateEvaluation,
    stage: Stage,
    policy: GatePolicy,
) -> tuple[str, int | None, bool]:
    """Check a requested decision against §8; return (justification, months, override)."""
    if kind not in GateDecisionKind.values:
        raise _refuse("kind", _("Choose release, release_reduced, extend or terminate."))
    text = justification.strip() if isinstance(justification, str) else ""
    if len(text) > MAX_JUSTIFICATION:
        raise _refuse("justification", _("The justification is longer than 5,000 characters."))
    override = is_override(evaluation.outcome, kind)
    if override and not text:
        raise _refuse(
            "justification",
            _(
                "Deciding “%(kind)s” on a %(outcome)s outcome overrides the evaluation; "
                "write the justification."
            )
            % {
                "kind": GateDecisionKind(kind).label,
                "outcome": GateOutcome(evaluation.outcome).label,
            },
        )
    months: int | None = None
    if kind == GateDecisionKind.EXTEND:
        if isinstance(extension_months, bool) or not isinstance(extension_months, int):
            raise _refuse("extension_months", _("Give the extension in whole months."))
        allowed, reason = extension_allowed(stage.extensions_used, extension_months, policy)
        if not allowed:
            raise _refuse("extension_months", reason)
        months = extension_months
    return text, months, override


def _approve_first(
    *,
    gate: Gate,
    project: Project,
    stage: Stage,
    evaluation: GateEvaluation,
    policy: GatePolicy,
    actor: User,
    kind: str,
    justification: str,
    extension_months: int | None,
) -> GateDecision:
    """Store the first approval as a pending decision and ask the other side for the second."""
    text, months, override = _validated_request(
        kind=kind,
        justification=justification,
        extension_months=extension_months,
        evaluation=evaluation,
        stage=stage,
        policy=policy,
    )
    decision = decision_start(
        GateDecision(
            gate=gate,
            round=gate.round,
            evaluation=evaluation,
            kind=kind,
            override=override,
            justification=text,
            extension_months=months,
            multiplier=decision_multiplier(kind, evaluation, policy),
        ),
        actor=actor,
        audit={
            "gate": gate.pk,
            "round": gate.round,
            "evaluation": evaluation.pk,
            "kind": kind,
            "override": override,
            "justification": text,
            "extension_months": months,
            "multiplier": decision_multiplier(kind, evaluation, policy),
        },
    )
    other = "KR" if actor.side == "JP" else "JP"
    notify_people(
        users=officers(roles=[Role.FUND_OFFICER], side=other),
        message="gate_decision.awaits_approval",
        params={"kind": kind, "project": project.pk, "stage": stage.number},
        url=project_url(project),
    )
    return decision


def gate_decision_approve(
    *,
    gate: Gate,
    actor: Actor,
    kind: str,
    justification: str = "",
    extension_months: int | None = None,
) -> GateDecision:
    """Approve a gate decision under the two-person rule (§2, §8).

    The first approval by a fund officer (with a side) is stored as a pending decision;
    the second, by another officer of the other side approving the same kind (and, for an
    extension, the same months), completes and applies it. Refused with a clear message:
    non-officers, the same person twice, the same side twice, a different kind, a kind §8
    does not allow for the outcome without a written justification (an override, stored
    with ``override=True``), an extension beyond the call's limits, a gate without an
    evaluation or already decided. If the gate was evaluated again after the first
    approval, that approval is cancelled and this one becomes the new first approval.

    The gate row is locked first, so two officers approving at the same moment complete
    exactly one decision; the database's constraints refuse the rest. Audited.
    """
    allowed, reason = perms.can_decide_gate(actor)
    if not allowed:
        raise PermissionDenied(reason)
    assert isinstance(actor, User)
    with transaction.atomic():
        gate, project, stage = _lock(gate.pk)
        if gate.state == GateState.DECIDED:
            raise Conflict(_("This gate has already been decided."), code="already_decided")
        if project.state not in (ProjectState.ACTIVE, ProjectState.SUSPENDED):
            raise Conflict(
                _("The project is %(state)s; its gates are no longer decided.")
                % {"state": ProjectState(project.state).label},
                code="invalid_state",
            )
        evaluation = _latest_evaluation(gate)
        if evaluation is None:
            raise Conflict(
                _("Evaluate the gate first; a decision is taken on an evaluation."),
                code="not_evaluated",
            )
        _mark_evaluated(gate, stage, actor=actor)
        policy = evaluation_policy(evaluation, project.call)
        if kind not in GateDecisionKind.values:
            raise _refuse("kind", _("Choose release, release_reduced, extend or terminate."))
        if kind in RELEASING:
            require_deliverables_accepted(stage)
        if kind in RELEASING and _is_last(stage):
            met, why = final_gate_requirements_met(project)
            if not met:
                raise Conflict(why, code="final_gate_requirements")
        live = _live_decision(gate)
        if live is not None and live.state == DecisionState.COMPLETED:
            raise Conflict(_("This gate has already been decided."), code="already_decided")
        if live is not None and live.evaluation_id != evaluation.pk:
            # Re-evaluated after the first approval: that approval decided on an old snapshot.
            decisions_cancel(
                GateDecision.objects.filter(pk=live.pk),
                actor=actor,
                reason="re-evaluated",
                evaluation=evaluation.pk,
            )
            live = None
        if live is None:
            return _approve_first(
                gate=gate,
                project=project,
                stage=stage,
                evaluation=evaluation,
                policy=policy,
                actor=actor,
                kind=kind,
                justification=justification,
                extension_months=extension_months,
            )
        require_decision_action(actor, live, "approve")
        if kind != live.kind:
            raise Conflict(
                _(
                    "The pending approval is for “%(pending)s”; the second approval must be for "
                    "the same decision."
                )
                % {"pending": GateDecisionKind(live.kind).label},
                code="decision_mismatch",
                errors={"kind": [_("Approve the pending decision’s kind.")]},
            )
        if (
            kind == GateDecisionKind.EXTEND
            and extension_months is not None
            and extension_months != live.extension_months
        ):
            raise Conflict(
                _("The pending approval extends the stage by %(months)d months.")
                % {"months": live.extension_months or 0},
                code="decision_mismatch",
                errors={"extension_months": [_("Approve the same number of months.")]},
            )
        text = justification.strip() if isinstance(justification, str) else ""

        def apply(completed: GateDecision) -> None:
            completed.evaluation = evaluation
            _apply(completed, gate, project, stage, actor=actor)

        return decision_complete(
            live,
            actor=actor,
            on_complete=apply,
            audit={
                **_decision_payload(live),
                "state": DecisionState.COMPLETED,
                "second_officer": actor.pk,
                "second_side": actor.side,
                "second_note": text,
            },
        )


def gate_decision_withdraw(*, decision: GateDecision, actor: Actor) -> GateDecision:
    """The officer who approved first withdraws a pending gate decision (or override); a
    new one can be started on the gate. Locks the gate, project and stage, then the
    decision; audited ``gate_decision.withdrawn`` (``decision_withdraw``)."""
    require(perms.can_decide_gate(actor))
    return decision_withdraw(
        decision=decision, actor=actor, lock_subject=lambda: _lock(decision.gate_id)
    )


def gate_decision_decline(*, decision: GateDecision, actor: Actor, reason: Any) -> GateDecision:
    """A fund officer of the other side declines a pending gate decision (or override) with
    a reason; the gate stays evaluated and a new decision can be started. Locks the gate,
    project and stage, then the decision; audited ``gate_decision.declined``."""
    require(perms.can_decide_gate(actor))
    return decision_decline(
        decision=decision,
        actor=actor,
        reason=reason,
        lock_subject=lambda: _lock(decision.gate_id),
    )
