"""Gate evaluation (§8): turn a stage's KPIs and measurements into an immutable snapshot.

The rule itself lives in ``projects.rules.gates`` (pure); this module loads its inputs in
a constant number of queries, stores what it returns, moves the stage and the gate, and
hands the snapshot to the automatic decision (``projects.services.decisions``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from fundapp.accounts.models import ApiKey, Scope, User
from fundapp.actors import Actor, is_fund_officer
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, NotFound, PermissionDenied
from projects.models import (
    KPI,
    Call,
    DecisionState,
    Gate,
    GateDecision,
    GateEvaluation,
    GateOutcome,
    GateState,
    Measurement,
    Project,
    ProjectOrganisation,
    ProjectState,
    Stage,
    StageState,
    Tranche,
    TrancheState,
)
from projects.models.projects import STAGE_TRANSITIONS
from projects.rules import gates as rules
from projects.selectors.projects import projects_visible_to
from projects.services.decisions import gate_decide_automatically
from projects.services.notices import notify_people, project_pis, project_url

Decision = tuple[bool, str]

# The stage states in which its gate can be evaluated; gate_pending is a re-evaluation.
EVALUABLE_STAGE_STATES = (StageState.ACTIVE, StageState.EXTENDED, StageState.GATE_PENDING)


def today_in_tokyo() -> date:
    """The gate calendar's today: gate days are Asia/Tokyo days (§8)."""
    return timezone.now().astimezone(rules.GATE_TIMEZONE).date()


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


def can_evaluate_gate(actor: Actor | None, project: Project) -> Decision:
    """Officers, and partner systems of the project's organisations with ``gates:write``."""
    if is_fund_officer(actor):
        return True, ""
    if isinstance(actor, ApiKey):
        if not actor.has_scope(Scope.GATES_WRITE):
            return False, _("This API key lacks the gates:write scope.")
        if ProjectOrganisation.objects.filter(
            project=project, organisation_id=actor.organisation_id
        ).exists():
            return True, ""
    return False, _("Only fund officers may evaluate a gate.")


def _conflict(message: str, code: str) -> Conflict:
    return Conflict(message, code=code)


def _check_evaluable(gate: Gate, stage: Stage, project: Project, as_of: date) -> None:
    if gate.state == GateState.DECIDED:
        raise _conflict(_("This gate has already been decided."), "already_decided")
    if (
        GateDecision.objects.filter(gate=gate, round=gate.round)
        .exclude(state=DecisionState.CANCELLED)
        .exists()
    ):
        raise _conflict(
            _(
                "A decision on this gate is awaiting its second approval; cancel it before "
                "evaluating again."
            ),
            "decision_pending",
        )
    if project.state != ProjectState.ACTIVE:
        raise _conflict(
            _("The project is “%(state)s”; its gates are not evaluated.")
            % {"state": ProjectState(project.state).label},
            "project_not_active",
        )
    if stage.state not in EVALUABLE_STAGE_STATES or stage.started_on is None:
        raise _conflict(
            _("Stage %(number)d is “%(state)s”; its gate cannot be evaluated.")
            % {"number": stage.number, "state": StageState(stage.state).label},
            "stage_not_running",
        )
    if gate.due_on > as_of:
        raise _conflict(
            _("This gate is due on %(day)s; it cannot be evaluated before then.")
            % {"day": gate.due_on.isoformat()},
            "not_due",
        )


def _kpi_spec(kpi: KPI) -> rules.KpiSpec:
    return rules.KpiSpec(
        kpi_id=kpi.pk,
        code=kpi.code,
        direction=kpi.direction,
        baseline=kpi.baseline,
        target=kpi.target,
        weight=kpi.weight,
        mandatory=kpi.mandatory,
        aggregation=kpi.aggregation,
    )


def _kpi_input(kpi: KPI) -> dict[str, Any]:
    return {
        "id": kpi.pk,
        "code": kpi.code,
        "direction": kpi.direction,
        "baseline": str(kpi.baseline),
        "target": str(kpi.target),
        "weight": str(kpi.weight),
        "mandatory": kpi.mandatory,
        "aggregation": kpi.aggregation,
    }


def _kpi_result(result: rules.KpiResult, kpi: KPI) -> dict[str, Any]:
    return {
        "kpi_id": result.kpi_id,
        "code": result.code,
        "value": None if result.value is None else str(result.value),
        "achievement": str(result.achievement),
        "met": result.met,
        "missing": result.missing,
        "weight": str(kpi.weight),
        "mandatory": kpi.mandatory,
        "measurement_ids": list(result.measurement_ids),
    }


