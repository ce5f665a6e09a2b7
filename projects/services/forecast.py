"""Gate forecast (§22): the outcome of a running stage's gate as if evaluated now.

Read-only: no lock, no snapshot, no audit, no event. It loads its inputs with the very
code the evaluation uses (``projects.services.gates``: the KPIs, the one aggregating
statement, the pure rule), so the forecast is what a real evaluation on the same day
would store. Then it sizes the tranches the outcome would release: the next stage's
planned tranches at the decision's multiplier (§8), the bonus cut to what each side's
reserve holds now (§9).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Max, Q

from fundapp.kernel.calendar import today_in_tokyo
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import Account
from projects.models import Gate, Stage, Tranche, TrancheState
from projects.rules import gates as rules
from projects.selectors.deliverables import deliverables_holding_gates
from projects.services.decisions import final_gate_requirements_unmet_many
from projects.services.gates import (
    EVALUABLE_STAGE_STATES,
    _kpi_aggregates,
    _rule_result,
    _stage_kpis,
    gate_policy_for_call,
)


@dataclass(frozen=True)
class KpiForecast:
    """One KPI now. ``needed`` is the aggregated value the KPI must reach to be met (its
    target: achievement 1, §8); ``gap`` how far the current value is from it (0 when met,
    ``None`` while nothing counts)."""

    kpi_id: int
    code: str
    direction: str
    aggregation: str
    mandatory: bool
    value: Decimal | None
    achievement: Decimal
    met: bool
    missing: bool
    needed: Decimal
    gap: Decimal | None


@dataclass(frozen=True)
class TrancheForecast:
    """One side's tranche the outcome would release (§8, §9)."""

    tranche_id: int
    side: str
    currency: str
    planned: int
    released: int
    from_reserve: int
    bonus_cut: int
    returned_to_pool: int


@dataclass(frozen=True)
class GateForecast:
    """``decision`` is the releasing decision the outcome allows (``release`` on a PASS,
    ``release_reduced`` on a CONDITIONAL, ``None`` on a FAIL); ``automatic`` whether the
    fund would take it by itself (§8). ``tranches`` is empty on a FAIL and after the last
    stage."""

    gate_id: int
    as_of: date
    window_start: datetime
    cutoff: datetime
    score: Decimal
    outcome: str
    kpis: tuple[KpiForecast, ...]
    decision: str | None
    automatic: bool
    multiplier: Decimal | None
    tranches: tuple[TrancheForecast, ...]


