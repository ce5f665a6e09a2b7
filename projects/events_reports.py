"""The event types of stage reports (§24): the histories' sentences and the outbox event
``report.overdue``, registered with the rest of ``projects.events``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from fundapp.kernel.events import (
    DATE,
    ID,
    INTEGER,
    ORGANISATIONS,
    EventType,
    data_schema,
    event_types_declare,
    nullable,
)

_REPORT_DUE = {
    "project": ID,
    "stage": ID,
    "stage_number": INTEGER,
    "gate_day": DATE,
    "due_on": DATE,
    "days_overdue": INTEGER,
    "report": nullable(ID),
    "state": {"enum": ["missing", "draft", "returned"]},
}
_REPORT_DUE_EXAMPLE = {
    "project": 3,
    "stage": 11,
    "stage_number": 1,
    "gate_day": "2026-12-15",
    "due_on": "2026-12-01",
    "days_overdue": 1,
    "report": None,
    "state": "missing",
    "resource_version": 90,
}


def report_due_data(
    *,
    project_id: int,
    stage_id: int,
    stage_number: int,
    gate_day: Any,
    due_on: Any,
    days_overdue: int,
    report_id: int | None,
    state: str | None,
) -> dict[str, Any]:
    return {
        "project": project_id,
        "stage": stage_id,
        "stage_number": stage_number,
        "gate_day": gate_day,
        "due_on": due_on,
        "days_overdue": days_overdue,
        "report": report_id,
        "state": state or "missing",
    }


REPORT_EVENT_TYPES = [
    *event_types_declare(
        ORGANISATIONS,
        {
            "report.created": _("{actor} started the report on stage {stage}"),
            "report.updated": _("{actor} edited the report's narrative"),
            "report.statement_updated": _(
                "{actor} entered spending in the report's financial statement"
            ),
            "report.submitted": _("{actor} submitted the stage report"),
            "report.accepted": _("{actor} accepted the stage report"),
            "report.returned": (
                _("{actor} returned the stage report for changes: {return_reason}"),
                _("{actor} returned the stage report for changes"),
            ),
            "report.reminder_sent": _(
                "A reminder was sent: the report on stage {stage} is due on {due_on}"
            ),
        },
    ),
    EventType(
        "report.overdue",
        _("The report on stage {stage} is overdue: it was due on {due_on}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_REPORT_DUE),
        example=_REPORT_DUE_EXAMPLE,
    ),
]
