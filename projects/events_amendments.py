"""The event types of amendments (§24): the histories' sentences and the outbox events
``amendment.proposed`` and ``amendment.decided``, registered with the rest of
``projects.events``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from fundapp.kernel.events import (
    DATETIME,
    ID,
    INTEGER,
    OFFICERS,
    ORGANISATIONS,
    STRING,
    EventType,
    data_schema,
    event_types_declare,
    nullable,
)

_DIFF_LINE = {
    "type": "object",
    "required": ["kind", "subject", "field", "before", "after"],
    "properties": {
        "kind": {"enum": ["kpi", "stage", "budget", "tranche", "partner"]},
        "subject": STRING,
        "field": STRING,
    },
}
_AMENDMENT = {
    "id": ID,
    "project": ID,
    "state": {"enum": ["proposed", "approved", "declined", "withdrawn"]},
    "base_version": INTEGER,
    "plan_version": nullable(INTEGER),
    "reason": STRING,
    "changes": {"type": "array", "items": {"type": "object"}},
    "diff": {"type": "array", "items": _DIFF_LINE},
    "recommitted": {"type": "object"},
    "proposed_at": DATETIME,
    "decided_at": nullable(DATETIME),
}
# A change set and its diff, as the outbox events and the API's examples show them.
CHANGES_EXAMPLE = [
    {
        "kind": "budget_move",
        "from_organisation": 8,
        "from_category": "equipment",
        "to_organisation": 9,
        "to_category": "equipment",
        "amount": 50_000_000,
    }
]
DIFF_EXAMPLE = [
    {
        "kind": "budget",
        "subject": "8:equipment",
        "field": "amount",
        "before": 200_000_000,
        "after": 150_000_000,
    },
    {
        "kind": "budget",
        "subject": "9:equipment",
        "field": "amount",
        "before": 0,
        "after": 50_000_000,
    },
]
_AMENDMENT_EXAMPLE = {
    "id": 12,
    "project": 3,
    "state": "proposed",
    "base_version": 1,
    "plan_version": None,
    "reason": "Move equipment money to the second Korean partner.",
    "changes": CHANGES_EXAMPLE,
    "diff": DIFF_EXAMPLE,
    "recommitted": {},
    "proposed_at": "2026-11-02T01:00:00+00:00",
    "decided_at": None,
    "resource_version": 130,
}


def amendment_data(amendment: Any) -> dict[str, Any]:
    """An amendment as the API shows it (without its approvals)."""
    return {
        "id": amendment.pk,
        "project": amendment.project_id,
        "state": amendment.state,
        "base_version": amendment.base_version,
        "plan_version": amendment.plan_version,
        "reason": amendment.reason,
        "changes": amendment.changes,
        "diff": amendment.diff,
        "recommitted": amendment.recommitted,
        "proposed_at": amendment.proposed_at,
        "decided_at": amendment.decided_at,
    }


AMENDMENT_EVENT_TYPES = [
    EventType(
        "amendment.proposed",
        _("{actor} proposed an amendment to the plan: {reason}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_AMENDMENT),
        example=_AMENDMENT_EXAMPLE,
        short=_("{actor} proposed an amendment to the plan"),
    ),
    # The partner-facing end of an amendment, whichever it was (its ``state`` tells).
    EventType(
        "amendment.decided",
        _("The amendment was decided"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_AMENDMENT),
        example={
            **_AMENDMENT_EXAMPLE,
            "state": "approved",
            "plan_version": 2,
            "decided_at": "2026-11-04T01:00:00+00:00",
        },
    ),
    *event_types_declare(
        ORGANISATIONS,
        {
            "amendment.approved": (
                _("{actor} approved the amendment: the plan is now version {plan_version}"),
                _("The amendment was approved"),
            ),
            "amendment.declined": (
                _("{actor} declined the amendment: {reason}"),
                _("{actor} declined the amendment"),
            ),
            "amendment.withdrawn": _("{actor} withdrew the amendment"),
        },
    ),
    *event_types_declare(
        OFFICERS,
        {
            "amendment_decision.approved": _(
                "{actor} approved the amendment; the other side's approval is still needed"
            ),
            "amendment_decision.completed": _("{actor} completed the amendment's approval"),
            "amendment_decision.withdrawn": _("{actor} withdrew their approval of the amendment"),
            "amendment_decision.declined": _("{actor} declined the amendment's approval: {reason}"),
            "amendment_decision.cancelled": _(
                "The amendment's pending approval was cancelled: the amendment was withdrawn"
            ),
        },
    ),
]
