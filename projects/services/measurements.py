"""KPI measurements (§7): recording one, and an officer rejecting one before its gate is decided.

Who may report: the project's named people (researchers holding guardian's ``view_project``
on it who belong to one of its consortium organisations), a partner system of one of those
organisations with the ``kpi:write`` scope, and fund officers. Any KPI of the project may
get measurements; the gate evaluation takes those inside its stage's window (§8).

A measurement is a fact: the database refuses to change or delete it, except for the
rejection columns written by ``measurement_reject``.
"""

from __future__ import annotations

import codecs
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from fundapp.kernel import inputs
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.problems import Problems
from fundapp.uploads.pdf import check_pdf_upload
from projects.events import measurement_data
from projects.models import (
    KPI,
    Gate,
    GateState,
    Measurement,
    MeasurementEvidence,
    MeasurementSource,
    Project,
    ProjectState,
)
from projects.permissions import can_record_measurement as can_record_measurement
from projects.permissions import can_reject_measurement as can_reject_measurement
from projects.rules.gates import gate_cutoff, stage_window_start
from projects.selectors.projects import projects_visible_to
from projects.services.outbox import project_event_for

VALUE_MAX_DIGITS = 20
VALUE_PLACES = 6
NOTE_MAX_LENGTH = 4000
# Clocks drift: a measurement may be stamped a little ahead of the server, not more.
FUTURE_TOLERANCE = timedelta(minutes=5)
PDF_MAGIC = b"%PDF-"
EVIDENCE_CONTENT_TYPES = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}


# --------------------------------------------------------------------------- permissions


def _require_visible(actor: Actor | None, project: Project) -> None:
    if not projects_visible_to(actor).filter(pk=project.pk).exists():
        raise NotFound()


def require_active(project: Project) -> None:
    if project.state != ProjectState.ACTIVE:
        raise Conflict(
            _("This project is “%(state)s”; measurements are accepted only while it is active.")
            % {"state": ProjectState(project.state).label},
            code="invalid_state",
        )


# --------------------------------------------------------------------------- values


def clean_value(problems: Problems, path: str, raw: Any) -> Decimal | None:
    """A finite decimal with at most 20 digits, 6 of them after the point.

    Trailing zeros beyond the sixth place are accepted (``1.50000000`` is ``1.5``); floats are
    taken by their shortest text form; NaN and infinities are refused.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        problems.add(path, _("This field is required."))
        return None
    if isinstance(raw, bool):
        problems.add(path, _("Enter a number."))
        return None
    try:
        number = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        problems.add(path, _("Enter a number."))
        return None
    if not number.is_finite():
        problems.add(path, _("Enter a finite number."))
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > VALUE_PLACES:
        stripped = number.normalize()
        stripped_exponent = stripped.as_tuple().exponent
        if isinstance(stripped_exponent, int) and -stripped_exponent > VALUE_PLACES:
            problems.add(path, _("Use at most %(n)d decimal places.") % {"n": VALUE_PLACES})
            return None
        number = stripped
    if abs(number) >= Decimal(10) ** (VALUE_MAX_DIGITS - VALUE_PLACES):
        problems.add(path, _("This number is too large."))
        return None
    return number


def clean_measured_at(problems: Problems, path: str, raw: Any, *, now: datetime) -> datetime | None:
    """An aware datetime (or ISO 8601 text with its offset), not in the future."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        problems.add(path, _("This field is required."))
        return None
    value: datetime | None
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = parse_datetime(raw.strip())
        except ValueError:
            value = None
        if value is None:
            problems.add(
                path,
                _("Enter a date and time such as 2026-05-01T10:00:00+09:00."),
            )
            return None
    else:
        problems.add(path, _("Enter a date and time such as 2026-05-01T10:00:00+09:00."))
        return None
    if timezone.is_naive(value):
        problems.add(
            path,
            _("Give the time zone of the time, e.g. 2026-05-01T10:00:00+09:00."),
        )
        return None
    if value > now + FUTURE_TOLERANCE:
        problems.add(path, _("A measurement cannot be in the future."))
        return None
    return value


def clean_note(problems: Problems, path: str, raw: Any) -> str:
    return inputs.text(problems, path, raw, max_length=NOTE_MAX_LENGTH)


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class Evidence:
    kind: str  # pdf | csv
    name: str
    size: int


