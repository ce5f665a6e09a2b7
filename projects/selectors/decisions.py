"""Reading gate decisions: what is pending and what is still needed (§2, §8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from projects.models import DecisionState, Gate, GateDecision, GateEvaluation


@dataclass(frozen=True)
class PendingApproval:
    """A first approval waiting for its second: who, when, and what completes it."""

    decision: GateDecision
    kind: str
    first_officer_id: int | None
    first_officer_name: str
    first_side: str
    first_at: datetime
    needed_side: str  # the side whose officer must approve second
    override: bool
    justification: str
    extension_months: int | None
    stale: bool  # the gate was evaluated again after the first approval


def gate_pending_approval(gate: Gate) -> PendingApproval | None:
    """The live, pending decision of the gate's current round, if any (one query or two)."""
    decision = (
        GateDecision.objects.filter(gate=gate, round=gate.round, state=DecisionState.PENDING)
        .select_related("first_officer")
        .first()
    )
    if decision is None:
        return None
    latest = (
        GateEvaluation.objects.filter(gate=gate, round=gate.round)
        .order_by("-evaluated_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    first = decision.first_officer
    return PendingApproval(
        decision=decision,
        kind=decision.kind,
        first_officer_id=decision.first_officer_id,
        first_officer_name=str(first) if first is not None else "",
        first_side=decision.first_side,
        first_at=decision.first_at,
        needed_side="KR" if decision.first_side == "JP" else "JP",
        override=decision.override,
        justification=decision.justification,
        extension_months=decision.extension_months,
        stale=latest is not None and latest != decision.evaluation_id,
    )