def _gap(kpi: rules.KpiSpec, value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if kpi.direction == rules.LOWER_IS_BETTER:
        return max(value - kpi.target, Decimal(0))
    return max(kpi.target - value, Decimal(0))


def _held_by_final_gate(
    running: Sequence[tuple[Gate, Stage]],
    results: dict[int, tuple[rules.GateResult, str | None, Decimal | None]],
) -> set[int]:
    """The gates whose automatic decision the final gate's requirements would hold (§8,
    §10: the last stage of a project whose results are not registered goes to the
    officers, as the evaluation's automatic decision does), and those a mandatory
    deliverable not accepted holds (§24). Three queries at most (the deliverables, the
    projects' last stage numbers, then the requirements), none when nothing would be
    automatic."""
    automatic = [
        (gate, stage)
        for gate, stage in running
        if rules.automatic_decision(results[gate.pk][0].outcome, results[gate.pk][0].policy)
        is not None
    ]
    if not automatic:
        return set()
    # §24: a mandatory deliverable not accepted holds the gate for the officers, too.
    held_by_deliverables = deliverables_holding_gates([stage.pk for _g, stage in automatic])
    held = {gate.pk for gate, stage in automatic if stage.pk in held_by_deliverables}
    automatic = [(gate, stage) for gate, stage in automatic if gate.pk not in held]
    if not automatic:
        return held
    last = dict(
        Stage.objects.filter(project_id__in=sorted({stage.project_id for _g, stage in automatic}))
        .values("project_id")
        .annotate(last=Max("number"))
        .values_list("project_id", "last")
    )
    final = [(gate, stage) for gate, stage in automatic if stage.number == last[stage.project_id]]
    if not final:
        return held
    unmet = final_gate_requirements_unmet_many(sorted({stage.project_id for _g, stage in final}))
    return held | {gate.pk for gate, stage in final if stage.project_id in unmet}


def gate_forecast(gate: Gate, *, as_of: date | None = None) -> GateForecast | None:
    """The forecast of ``gate`` (§22), or ``None`` when its stage is not running or has
    no KPIs: ``gates_forecast`` with one gate."""
    return gates_forecast([gate], as_of=as_of).get(gate.pk)


def gates_forecast(gates: Sequence[Gate], *, as_of: date | None = None) -> dict[int, GateForecast]:
    """The forecasts of the gates (§22) by gate id; a gate whose stage is not running or
    has no KPIs has none. At most five queries whatever the numbers of gates, KPIs and
    measurements.

    The window is the evaluation's, ``[stage_window_start(started_on),
    gate_cutoff(due_on)]``; ``as_of`` (default: today in Asia/Tokyo) is reported only, as
    the evaluation's ``as_of`` only decides whether the gate is due. Each forecast may
    count on the whole of a side's reserve (forecasts do not share it).
    """
    as_of = as_of or today_in_tokyo()
    if not gates:
        return {}
    stages = {
        stage.pk: stage
        for stage in Stage.objects.select_related("project__call").filter(
            pk__in=sorted({gate.stage_id for gate in gates}),
            state__in=EVALUABLE_STAGE_STATES,
            started_on__isnull=False,
        )
    }
    if not stages:
        return {}
    kpis = _stage_kpis(sorted(stages))
    running = [
        (gate, stages[gate.stage_id])
        for gate in sorted(gates, key=lambda g: g.pk)
        if gate.stage_id in stages and kpis[gate.stage_id]
    ]
    if not running:
        return {}
    windows: dict[int, tuple[datetime, datetime]] = {}
    for gate, stage in running:
        assert stage.started_on is not None
        windows[gate.pk] = (
            rules.stage_window_start(stage.started_on),
            rules.gate_cutoff(gate.due_on),
        )
    aggregates, _excluded = _kpi_aggregates(
        [(stage.pk, *windows[gate.pk]) for gate, stage in running]
    )
    results: dict[int, tuple[rules.GateResult, str | None, Decimal | None]] = {}
    for gate, stage in running:
        start, cutoff = windows[gate.pk]
        policy = gate_policy_for_call(stage.project.call)
        result = _rule_result(kpis[stage.pk], aggregates, start, cutoff, policy)
        decision: str | None = None
        if result.outcome == rules.PASS:
            decision = rules.RELEASE
        elif result.outcome == rules.CONDITIONAL:
            decision = rules.RELEASE_REDUCED
        multiplier = (
            None
            if decision is None
            else rules.release_multiplier(result.outcome, result.score, policy, decision)
        )
        results[gate.pk] = (result, decision, multiplier)
    releasing = [(gate, stage) for gate, stage in running if results[gate.pk][2] is not None]
    planned: dict[tuple[int, int], list[Tranche]] = defaultdict(list)
    if releasing:
        wanted = Q()
        for _gate, stage in releasing:
            wanted |= Q(project_id=stage.project_id, stage__number=stage.number + 1)
        for tranche in (
            Tranche.objects.filter(wanted, state=TrancheState.PLANNED)
            .select_related("stage")
            .order_by("pk")
        ):
            planned[(tranche.project_id, tranche.stage.number)].append(tranche)
    sides = {
        tranche.side
        for gate, stage in releasing
        if (results[gate.pk][2] or 0) > 1
        for tranche in planned[(stage.project_id, stage.number + 1)]
    }
    reserves: dict[str, int] = {}
    if sides:
        reserves = dict(
            Account.objects.filter(
                code__in=sorted(ledger_rules.account_code_fund_reserve(side) for side in sides)
            ).values_list("code", "balance")
        )
    held = _held_by_final_gate(running, results)
    forecasts: dict[int, GateForecast] = {}
    for gate, stage in running:
        result, decision, multiplier = results[gate.pk]
        by_id = {k.kpi_id: k for k in kpis[stage.pk]}
        tranches: list[TrancheForecast] = []
        if multiplier is not None:
            for tranche in planned[(stage.project_id, stage.number + 1)]:
                reserve = reserves.get(ledger_rules.account_code_fund_reserve(tranche.side), 0)
                sizing = rules.tranche_amounts(tranche.planned, multiplier, reserve)
                tranches.append(
                    TrancheForecast(
                        tranche_id=tranche.pk,
                        side=tranche.side,
                        currency=tranche.currency,
                        planned=tranche.planned,
                        released=sizing.released,
                        from_reserve=sizing.from_reserve,
                        bonus_cut=sizing.bonus_cut,
                        returned_to_pool=sizing.returned_to_pool,
                    )
                )
        forecasts[gate.pk] = GateForecast(
            gate_id=gate.pk,
            as_of=as_of,
            window_start=windows[gate.pk][0],
            cutoff=windows[gate.pk][1],
            score=result.score,
            outcome=result.outcome,
            kpis=tuple(
                KpiForecast(
                    kpi_id=r.kpi_id,
                    code=r.code,
                    direction=by_id[r.kpi_id].direction,
                    aggregation=by_id[r.kpi_id].aggregation,
                    mandatory=by_id[r.kpi_id].mandatory,
                    value=r.value,
                    achievement=r.achievement,
                    met=r.met,
                    missing=r.missing,
                    needed=by_id[r.kpi_id].target,
                    gap=_gap(by_id[r.kpi_id], r.value),
                )
                for r in result.kpis
            ),
            decision=decision,
            automatic=(
                rules.automatic_decision(result.outcome, result.policy) is not None
                and gate.pk not in held
            ),
            multiplier=multiplier,
            tranches=tuple(tranches),
        )
    return forecasts