def _chunks(upload: Any):
    upload.seek(0)
    if hasattr(upload, "chunks"):
        yield from upload.chunks()
    else:
        yield from iter(lambda: upload.read(65536), b"")


def _is_utf8_text(upload: Any) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in _chunks(upload):
            if b"\x00" in chunk:
                return False
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def check_evidence(upload: Any) -> Evidence:
    """A PDF (``%PDF-`` header, ``%%EOF`` trailer) or a CSV (UTF-8 text), by content, ≤ 20 MB."""
    size = int(getattr(upload, "size", 0) or 0)
    if size > settings.MAX_ATTACHMENT_BYTES:
        raise PayloadTooLarge(
            _("The file is larger than 20 MB."),
            errors={"evidence": [_("The file is larger than 20 MB.")]},
        )
    if size == 0:
        raise ValidationFailed(
            _("The file is empty."), errors={"evidence": [_("The file is empty.")]}
        )
    upload.seek(0)
    head = upload.read(1024)
    upload.seek(max(0, size - 2048))
    tail = upload.read(2048)
    upload.seek(0)
    if head.startswith(PDF_MAGIC):
        if b"%%EOF" not in tail:
            raise UnsupportedMediaType(
                _("Evidence must be a PDF or a CSV file."),
                errors={"evidence": [_("This PDF file is incomplete.")]},
            )
        check_pdf_upload(upload, field="evidence")  # active content, trailing data (§17)
        kind = "pdf"
    elif _is_utf8_text(upload):
        kind = "csv"
    else:
        raise UnsupportedMediaType(
            _("Evidence must be a PDF or a CSV file."),
            errors={"evidence": [_("This file is neither a PDF nor UTF-8 CSV text.")]},
        )
    problems = Problems()
    raw_name = Path(str(getattr(upload, "name", "") or "")).name
    name = inputs.text(problems, "evidence", raw_name, max_length=200) or f"evidence.{kind}"
    return Evidence(kind=kind, name=name, size=size)


def _store_evidence(upload: Any, project: Project, evidence: Evidence) -> tuple[str, str]:
    """Write the file outside the web root; return (storage name, SHA-256)."""
    storage_name = f"measurements/{project.pk}/{uuid.uuid4().hex}.{evidence.kind}"
    target = Path(settings.PRIVATE_MEDIA_ROOT) / storage_name
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for chunk in _chunks(upload):
            digest.update(chunk)
            out.write(chunk)
    upload.seek(0)
    return storage_name, digest.hexdigest()


def evidence_path(measurement: Measurement) -> Path | None:
    if not measurement.evidence_storage:
        return None
    return Path(settings.PRIVATE_MEDIA_ROOT) / measurement.evidence_storage


def evidence_content_type(measurement: Measurement) -> str:
    return EVIDENCE_CONTENT_TYPES.get(measurement.evidence_storage.rsplit(".", 1)[-1], "")


# --------------------------------------------------------------------------- services


def _actor_fields(actor: Actor) -> dict[str, Any]:
    if isinstance(actor, ApiKey):
        return {"created_by": None, "created_by_api_key": actor}
    return {"created_by": actor, "created_by_api_key": None}


def measurement_snapshot(measurement: Measurement) -> dict[str, Any]:
    return {
        "kpi": measurement.kpi_id,
        "value": str(measurement.value),
        "measured_at": measurement.measured_at.isoformat(),
        "source": measurement.source,
        "note": measurement.note,
        "evidence": measurement.evidence_name,
        "rejected_at": measurement.rejected_at.isoformat() if measurement.rejected_at else None,
        "rejection_reason": measurement.rejection_reason,
    }


