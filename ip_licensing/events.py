"""The event types the IP and licensing domain writes (§12 audit actions, §13.2 outbox
events), registered by ``IpLicensingConfig.ready``, and the ``data`` of its licence
events (the licence under its API field names, §21). See ``fundapp.kernel.events``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from fundapp.kernel.events import (
    DATE,
    DATETIME,
    ID,
    INTEGER,
    OFFICERS,
    ORGANISATIONS,
    STRING,
    EventType,
    data_schema,
    event_type_register,
    event_types_declare,
    nullable,
)
from ip_licensing.models.obligations import ObligationState

_LICENCE = {
    "id": ID,
    # Kept under its earlier name too, for receivers built against it.
    "licence": ID,
    "reference": STRING,
    "state": {
        "enum": ["draft", "pending", "approved", "active", "expired", "terminated", "suspended"]
    },
    "licensor": ID,
    "licensee": ID,
    "start_on": DATE,
    "end_on": DATE,
    "approved_at": nullable(DATETIME),
    "activated_at": nullable(DATETIME),
    "ended_at": nullable(DATETIME),
}
_LICENCE_EXAMPLE = {
    "id": 14,
    "licence": 14,
    "reference": "LIC-2026-0014",
    "state": "active",
    "licensor": 4,
    "licensee": 9,
    "start_on": "2026-06-01",
    "end_on": "2029-05-31",
    "approved_at": "2026-05-20T01:00:00+00:00",
    "activated_at": "2026-06-01T01:00:00+00:00",
    "ended_at": None,
    "resource_version": 88,
}


def licence_data(licence: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": licence.pk,
        "licence": licence.pk,
        "reference": licence.reference,
        "state": licence.state,
        "licensor": licence.licensor_id,
        "licensee": licence.licensee_id,
        "start_on": licence.start_on,
        "end_on": licence.end_on,
        "approved_at": licence.approved_at,
        "activated_at": licence.activated_at,
        "ended_at": licence.ended_at,
        **extra,
    }


_OBLIGATION = {
    "id": ID,
    "licence": ID,
    "kind": {
        "enum": [
            "development_milestone",
            "first_commercial_sale",
            "minimum_sales",
            "report",
            "other",
        ]
    },
    "state": {"enum": ["open", "met", "overdue", "cured", "breached", "waived"]},
    "description_en": STRING,
    "description_ja": STRING,
    "description_ko": STRING,
    "due_on": DATE,
    "overdue_on": nullable(DATE),
    "cure_ends_on": nullable(DATE),
    "breached_on": nullable(DATE),
    "evidence_submitted_at": nullable(DATETIME),
    "accepted_at": nullable(DATETIME),
}
_OBLIGATION_EXAMPLE = {
    "id": 5,
    "licence": 14,
    "kind": "first_commercial_sale",
    "state": "overdue",
    "description_en": "First commercial sale in Japan",
    "description_ja": "日本での最初の商業販売",
    "description_ko": "일본에서의 첫 상업 판매",
    "due_on": "2026-09-30",
    "overdue_on": "2026-10-01",
    "cure_ends_on": "2026-11-29",
    "breached_on": None,
    "evidence_submitted_at": None,
    "accepted_at": None,
    "resource_version": 91,
}


def obligation_data(obligation: Any) -> dict[str, Any]:
    """An obligation under its API field names (the ``data`` of its events, §13.2)."""
    return {
        "id": obligation.pk,
        "licence": obligation.licence_id,
        "kind": obligation.kind,
        "state": obligation.state,
        "description_en": obligation.description_en,
        "description_ja": obligation.description_ja,
        "description_ko": obligation.description_ko,
        "due_on": obligation.due_on,
        "overdue_on": obligation.overdue_on,
        "cure_ends_on": obligation.cure_ends_on,
        "breached_on": obligation.breached_on,
        "evidence_submitted_at": obligation.evidence_submitted_at,
        "accepted_at": obligation.accepted_at,
    }


def _obligation_event(name: str, sentence: Any, state: str, **example: Any) -> EventType:
    return EventType(
        name,
        sentence,
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_OBLIGATION),
        example={**_OBLIGATION_EXAMPLE, "state": state, **example},
    )


OBLIGATION_EVENT_TYPES = [
    *event_types_declare(
        ORGANISATIONS,
        {
            "obligation.created": _("{actor} added an obligation to the licence"),
            "obligation.evidence_submitted": _("{actor} submitted evidence for the obligation"),
        },
    ),
    _obligation_event(
        "obligation.met",
        _("{actor} accepted the evidence: the obligation is met"),
        "met",
        accepted_at="2026-09-20T01:00:00+00:00",
        overdue_on=None,
        cure_ends_on=None,
    ),
    _obligation_event(
        "obligation.overdue",
        _("The obligation is overdue; its cure period ends on {cure_ends_on}"),
        "overdue",
    ),
    _obligation_event(
        "obligation.cured",
        _("{actor} accepted the evidence: the overdue obligation is cured"),
        "cured",
        accepted_at="2026-10-20T01:00:00+00:00",
    ),
    _obligation_event(
        "obligation.breached",
        _("The cure period ended: the obligation is breached"),
        "breached",
        breached_on="2026-11-30",
    ),
    EventType(
        "obligation.waived", _("{actor} completed the waiver of the obligation"), ORGANISATIONS
    ),
    EventType(
        "obligation.waiver_cancelled",
        _("The waiver awaiting a second approval was cancelled: the obligation became {state}"),
        OFFICERS,
        labels={"state": ObligationState},
    ),
    *event_types_declare(
        OFFICERS,
        {
            "obligation_waiver.approved": _(
                "{actor} approved waiving the obligation; the other side's approval is still needed"
            ),
            "obligation_waiver.completed": _("{actor} completed the waiver of the obligation"),
            "obligation_waiver.withdrawn": _(
                "{actor} withdrew their approval of waiving the obligation"
            ),
            "obligation_waiver.declined": _("{actor} declined waiving the obligation: {reason}"),
            "obligation_waiver.cancelled": _("{actor} cancelled waiving the obligation"),
            "breach_decision.approved": _(
                "{actor} approved an answer to the breach; the other side's approval is still needed"
            ),
            "breach_decision.completed": _("{actor} completed the answer to the breach"),
            "breach_decision.withdrawn": _(
                "{actor} withdrew their approval of the answer to the breach"
            ),
            "breach_decision.declined": _("{actor} declined the answer to the breach: {reason}"),
            "breach_decision.cancelled": _("{actor} cancelled the answer to the breach"),
        },
    ),
]


def _licence_event(name: str, sentence: Any, state: str, **extra: Any) -> EventType:
    example = {**_LICENCE_EXAMPLE, "state": state}
    extra_schema = {
        key: INTEGER if isinstance(value, int) else STRING for key, value in extra.items()
    }
    return EventType(
        name,
        sentence,
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_LICENCE, **extra_schema),
        example={**example, **extra},
    )


EVENT_TYPES = [
    # Assets
    *event_types_declare(
        ORGANISATIONS,
        {
            "ip_asset.registered": _("{actor} registered the IP asset"),
            "ip_asset.updated": _("{actor} updated the IP asset"),
        },
    ),
    # Licences
    *event_types_declare(
        ORGANISATIONS,
        {
            "licence.created": _("{actor} drafted the licence"),
            "licence.renewed": _("{actor} drafted a renewal of the licence"),
            "licence.accepted": _("{actor} accepted the licence terms"),
        },
    ),
    *event_types_declare(
        OFFICERS,
        {
            "licence_approval.approved": _(
                "{actor} approved the licence; the other side's approval is still needed"
            ),
            "licence_approval.completed": _("{actor} completed the approval of the licence"),
            "licence_approval.withdrawn": _("{actor} withdrew their approval of the licence"),
            "licence_approval.declined": _(
                "{actor} declined the approval of the licence: {reason}"
            ),
            "licence.approval_recorded": _(
                "{actor} approved the licence; the other side's approval is still needed"
            ),
        },
    ),
    _licence_event(
        "licence.pending",
        _("Both parties accepted the licence; it awaits the fund's approval"),
        "pending",
    ),
    _licence_event("licence.approved", _("{actor} approved the licence"), "approved"),
    _licence_event("licence.activated", _("The licence became active"), "active"),
    _licence_event(
        "licence.expiring",
        _("The licence expires in {days_left} days"),
        "active",
        days_left=30,
    ),
    _licence_event("licence.expired", _("The licence expired"), "expired"),
    _licence_event("licence.suspended", _("{actor} suspended the licence"), "suspended"),
    EventType("licence.resumed", _("{actor} resumed the licence"), ORGANISATIONS),
    _licence_event("licence.terminated", _("{actor} terminated the licence"), "terminated"),
    _licence_event(
        "licence.converted_non_exclusive",
        _("{actor} converted the licence to non-exclusive after a diligence breach"),
        "active",
        exclusivity_lost_on="2026-12-01",
    ),
    EventType("licence.upfront_posted", _("The licence's upfront fee was posted"), ORGANISATIONS),
    # Sublicences (§23)
    EventType(
        "sublicence.requested",
        _("{actor} granted the sublicence; it awaits the licensor's consent"),
        ORGANISATIONS,
    ),
    _licence_event(
        "sublicence.granted",
        _("{actor} consented to the sublicence; it is granted"),
        "active",
        parent=13,
    ),
    *event_types_declare(
        ORGANISATIONS,
        {
            "sublicence.refused": _("{actor} refused consent to the sublicence: {reason}"),
            "sublicence.ended_with_parent": _("The licence's sublicences ended with it"),
        },
    ),
    # Royalties and return allocation
    EventType("royalty_report.submitted", _("{actor} submitted a royalty report"), ORGANISATIONS),
    EventType(
        "royalty.posted",
        _("A royalty of {amount} was posted"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(
            {
                "id": ID,
                "licence": ID,
                "reference": STRING,
                "transaction": STRING,
                "amount": INTEGER,
                "currency": {"enum": ["JPY", "KRW"]},
            }
        ),
        example={
            "id": 14,
            "licence": 14,
            "reference": "LIC-2026-0014",
            "transaction": "ROY-14-2026Q3",
            "amount": 350_000,
            "currency": "JPY",
            "resource_version": 90,
        },
    ),
    # Royalty integrity (§23)
    *event_types_declare(
        ORGANISATIONS,
        {
            "royalty_period.due": _("The royalty report for the quarter is due"),
            "royalty_period.overdue": _("The royalty report for the quarter is overdue"),
            "royalty_period.reported": _("{actor} reported the quarter's royalties"),
            "royalty_audit.opened": _("{actor} opened a royalty audit"),
        },
    ),
    EventType(
        "royalty_report.flagged",
        _("The royalty report was flagged: net sales far below the trailing mean"),
        OFFICERS,
    ),
    EventType(
        "royalty_audit.closed",
        _("{actor} closed the royalty audit"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(
            {
                "id": ID,
                "licence": ID,
                "reference": STRING,
                "quarter": STRING,
                "state": {"enum": ["open", "closed"]},
                "finding_amount": INTEGER,
                "finding_interest": INTEGER,
                "currency": {"enum": ["JPY", "KRW"]},
                "transaction": nullable(STRING),
                "closed_at": DATETIME,
            }
        ),
        example={
            "id": 3,
            "licence": 14,
            "reference": "L-2026-0014",
            "quarter": "2026-Q2",
            "state": "closed",
            "finding_amount": 120_000,
            "finding_interest": 2_367,
            "currency": "JPY",
            "transaction": "royalty-audit:3",
            "closed_at": "2026-11-20T02:00:00+00:00",
            "resource_version": 130,
        },
    ),
    EventType(
        "royalty.overdue",
        _("The royalty report for {quarter} is overdue"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(
            {
                "id": ID,
                "licence": ID,
                "reference": STRING,
                "quarter": STRING,
                "state": {"enum": ["due", "overdue", "reported"]},
                "deadline_on": DATE,
                "overdue_on": nullable(DATE),
                "days_after_quarter": {"enum": [30, 45]},
                "licensor": ID,
                "licensee": ID,
            }
        ),
        example={
            "id": 5,
            "licence": 14,
            "reference": "L-2026-0014",
            "quarter": "2026-Q3",
            "state": "overdue",
            "deadline_on": "2026-11-13",
            "overdue_on": "2026-11-14",
            "days_after_quarter": 45,
            "licensor": 4,
            "licensee": 9,
            "resource_version": 120,
        },
    ),
    EventType(
        "royalty.flagged",
        _("A royalty report was flagged for net sales far below the trailing mean"),
        OFFICERS,
        outbox=True,
        schema=data_schema(
            {
                "id": ID,
                "licence": ID,
                "reference": STRING,
                "quarter": STRING,
                "net_sales": INTEGER,
                "trailing_mean": nullable(INTEGER),
                "currency": {"enum": ["JPY", "KRW"]},
            }
        ),
        example={
            "id": 31,
            "licence": 14,
            "reference": "L-2026-0014",
            "quarter": "2026-Q3",
            "net_sales": 1_000_000,
            "trailing_mean": 9_000_000,
            "currency": "JPY",
            "resource_version": 121,
        },
    ),
    *event_types_declare(
        OFFICERS,
        {
            "allocation_change.approved": _(
                "{actor} approved the change of return allocation; the other side's approval is still needed"
            ),
            "allocation_change.completed": _("{actor} completed the change of return allocation"),
            "allocation_change.withdrawn": _(
                "{actor} withdrew their approval of the change of return allocation"
            ),
            "allocation_change.declined": _(
                "{actor} declined the change of return allocation: {reason}"
            ),
            "allocation_change.cancelled": _("{actor} cancelled the change of return allocation"),
        },
    ),
    EventType(
        "project.return_allocation_changed",
        _("The project's return allocation changed"),
        ORGANISATIONS,
    ),
]


def register() -> None:
    event_type_register(*EVENT_TYPES, *OBLIGATION_EVENT_TYPES)
