"""The event types the projects domain writes (§12 audit actions, §13.2 outbox events),
registered by ``ProjectsConfig.ready``, and the ``data`` of its outbox events: each
resource under the field names its API uses (§21), built from rows the service already
holds (no query of its own). See ``fundapp.kernel.events``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from fundapp.kernel.events import (
    BOOLEAN,
    DATE,
    DATETIME,
    DECIMAL,
    ID,
    INTEGER,
    OFFICERS,
    ORGANISATIONS,
    PUBLIC,
    STRING,
    EventType,
    data_schema,
    event_type_register,
    event_types_declare,
    nullable,
)
from projects.models import (
    AwardOutcome,
    DuplicateResolution,
    GateDecisionKind,
    GateOutcome,
    Measurement,
    ProjectState,
)

# --------------------------------------------------------------------------- data

_PROPOSAL = {
    "id": ID,
    "call": ID,
    "state": STRING,
    "version": INTEGER,
    "title_en": STRING,
    "title_ja": STRING,
    "title_ko": STRING,
    "submitted_at": nullable(DATETIME),
    "updated_at": DATETIME,
}
_PROPOSAL_EXAMPLE = {
    "id": 7,
    "call": 2,
    "state": "submitted",
    "version": 3,
    "title_en": "Solid-state batteries",
    "title_ja": "全固体電池",
    "title_ko": "전고체 배터리",
    "submitted_at": "2026-05-01T01:00:00+00:00",
    "updated_at": "2026-05-01T01:00:00+00:00",
    "resource_version": 41,
}


def proposal_data(proposal: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": proposal.pk,
        "call": proposal.call_id,
        "state": proposal.state,
        "version": proposal.version,
        "title_en": proposal.title_en,
        "title_ja": proposal.title_ja,
        "title_ko": proposal.title_ko,
        "submitted_at": proposal.submitted_at,
        "updated_at": proposal.updated_at,
        **extra,
    }


_ASSIGNMENT = {
    "id": ID,
    "proposal": ID,
    "reviewer": ID,
    "state": STRING,
    "assigned_at": DATETIME,
    "assigned_by": ID,
}


def assignment_data(assignment: Any) -> dict[str, Any]:
    return {
        "id": assignment.pk,
        "proposal": assignment.proposal_id,
        "reviewer": assignment.reviewer_id,
        "state": assignment.state,
        "assigned_at": assignment.assigned_at,
        "assigned_by": assignment.assigned_by_id,
    }


_AWARD = {
    "id": ID,
    "proposal": ID,
    "outcome": {"enum": ["award", "reject"]},
    "state": STRING,
    "project": nullable(ID),
}


def award_data(decision: Any, *, project_id: int | None) -> dict[str, Any]:
    return {
        "id": decision.pk,
        "proposal": decision.proposal_id,
        "outcome": decision.outcome,
        "state": decision.state,
        "project": project_id,
    }


_PROJECT = {
    "id": ID,
    "title_en": STRING,
    "title_ja": STRING,
    "title_ko": STRING,
    "state": {"enum": ["active", "suspended", "completed", "terminated"]},
    "call": ID,
    "proposal": ID,
    "current_stage": nullable(ID),
    "awarded_at": nullable(DATETIME),
    "started_on": nullable(DATE),
    "ended_at": nullable(DATETIME),
}
_PROJECT_EXAMPLE = {
    "id": 3,
    "title_en": "Solid-state batteries",
    "title_ja": "全固体電池",
    "title_ko": "전고체 배터리",
    "state": "active",
    "call": 2,
    "proposal": 7,
    "current_stage": 11,
    "awarded_at": "2026-06-01T01:00:00+00:00",
    "started_on": "2026-06-01",
    "ended_at": None,
    "resource_version": 57,
}


def project_data(project: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": project.pk,
        "title_en": project.title_en,
        "title_ja": project.title_ja,
        "title_ko": project.title_ko,
        "state": project.state,
        "call": project.call_id,
        "proposal": project.proposal_id,
        "current_stage": project.current_stage_id,
        "awarded_at": project.awarded_at,
        "started_on": project.started_on,
        "ended_at": project.ended_at,
        **extra,
    }


_MEASUREMENT = {
    "id": ID,
    "project": ID,
    "kpi": ID,
    "value": DECIMAL,
    "measured_at": DATETIME,
    "note": STRING,
    "source": STRING,
    "created_at": DATETIME,
    "rejected": BOOLEAN,
    "rejected_at": nullable(DATETIME),
    "rejection_reason": STRING,
}
_MEASUREMENT_EXAMPLE = {
    "id": 90,
    "project": 3,
    "kpi": 12,
    "value": "1.2000",
    "measured_at": "2026-07-01T01:00:00+00:00",
    "note": "",
    "source": "api",
    "created_at": "2026-07-01T01:00:00+00:00",
    "rejected": False,
    "rejected_at": None,
    "rejection_reason": "",
    "resource_version": 60,
}


_VALUE_PLACES = Measurement._meta.get_field("value").decimal_places  # type: ignore[union-attr]


def measurement_data(measurement: Any) -> dict[str, Any]:
    return {
        "id": measurement.pk,
        "project": measurement.project_id,
        "kpi": measurement.kpi_id,
        # As stored and as the API shows it, whatever the input's number of places.
        "value": f"{Decimal(measurement.value):.{_VALUE_PLACES}f}",
        "measured_at": measurement.measured_at,
        "note": measurement.note,
        "source": measurement.source,
        "created_at": measurement.created_at,
        "rejected": measurement.rejected_at is not None,
        "rejected_at": measurement.rejected_at,
        "rejection_reason": measurement.rejection_reason,
    }


_EVIDENCE_FILE = {
    "type": "object",
    "required": ["id", "name", "content_type", "size", "sha256"],
    "properties": {
        "id": ID,
        "name": STRING,
        "content_type": STRING,
        "size": INTEGER,
        "sha256": STRING,
    },
}
_EVIDENCE_FILE_EXAMPLE = {
    "id": 31,
    "name": "bench-run-14.pdf",
    "content_type": "application/pdf",
    "size": 182044,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}

_ATTESTATION = {
    "type": "object",
    "required": ["id", "verdict", "note", "verifier", "verifier_organisation", "created_at"],
    "properties": {
        "id": ID,
        "verdict": {"enum": ["attested", "disputed"]},
        "note": STRING,
        "verifier": nullable(ID),
        "verifier_organisation": nullable(ID),
        "created_at": DATETIME,
    },
}
_ATTESTATION_EXAMPLE = {
    "id": 14,
    "verdict": "attested",
    "note": "Bench log checked against the lab's own run.",
    "verifier": None,
    "verifier_organisation": 8,
    "created_at": "2026-07-03T01:00:00+00:00",
}


def attestation_data(attestation: Any) -> dict[str, Any]:
    """A verifier's verdict as the API shows it in the measurement's ``attestations``."""
    return {
        "id": attestation.pk,
        "verdict": attestation.verdict,
        "note": attestation.note,
        "verifier": attestation.verifier_id,
        "verifier_organisation": attestation.verifier_organisation_id,
        "created_at": attestation.created_at,
    }


_DELIVERABLE_FILE = {
    "type": "object",
    "required": ["id", "name", "size", "sha256", "submission"],
    "properties": {
        "id": ID,
        "name": STRING,
        "size": INTEGER,
        "sha256": STRING,
        "submission": INTEGER,
    },
}
_DELIVERABLE = {
    "id": ID,
    "project": ID,
    "stage": ID,
    "title_en": STRING,
    "title_ja": STRING,
    "title_ko": STRING,
    "kind": STRING,
    "due_on": DATE,
    "mandatory": BOOLEAN,
    "state": STRING,
    "submissions": INTEGER,
    "note": STRING,
    "submitted_at": nullable(DATETIME),
    "decided_at": nullable(DATETIME),
    "reason": STRING,
    "files": {"type": "array", "items": _DELIVERABLE_FILE},
}
_DELIVERABLE_EXAMPLE = {
    "id": 21,
    "project": 3,
    "stage": 11,
    "title_en": "Test-chip characterisation report",
    "title_ja": "テストチップ評価報告書",
    "title_ko": "테스트 칩 특성 평가 보고서",
    "kind": "report",
    "due_on": "2026-11-01",
    "mandatory": True,
    "state": "submitted",
    "submissions": 1,
    "note": "Measured on the 28 nm shuttle run.",
    "submitted_at": "2026-10-20T01:00:00+00:00",
    "decided_at": None,
    "reason": "",
    "files": [
        {
            "id": 40,
            "name": "characterisation.pdf",
            "size": 182044,
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "submission": 1,
        }
    ],
    "resource_version": 90,
}


_DELIVERABLE_OVERDUE = {**_DELIVERABLE, "days_overdue": INTEGER}
_DELIVERABLE_OVERDUE_EXAMPLE = {
    **_DELIVERABLE_EXAMPLE,
    "state": "pending",
    "submissions": 0,
    "note": "",
    "submitted_at": None,
    "files": [],
    "days_overdue": 1,
}


def deliverable_data(deliverable: Any, files: list[Any]) -> dict[str, Any]:
    """A deliverable as the API shows it, with the files the caller already holds."""
    return {
        "id": deliverable.pk,
        "project": deliverable.project_id,
        "stage": deliverable.stage_id,
        "title_en": deliverable.title_en,
        "title_ja": deliverable.title_ja,
        "title_ko": deliverable.title_ko,
        "kind": deliverable.kind,
        "due_on": deliverable.due_on,
        "mandatory": deliverable.mandatory,
        "state": deliverable.state,
        "submissions": deliverable.submissions,
        "note": deliverable.note,
        "submitted_at": deliverable.submitted_at,
        "decided_at": deliverable.decided_at,
        "reason": deliverable.reason,
        "files": [
            {
                "id": f.pk,
                "name": f.name,
                "size": f.size,
                "sha256": f.sha256,
                "submission": f.submission,
            }
            for f in files
        ],
    }


_GATE = {
    "id": ID,
    "stage": ID,
    "stage_number": INTEGER,
    "project": ID,
    "state": STRING,
    "round": INTEGER,
    "due_on": DATE,
}
_GATE_EXAMPLE = {
    "id": 5,
    "stage": 11,
    "stage_number": 1,
    "project": 3,
    "state": "evaluated",
    "round": 1,
    "due_on": "2026-12-01",
    "resource_version": 77,
}
_EVALUATION = {
    "type": "object",
    "required": ["id", "score", "outcome", "evaluated_at", "kpis"],
    "properties": {
        "id": ID,
        "score": DECIMAL,
        "outcome": {"enum": ["pass", "conditional", "fail"]},
        "evaluated_at": DATETIME,
        "kpis": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "value", "achievement", "met", "missing"],
                "properties": {
                    "code": STRING,
                    "value": nullable(DECIMAL),
                    "met": BOOLEAN,
                    "missing": BOOLEAN,
                },
            },
        },
    },
}
_ANOMALY_FLAGS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["kind", "kpi", "measurement_ids", "detail"],
        "properties": {
            "kind": {
                "enum": [
                    "late_decisive",
                    "at_target",
                    "jump",
                    "reentered_after_rejection",
                    "shared_evidence",
                ]
            },
            "kpi": ID,
            "measurement_ids": {"type": "array", "items": ID},
            "detail": {"type": "object"},
        },
    },
}
_DECISION = {
    "type": "object",
    "required": ["id", "kind", "automatic", "multiplier", "evaluation"],
    "properties": {
        "id": ID,
        "kind": STRING,
        "automatic": BOOLEAN,
        "multiplier": nullable(DECIMAL),
        "evaluation": nullable(ID),
    },
}

_TRANCHE = {
    "id": ID,
    "project": ID,
    "stage_number": INTEGER,
    "side": {"enum": ["JP", "KR"]},
    "currency": {"enum": ["JPY", "KRW"]},
    "planned": INTEGER,
    "released": INTEGER,
    "from_reserve": INTEGER,
    "state": {"enum": ["planned", "decided", "released", "cancelled"]},
    "released_at": nullable(DATETIME),
}
_TRANCHE_EXAMPLE = {
    "id": 21,
    "project": 3,
    "stage_number": 1,
    "side": "JP",
    "currency": "JPY",
    "planned": 12_000_000,
    "released": 12_000_000,
    "from_reserve": 0,
    "state": "released",
    "released_at": "2026-12-02T01:00:00+00:00",
    "resource_version": 80,
}


def tranche_data(tranche: Any, *, stage_number: int) -> dict[str, Any]:
    return {
        "id": tranche.pk,
        "project": tranche.project_id,
        "stage_number": stage_number,
        "side": tranche.side,
        "currency": tranche.currency,
        "planned": tranche.planned,
        "released": tranche.released,
        "from_reserve": tranche.from_reserve,
        "state": tranche.state,
        "released_at": tranche.released_at,
    }


_DISBURSEMENT = {
    "id": ID,
    "tranche": ID,
    "organisation": ID,
    "currency": {"enum": ["JPY", "KRW"]},
    "amount": INTEGER,
    "state": STRING,
    "paid_on": nullable(DATE),
    "reference": STRING,
    "confirmed_at": nullable(DATETIME),
}


def disbursement_data(disbursement: Any) -> dict[str, Any]:
    return {
        "id": disbursement.pk,
        "tranche": disbursement.tranche_id,
        "organisation": disbursement.organisation_id,
        "currency": disbursement.currency,
        "amount": disbursement.amount,
        "state": disbursement.state,
        "paid_on": disbursement.paid_on,
        "reference": disbursement.reference,
        "confirmed_at": disbursement.confirmed_at,
    }


# --------------------------------------------------------------------------- types

EVENT_TYPES = [
    # Calls
    *event_types_declare(
        OFFICERS,
        {
            "call.created": _("{actor} created the call"),
            "call.updated": _("{actor} updated the call"),
            "call.archived": _("{actor} archived the call"),
        },
    ),
    *event_types_declare(
        PUBLIC,
        {
            "call.opened": _("{actor} opened the call for proposals"),
            "call.closed": _("{actor} closed the call"),
        },
    ),
    # Proposals
    *event_types_declare(
        ORGANISATIONS,
        {
            "proposal.created": _("{actor} started the proposal"),
            "proposal.updated": _("{actor} edited the proposal"),
            "proposal.attachment_added": _("{actor} attached a file to the proposal"),
            "proposal.attachment_removed": _("{actor} removed a file from the proposal"),
        },
    ),
    EventType(
        "proposal.submitted",
        _("{actor} submitted the proposal"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_PROPOSAL),
        example=_PROPOSAL_EXAMPLE,
    ),
    EventType(
        "proposal.endorsed",
        _("{actor} endorsed the proposal for their organisation"),
        ORGANISATIONS,
    ),
    EventType(
        "proposal.returned",
        _("{actor} returned the proposal to the principal investigators: {reason}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_PROPOSAL, organisation=STRING, reason=STRING),
        example={
            **_PROPOSAL_EXAMPLE,
            "state": "draft",
            "version": 4,
            "submitted_at": None,
            "organisation": "KR-SNU-01",
            "reason": "The budget of stage 2 needs the office's sign-off first.",
        },
        short=_("{actor} returned the proposal to the principal investigators"),
    ),
    *event_types_declare(
        ORGANISATIONS,
        {
            "proposal.eligible": _("{actor} found the proposal eligible"),
            "proposal.ineligible": _("{actor} found the proposal ineligible: {reasons}"),
        },
    ),
    EventType(
        "proposal.eligibility_decided",
        _("The proposal's eligibility was decided"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_PROPOSAL, eligibility_reasons={"type": "array"}),
        example={**_PROPOSAL_EXAMPLE, "state": "eligible", "eligibility_reasons": []},
    ),
    *event_types_declare(
        ORGANISATIONS,
        {
            "proposal.under_review": _("{actor} sent the proposal to review"),
            "proposal.awarded": _("{actor} awarded the proposal"),
            "proposal.rejected": _("{actor} rejected the proposal"),
        },
    ),
    EventType(
        "proposal.withdrawn",
        _("{actor} withdrew the proposal"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_PROPOSAL),
        example={**_PROPOSAL_EXAMPLE, "state": "withdrawn"},
    ),
    # Duplicate funding (§22): advisory to the fund's officers.
    # The flagged proposal's own consortium learns that its proposal waits for the fund's
    # resolution (§22) — never what it was compared with: that is another consortium's.
    EventType(
        "proposal.duplicate_flagged",
        _("The duplicate-funding check flagged the proposal for the fund officers' resolution"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_PROPOSAL, flags={"type": "array", "items": INTEGER}, during=STRING),
        example={**_PROPOSAL_EXAMPLE, "flags": [3], "during": "submission"},
    ),
    EventType(
        "duplicate_flag.raised",
        _(
            "The duplicate-funding check flagged the proposal against another pending "
            "proposal or running project (similarity {best_similarity})"
        ),
        OFFICERS,
        short=_("The duplicate-funding check flagged the proposal"),
    ),
    EventType(
        "duplicate_flag.resolved",
        _("{actor} resolved the duplicate-funding flag: {resolution} ({resolution_note})"),
        OFFICERS,
        labels={"resolution": DuplicateResolution},
        short=_("{actor} resolved the duplicate-funding flag"),
    ),
    # Review and award
    EventType(
        "review.assigned",
        _("{actor} assigned a reviewer to the proposal"),
        OFFICERS,
        outbox=True,
        schema=data_schema(_ASSIGNMENT),
        example={
            "id": 4,
            "proposal": 7,
            "reviewer": 12,
            "state": "awaiting_declaration",
            "assigned_at": "2026-05-10T01:00:00+00:00",
            "assigned_by": 2,
            "resource_version": 44,
        },
    ),
    *event_types_declare(
        OFFICERS,
        {
            "review.declared": _("{actor} declared their conflicts of interest"),
            "review.submitted": _("{actor} submitted a review"),
            "award.approved": _(
                "{actor} approved the award decision; the other side's approval is still needed"
            ),
            "award.completed": _("{actor} completed the award decision"),
            "award.cancelled": _("{actor} cancelled the award decision"),
            "award.withdrawn": _("{actor} withdrew their approval of the award decision"),
            "award.declined": _("{actor} declined the award decision: {reason}"),
        },
    ),
    EventType(
        "award.decided",
        _("The award decision was made: {outcome}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_AWARD),
        example={
            "id": 9,
            "proposal": 7,
            "outcome": "award",
            "state": "completed",
            "project": 3,
            "resource_version": 50,
        },
        labels={"outcome": AwardOutcome},
    ),
    # Projects
    EventType(
        "project.created",
        _("{actor} started the project"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_PROJECT),
        example=_PROJECT_EXAMPLE,
    ),
    EventType(
        "project.state_changed",
        _("The project became {state}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_PROJECT, previous_state=STRING),
        example={**_PROJECT_EXAMPLE, "state": "suspended", "previous_state": "active"},
        labels={"state": ProjectState},
    ),
    *event_types_declare(
        ORGANISATIONS,
        {
            "project.suspended": _("{actor} suspended the project"),
            "project.resumed": _("{actor} resumed the project"),
            "project.terminated": _("{actor} terminated the project"),
            "project.completed": _("The project was completed"),
        },
    ),
    EventType(
        "project.recovery_claim",
        _("{actor} recorded a claim to recover funds from the project"),
        OFFICERS,
    ),
    # Stages and measurements
    *event_types_declare(
        ORGANISATIONS,
        {
            "stage.started": _("The stage started on {started_on}"),
            "stage.gate_pending": _("The stage is waiting for its gate decision"),
            "stage.passed": _("The stage passed its gate"),
            "stage.conditional": _("The stage passed its gate conditionally"),
            "stage.failed": _("The stage failed its gate"),
            "stage.extended": _("{actor} extended the stage"),
            "measurement.recorded": _("{actor} recorded a KPI measurement"),
            "measurement.imported": _("{actor} imported KPI measurements from a file"),
        },
    ),
    EventType(
        "measurement.created",
        _("A KPI measurement was recorded"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_MEASUREMENT),
        example=_MEASUREMENT_EXAMPLE,
    ),
    EventType(
        "measurement.rejected",
        _("{actor} rejected a KPI measurement: {rejection_reason}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_MEASUREMENT),
        example={
            **_MEASUREMENT_EXAMPLE,
            "rejected": True,
            "rejected_at": "2026-07-02T01:00:00+00:00",
            "rejection_reason": "Wrong unit",
        },
    ),
    # Evidence files (§22): added to a measurement after it was recorded; the event carries
    # the files added, with their hashes.
    EventType(
        "measurement.evidence_added",
        _("{actor} added {count} evidence file(s) to a KPI measurement"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_MEASUREMENT, evidence_files={"type": "array", "items": _EVIDENCE_FILE}),
        example={**_MEASUREMENT_EXAMPLE, "evidence_files": [_EVIDENCE_FILE_EXAMPLE]},
        short=_("{actor} added evidence files to a KPI measurement"),
    ),
    EventType(
        "measurement_evidence.uploaded",
        _("{actor} uploaded an evidence file for a later measurement: {name}"),
        ORGANISATIONS,
        short=_("{actor} uploaded an evidence file for a later measurement"),
    ),
    # Verification (§22): designations are the fund's business; verdicts go to the project.
    *event_types_declare(
        OFFICERS,
        {
            "verifier.designated": _("{actor} designated {verifier} as a verifier of the project"),
            "verifier.revoked": _(
                "{actor} revoked the designation of {verifier} as a verifier of the project"
            ),
        },
    ),
    EventType(
        "measurement.attested",
        _("{actor} attested a KPI measurement: {note}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_MEASUREMENT, attestation=_ATTESTATION),
        example={**_MEASUREMENT_EXAMPLE, "attestation": _ATTESTATION_EXAMPLE},
        short=_("{actor} attested a KPI measurement"),
    ),
    EventType(
        "measurement.disputed",
        _("{actor} disputed a KPI measurement: {note}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_MEASUREMENT, attestation=_ATTESTATION),
        example={
            **_MEASUREMENT_EXAMPLE,
            "attestation": {
                **_ATTESTATION_EXAMPLE,
                "verdict": "disputed",
                "note": "The log shows a different chip revision.",
            },
        },
        short=_("{actor} disputed a KPI measurement"),
    ),
    # Deliverables (§24): the consortium submits, an officer accepts or sends it back.
    EventType(
        "deliverable.submitted",
        _("{actor} submitted the deliverable “{title}”"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_DELIVERABLE),
        example=_DELIVERABLE_EXAMPLE,
        short=_("{actor} submitted a deliverable"),
    ),
    EventType(
        "deliverable.accepted",
        _("{actor} accepted the deliverable “{title}”"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_DELIVERABLE),
        example={
            **_DELIVERABLE_EXAMPLE,
            "state": "accepted",
            "decided_at": "2026-10-22T01:00:00+00:00",
        },
        short=_("{actor} accepted a deliverable"),
    ),
    # The daily job (§24): reminders before the due date are histories' sentences; an
    # overdue deliverable is also an event for the consortium's systems.
    EventType(
        "deliverable.reminder_sent",
        _("A reminder was sent: the deliverable “{title}” is due on {due_on}"),
        ORGANISATIONS,
        short=_("A reminder about a deliverable was sent"),
    ),
    EventType(
        "deliverable.overdue",
        _("The deliverable “{title}” is overdue: it was due on {due_on}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_DELIVERABLE_OVERDUE),
        example=_DELIVERABLE_OVERDUE_EXAMPLE,
        short=_("A deliverable is overdue"),
    ),
    # Its own event: the consortium's system has to submit again, and a partner system
    # cannot tell that from ``deliverable.submitted``.
    EventType(
        "deliverable.changes_requested",
        _("{actor} requested changes to the deliverable “{title}”: {reason}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_DELIVERABLE),
        example={
            **_DELIVERABLE_EXAMPLE,
            "state": "changes_requested",
            "decided_at": "2026-10-22T01:00:00+00:00",
            "reason": "Add the bench logs of the second run.",
        },
        short=_("{actor} requested changes to a deliverable"),
    ),
    *event_types_declare(
        ORGANISATIONS,
        {
            "measurement_import.queued": _("{actor} uploaded a measurement file"),
            "measurement_import.started": _("The import of the measurement file started"),
            "measurement_import.failed": _("The measurement file could not be imported"),
        },
    ),
    # Transaction exports (§9, §15): the finance readers' own; officers only.
    *event_types_declare(
        OFFICERS,
        {
            "transaction_export.requested": _("{actor} asked for an export of the transactions"),
            "transaction_export.started": _("The export of the transactions started"),
            "transaction_export.completed": (
                _("The export of the transactions is ready: {rows} rows"),
                _("The export of the transactions is ready"),
            ),
            "transaction_export.failed": _("The export of the transactions failed"),
            "transaction_export.downloaded": _("{actor} downloaded the export of the transactions"),
            "transaction_export.expired": _("The export's file expired and was deleted"),
        },
    ),
    # Gates
    EventType(
        "gate.evaluated",
        _("The gate was evaluated: {outcome} (score {score})"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_GATE, latest_evaluation=_EVALUATION),
        example={
            **_GATE_EXAMPLE,
            "latest_evaluation": {
                "id": 8,
                "score": "1.0500",
                "outcome": "pass",
                "evaluated_at": "2026-12-01T01:00:00+00:00",
                "kpis": [
                    {
                        "code": "yield",
                        "value": "1.2000",
                        "achievement": "1.0500",
                        "met": True,
                        "missing": False,
                    }
                ],
            },
        },
        labels={"outcome": GateOutcome},
        short=_("The gate was evaluated"),
    ),
    EventType(
        "gate.decision_needed",
        _("The gate needs a decision by fund officers: {outcome}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_GATE, evaluation=ID, outcome=STRING, score=DECIMAL),
        example={**_GATE_EXAMPLE, "evaluation": 8, "outcome": "conditional", "score": "0.8000"},
        labels={"outcome": GateOutcome},
    ),
    EventType(
        "gate.flagged",
        _("Anomalies were flagged at the gate; fund officers decide it"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(
            _GATE, evaluation=ID, outcome=STRING, score=DECIMAL, flags=_ANOMALY_FLAGS
        ),
        example={
            **_GATE_EXAMPLE,
            "evaluation": 8,
            "outcome": "pass",
            "score": "1.0000",
            "flags": [
                {
                    "kind": "at_target",
                    "kpi": 21,
                    "measurement_ids": [140],
                    "detail": {"value": "20.000000", "target": "20.000000"},
                }
            ],
        },
    ),
    EventType(
        "gate.decided",
        _("The gate was decided: {kind}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_GATE, decision=_DECISION),
        example={
            **_GATE_EXAMPLE,
            "state": "decided",
            "decision": {
                "id": 6,
                "kind": "release",
                "automatic": True,
                "multiplier": "1.00",
                "evaluation": 8,
            },
        },
        labels={"kind": GateDecisionKind},
        short=_("The gate was decided"),
    ),
    EventType("gate.extended", _("{actor} extended the gate's due date"), ORGANISATIONS),
    *event_types_declare(
        OFFICERS,
        {
            "gate_decision.automatic": _("The gate was decided automatically from its evaluation"),
            "gate_decision.approved_first": _(
                "{actor} approved the gate decision; the other side's approval is still needed"
            ),
            "gate_decision.completed": _("{actor} completed the gate decision"),
            "gate_decision.cancelled": _("{actor} cancelled the gate decision"),
            "gate_decision.approved": _(
                "{actor} approved the gate decision; the other side's approval is still needed"
            ),
            "gate_decision.withdrawn": _("{actor} withdrew their approval of the gate decision"),
            "gate_decision.declined": _("{actor} declined the gate decision: {reason}"),
        },
    ),
    # Money
    EventType("tranche.decided", _("The tranche was decided"), ORGANISATIONS),
    EventType(
        "tranche.released",
        _("The tranche was released: {released}"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_TRANCHE),
        example=_TRANCHE_EXAMPLE,
        short=_("The tranche was released"),
    ),
    EventType(
        "disbursement.confirmed",
        _("{actor} confirmed the payment"),
        ORGANISATIONS,
        outbox=True,
        schema=data_schema(_DISBURSEMENT),
        example={
            "id": 30,
            "tranche": 21,
            "organisation": 4,
            "currency": "JPY",
            "amount": 6_000_000,
            "state": "paid",
            "paid_on": "2026-12-05",
            "reference": "PAY-1",
            "confirmed_at": "2026-12-05T01:00:00+00:00",
            "resource_version": 81,
        },
    ),
]


def register() -> None:
    from projects.events_amendments import AMENDMENT_EVENT_TYPES
    from projects.events_reports import REPORT_EVENT_TYPES

    event_type_register(*EVENT_TYPES, *REPORT_EVENT_TYPES, *AMENDMENT_EVENT_TYPES)