def measurement_record(
    *,
    kpi: KPI,
    actor: Actor,
    value: Any,
    measured_at: Any,
    note: Any = "",
    source: str,
    evidence: Any = None,
) -> Measurement:
    """Record one measurement of a KPI.

    Guarantees: the actor sees the project (else ``NotFound``) and may report for it (else
    ``PermissionDenied``); every field is checked before anything is written and all field
    problems come back together (``ValidationFailed``); the project row is locked and must
    be active (``Conflict``); the evidence file is written before the row and removed again
    if the transaction fails; an audit event is written in the same transaction.
    Idempotency of API calls is the API layer's (``Idempotency-Key``).
    """
    project = kpi.project
    _require_visible(actor, project)
    _require(can_record_measurement(actor, project))
    problems = Problems()
    number = clean_value(problems, "value", value)
    when = clean_measured_at(problems, "measured_at", measured_at, now=timezone.now())
    text = clean_note(problems, "note", note)
    if source not in MeasurementSource.values:
        problems.add("source", _("Unknown source."))
    if problems:
        raise ValidationFailed(
            _("The measurement has errors; see the fields."), errors=problems.as_dict()
        )
    assert number is not None and when is not None
    checked = check_evidence(evidence) if evidence is not None else None
    storage_name, digest = "", ""
    if checked is not None:
        storage_name, digest = _store_evidence(evidence, project, checked)
    try:
        with transaction.atomic():
            locked = Project.objects.select_for_update(of=("self",), no_key=True).get(pk=project.pk)
            require_active(locked)
            measurement = Measurement.objects.create(
                project=locked,
                kpi=kpi,
                value=number,
                measured_at=when,
                note=text,
                evidence_name=checked.name if checked else "",
                evidence_storage=storage_name,
                source=source,
                **_actor_fields(actor),
            )
            files = []
            if checked is not None:
                files.append(
                    MeasurementEvidence.objects.create(
                        measurement=measurement,
                        name=checked.name,
                        storage=storage_name,
                        content_type=EVIDENCE_CONTENT_TYPES[checked.kind],
                        size=checked.size,
                        sha256=digest,
                    )
                )
            audit_record(
                actor=actor,
                action="measurement.recorded",
                obj=measurement,
                after={
                    **measurement_snapshot(measurement),
                    "project": locked.pk,
                    "evidence_files": [{"name": f.name, "sha256": f.sha256} for f in files],
                },
            )
            project_event_for(
                "measurement.created", measurement, project_id=locked.pk, data=measurement_data
            )
    except BaseException:
        if storage_name:
            (Path(settings.PRIVATE_MEDIA_ROOT) / storage_name).unlink(missing_ok=True)
        raise
    return measurement


def _decided_gate_holding(measurement: Measurement, gate: Gate | None) -> bool:
    """Is the measurement inside the window of a gate that has been decided?"""
    if gate is None or gate.state != GateState.DECIDED:
        return False
    started_on = gate.stage.started_on
    if started_on is None:
        return False
    return stage_window_start(started_on) <= measurement.measured_at <= gate_cutoff(gate.due_on)


def measurement_reject(*, measurement: Measurement, actor: Actor, reason: Any) -> Measurement:
    """A fund officer takes a measurement out of the evaluation, with a reason (§7).

    Locks the KPI's gate, then the measurement. Refused (``Conflict``) when it is already
    rejected or when the gate whose window holds it has been decided; the rejection columns
    are the only ones the database lets change. Audited. A gate already evaluated keeps its
    snapshot; re-evaluating it (before the decision) takes the rejection into account.
    """
    _require(can_reject_measurement(actor))
    problems = Problems()
    text = inputs.text(problems, "reason", reason, max_length=NOTE_MAX_LENGTH, required=True)
    if problems:
        raise ValidationFailed(_("Give a reason for the rejection."), errors=problems.as_dict())
    with transaction.atomic():
        gate = (
            Gate.objects.select_for_update(of=("self",), no_key=True)
            .select_related("stage")
            .filter(stage__kpis__pk=measurement.kpi_id)
            .first()
        )
        locked = Measurement.objects.select_for_update(of=("self",)).get(pk=measurement.pk)
        if locked.rejected_at is not None:
            raise Conflict(
                _("This measurement has already been rejected."), code="already_rejected"
            )
        if _decided_gate_holding(locked, gate):
            raise Conflict(
                _(
                    "The gate this measurement counts for has been decided; it can no longer "
                    "be rejected."
                ),
                code="gate_decided",
            )
        before = measurement_snapshot(locked)
        locked.rejected_at = timezone.now()
        locked.rejected_by = actor if isinstance(actor, User) else None
        locked.rejection_reason = text
        locked.save(update_fields=["rejected_at", "rejected_by", "rejection_reason"])
        audit_record(
            actor=actor,
            action="measurement.rejected",
            obj=locked,
            before=before,
            after=measurement_snapshot(locked),
        )
        project_event_for(
            "measurement.rejected", locked, project_id=locked.project_id, data=measurement_data
        )
    return locked
