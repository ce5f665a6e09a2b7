"""State badges and small labels on the project, gate, finance and portfolio pages (§15)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

register = template.Library()

# Green: done well; amber: waiting or partial; red: stopped or refused. Anything else is grey.
_BADGES = {
    # projects
    "active": "badge--success",
    "completed": "badge--success",
    "suspended": "badge--warning",
    "terminated": "badge--danger",
    # stages
    "gate_pending": "badge--warning",
    "passed": "badge--success",
    "conditional": "badge--warning",
    "failed": "badge--danger",
    "extended": "badge--warning",
    # deliverables (§24)
    "submitted": "badge--warning",
    "accepted": "badge--success",
    "changes_requested": "badge--danger",
    # gates and outcomes
    "evaluated": "badge--warning",
    "decided": "badge--success",
    "pass": "badge--success",
    "fail": "badge--danger",
    # decisions
    "pending": "badge--warning",
    "withdrawn": "",
    "declined": "badge--danger",
    # tranches and disbursements
    "released": "badge--success",
    "cancelled": "badge--danger",
    "payable": "badge--warning",
    "paid": "badge--success",
}


@register.filter
def status_badge(state: Any) -> str:
    """The badge modifier class for a project, stage, gate, tranche or payment state."""
    return _BADGES.get(str(state), "")


@register.filter
def side_name(side: Any) -> str:
    """``JP`` → "Japanese side", ``KR`` → "Korean side"."""
    names = {"JP": _("Japanese side"), "KR": _("Korean side")}
    return names.get(str(side), str(side))


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """``{{ by_stage|get_item:stage.pk }}``: a dictionary's value, or nothing."""
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.simple_tag
def gate_held_deliverables(gate: Any) -> list[Any]:
    """The mandatory deliverables of the gate's stage not yet accepted (§24): while there
    is one, the gate releases no money. One query; none for a decided gate."""
    from projects.models import GateState
    from projects.selectors.deliverables import deliverables_holding_gates

    if gate is None or gate.state == GateState.DECIDED:
        return []
    return deliverables_holding_gates([gate.stage_id]).get(gate.stage_id, [])