def gate_evaluate(
    *, gate: Gate, actor: Actor | None = None, as_of: date | None = None
) -> GateEvaluation:
    """Evaluate a due gate now and store the snapshot (§8); then let it be decided automatically.

    ``actor`` is ``None`` for the scheduler. ``as_of`` (default: today in Asia/Tokyo) only
    decides whether the gate is due (``due_on ≤ as_of``); the window is always
    ``[stage_window_start(stage.started_on), gate_cutoff(gate.due_on)]``.

    Guarantees: in one transaction, the gate, its project and its stage are locked (in that order); a decided gate,
    a gate with a live decision for its round, a project that is not active, a stage not
    running and a gate not yet due are refused (``Conflict``) with nothing written. All the
    stage's KPIs' measurements are read in one query (the query count does not grow with
    the number of measurements or KPIs). The snapshot is immutable (the database refuses
    UPDATE and DELETE); re-evaluating before a decision adds a new one, and the latest is
    decided. The stage becomes ``gate_pending`` and the gate ``evaluated``, both audited;
    ``gate_decide_automatically`` runs inside the same transaction, under the gate lock, so
    a concurrent evaluation cannot slip a newer snapshot under the decision.
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
    with transaction.atomic():
        # Gate, project, stage: the order the decision services lock them in too.
        locked = Gate.objects.select_for_update(of=("self",), no_key=True).get(pk=gate.pk)
        project = (
            Project.objects.select_for_update(of=("self",), no_key=True)
            .select_related("call")
            .get(stages__pk=locked.stage_id)
        )
        stage = Stage.objects.select_for_update(of=("self",)).get(pk=locked.stage_id)
        _check_evaluable(locked, stage, project, as_of)
        assert stage.started_on is not None
        kpis = list(KPI.objects.filter(stage=stage).order_by("id"))
        if not kpis:
            raise _conflict(_("This stage has no KPIs to evaluate."), "no_kpis")
        start = rules.stage_window_start(stage.started_on)
        cutoff = rules.gate_cutoff(locked.due_on)
        rows = list(
            Measurement.objects.filter(
                kpi_id__in=[k.pk for k in kpis],
                rejected_at__isnull=True,
                measured_at__gte=start,
                measured_at__lte=cutoff,
            )
            .order_by("measured_at", "id")
            .values_list("id", "kpi_id", "value", "measured_at")
        )
        points = [
            rules.MeasurementPoint(measurement_id=m_id, kpi_id=k_id, value=value, measured_at=at)
            for m_id, k_id, value, at in rows
        ]
        policy = gate_policy_for_call(project.call)
        result = rules.evaluate_gate(
            [_kpi_spec(k) for k in kpis], points, start=start, cutoff=cutoff, policy=policy
        )
        by_id = {k.pk: k for k in kpis}
        evaluation = GateEvaluation.objects.create(
            gate=locked,
            round=locked.round,
            evaluated_at=timezone.now(),
            as_of=as_of,
            window_start=start,
            cutoff=cutoff,
            score=result.score,
            outcome=result.outcome,
            policy=policy.as_dict(),
            inputs={
                "kpis": [_kpi_input(k) for k in kpis],
                "measurements": [
                    {
                        "id": m_id,
                        "kpi_id": k_id,
                        "value": str(value),
                        "measured_at": at.isoformat(),
                    }
                    for m_id, k_id, value, at in rows
                ],
            },
            kpi_results=[_kpi_result(r, by_id[r.kpi_id]) for r in result.kpis],
            evaluated_by=actor if isinstance(actor, User) else None,
            evaluated_by_api_key=actor if isinstance(actor, ApiKey) else None,
        )
        if stage.state != StageState.GATE_PENDING:
            assert StageState.GATE_PENDING in STAGE_TRANSITIONS[stage.state]
            stage_before = stage.state
            stage.state = StageState.GATE_PENDING
            stage.save(update_fields=["state"])
            audit_record(
                actor=actor,
                action="stage.gate_pending",
                obj=stage,
                before={"state": stage_before},
                after={"state": stage.state, "gate": locked.pk},
            )
        gate_before = locked.state
        locked.state = GateState.EVALUATED
        locked.save(update_fields=["state"])
        audit_record(
            actor=actor,
            action="gate.evaluated",
            obj=locked,
            before={"state": gate_before},
            after={
                "state": locked.state,
                "round": locked.round,
                "evaluation": evaluation.pk,
                "score": str(result.score),
                "outcome": result.outcome,
                "as_of": as_of.isoformat(),
            },
        )
        notify_people(
            users=project_pis(project),
            kind="gate_evaluated",
            title=format_lazy(
                _lazy("Stage {number} gate evaluated: {outcome} (score {score})"),
                number=stage.number,
                outcome=GateOutcome(result.outcome).label,
                score=str(result.score),
            ),
            url=project_url(project),
        )
        gate_decide_automatically(evaluation=evaluation)
    return evaluation


def tranches_to_release(evaluation: GateEvaluation) -> list[int]:
    """Ids of tranches an evaluation's decision has decided but not yet released."""
    return list(
        Tranche.objects.filter(
            decision__evaluation=evaluation, state=TrancheState.DECIDED
        ).values_list("pk", flat=True)
    )
