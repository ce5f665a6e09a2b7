"""KPI measurements (§7): recording one, and an officer rejecting one before its gate is decided.

Who may report: the project's named people (researchers holding guardian's ``view_project``
on it who belong to one of its consortium organisations), a partner system of one of those
organisations with the ``kpi:write`` scope, and fund officers. Any KPI of the project may
get measurements; the gate evaluation takes those inside its stage's window (§8).

A measurement is a fact: the database refuses to change or delete it, except for the
rejection columns written by ``measurement_reject``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
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
    DomainError,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from fundapp.kernel import inputs
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.private_files import private_file_write
from fundapp.kernel.problems import EXACT, Problems
from fundapp.uploads.content import is_csv_text
from fundapp.uploads.images import ImageFinding, check_image, image_kind
from fundapp.uploads.pdf import check_pdf_upload
from projects.events import measurement_data
from projects.models import (
    KPI,
    EvidenceUpload,
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
EVIDENCE_CONTENT_TYPES = {
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "png": "image/png",
    "jpeg": "image/jpeg",
}
EVIDENCE_SUFFIXES = {"pdf": "pdf", "csv": "csv", "png": "png", "jpeg": "jpg"}
# Files per request (a form, an API call); a measurement may gather more over time.
MAX_EVIDENCE_FILES = 10
# How long an upload waits for the measurement that names it (§14, "by reference").
EVIDENCE_UPLOAD_HOLD = timedelta(hours=24)


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

# Zeros are stripped from a value in a context that holds every digit (``EXACT``): in the
# thread's (28 digits), ``1.0000000000000000000000000000001`` was rounded to ``1`` and
# accepted.
_TOO_LARGE = Decimal(10) ** (VALUE_MAX_DIGITS - VALUE_PLACES)


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
        stripped = number.normalize(EXACT)
        stripped_exponent = stripped.as_tuple().exponent
        if isinstance(stripped_exponent, int) and -stripped_exponent > VALUE_PLACES:
            problems.add(path, _("Use at most %(n)d decimal places.") % {"n": VALUE_PLACES})
            return None
        number = stripped
    if number.copy_abs() >= _TOO_LARGE:
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
    """An upload that passed the content check."""

    kind: str  # pdf | csv | png | jpeg
    name: str
    size: int


@dataclass(frozen=True)
class StoredEvidence:
    """An evidence file written outside the web root, ready to become a row."""

    name: str
    storage: str
    content_type: str
    size: int
    sha256: str


def evidence_display_name(upload: Any) -> str:
    """The file's own name as sent, without any folder, at most 200 characters."""
    raw = str(getattr(upload, "name", "") or "").replace("\\", "/")
    return Path(raw).name[:200]


def _named(name: str, message: str) -> str:
    return _("“%(name)s”: %(problem)s") % {"name": name or _("(no name)"), "problem": message}


def _refuse(exc: type[DomainError], field: str, name: str, message: str) -> DomainError:
    return exc(_named(name, message), errors={field: [_named(name, message)]})


def check_evidence(upload: Any, *, field: str = "evidence") -> Evidence:
    """One evidence file by its content (§22): a PDF (``%PDF-`` header, ``%%EOF`` trailer,
    no active content or trailing data), a PNG or JPEG that reads as a whole image, or a
    CSV (UTF-8 text the CSV reader splits); at most 20 MB. Refusals name the file, on
    ``field``: 413 too large, 415 another kind of file or one that does not read as the
    kind it claims, 422 a PDF or image refused for what it carries (active content, data
    after its end, a decompression bomb)."""
    name = evidence_display_name(upload)
    size = int(getattr(upload, "size", 0) or 0)
    if size > settings.MAX_ATTACHMENT_BYTES:
        raise _refuse(PayloadTooLarge, field, name, _("the file is larger than 20 MB."))
    if size == 0:
        raise _refuse(ValidationFailed, field, name, _("the file is empty."))
    upload.seek(0)
    head = upload.read(1024)
    upload.seek(0)
    if head.startswith(PDF_MAGIC):
        upload.seek(max(0, size - 2048))
        tail = upload.read(2048)
        upload.seek(0)
        if b"%%EOF" not in tail:
            raise _refuse(UnsupportedMediaType, field, name, _("this PDF file is incomplete."))
        try:
            check_pdf_upload(upload, field=field)  # active content, trailing data (§17)
        except ValidationFailed as exc:
            raise _refuse(ValidationFailed, field, name, str(exc.message)) from None
        kind = "pdf"
    elif image_kind(head) is not None:
        upload.seek(0)
        image, finding = check_image(upload.read())
        upload.seek(0)
        if finding is ImageFinding.TRAILING_DATA:
            raise _refuse(
                ValidationFailed,
                field,
                name,
                _("this image has data after its end; such files are not accepted."),
            )
        if finding is ImageFinding.TOO_LARGE:
            raise _refuse(
                ValidationFailed, field, name, _("this image is too large once unpacked.")
            )
        if finding is not None or image is None:
            raise _refuse(
                UnsupportedMediaType, field, name, _("this image file is damaged or incomplete.")
            )
        kind = image.value
    elif is_csv_text(upload):
        kind = "csv"
    else:
        raise _refuse(
            UnsupportedMediaType,
            field,
            name,
            _("evidence must be a PDF, a CSV, a PNG or a JPEG file."),
        )
    problems = Problems()
    clean_name = inputs.text(problems, field, name, max_length=200) or f"evidence.{kind}"
    return Evidence(kind=kind, name=clean_name, size=size)


def check_evidence_files(uploads: Sequence[Any], *, field: str = "evidence") -> list[Evidence]:
    """Every file checked; the refusals of all of them come back together (the status of
    the first)."""
    if len(uploads) > MAX_EVIDENCE_FILES:
        message = _("Send at most %(n)d evidence files at once.") % {"n": MAX_EVIDENCE_FILES}
        raise ValidationFailed(message, errors={field: [message]})
    checked: list[Evidence] = []
    first: DomainError | None = None
    messages: list[str] = []
    for upload in uploads:
        try:
            checked.append(check_evidence(upload, field=field))
        except DomainError as exc:
            first = first or exc
            messages.extend(str(m) for m in exc.errors.get(field, [exc.message]))
    if first is not None:
        raise type(first)(messages[0], errors={field: messages})
    return checked


def store_evidence(upload: Any, project_id: int, evidence: Evidence) -> StoredEvidence:
    """Write the file outside the web root, hashing it on the way."""
    storage_name = (
        f"measurements/{project_id}/{uuid.uuid4().hex}.{EVIDENCE_SUFFIXES[evidence.kind]}"
    )
    sha256 = private_file_write(storage_name, upload)
    return StoredEvidence(
        name=evidence.name,
        storage=storage_name,
        content_type=EVIDENCE_CONTENT_TYPES[evidence.kind],
        size=evidence.size,
        sha256=sha256,
    )


def remove_stored(stored: Iterable[StoredEvidence]) -> None:
    for item in stored:
        (Path(settings.PRIVATE_MEDIA_ROOT) / item.storage).unlink(missing_ok=True)


def evidence_file_path(evidence: MeasurementEvidence) -> Path | None:
    """Where the file lies, or ``None`` when it is not on this server."""
    if not evidence.storage:
        return None
    path = Path(settings.PRIVATE_MEDIA_ROOT) / evidence.storage
    return path if path.is_file() else None


def _as_uploads(evidence: Any) -> list[Any]:
    if evidence is None:
        return []
    if isinstance(evidence, list | tuple):
        return list(evidence)
    return [evidence]


def _upload_ids(problems: Problems, raw: Any) -> list[int]:
    """``evidence_ids``: a list of distinct upload ids."""
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list | tuple):
        problems.add("evidence_ids", _("Give a list of evidence upload ids."))
        return []
    ids: list[int] = []
    for item in raw:
        try:
            number = int(str(item))
        except (TypeError, ValueError):
            problems.add("evidence_ids", _("Give a list of evidence upload ids."))
            return []
        if number < 1 or number in ids:
            problems.add("evidence_ids", _("Give each evidence upload id once."))
            return []
        ids.append(number)
    if len(ids) > MAX_EVIDENCE_FILES:
        problems.add(
            "evidence_ids",
            _("Send at most %(n)d evidence files at once.") % {"n": MAX_EVIDENCE_FILES},
        )
        return []
    return ids


def _uploader_filter(actor: Actor) -> dict[str, Any]:
    if isinstance(actor, ApiKey):
        return {"uploaded_by_api_key": actor, "uploaded_by__isnull": True}
    return {"uploaded_by": actor, "uploaded_by_api_key__isnull": True}


def _take_uploads(actor: Actor, project: Project, ids: list[int]) -> list[StoredEvidence]:
    """Lock the actor's own unexpired uploads of the project by id and remove their rows
    (their files become the measurement's); an id that is not one of them answers 422."""
    if not ids:
        return []
    rows = {
        u.pk: u
        for u in EvidenceUpload.objects.select_for_update(of=("self",))
        .filter(
            pk__in=ids, project=project, expires_at__gt=timezone.now(), **_uploader_filter(actor)
        )
        .order_by("pk")
    }
    unknown = [str(pk) for pk in ids if pk not in rows]
    if unknown:
        message = _(
            "No evidence upload of yours for this project has the id %(ids)s (uploads expire "
            "after 24 hours and serve one measurement)."
        ) % {"ids": ", ".join(unknown)}
        raise ValidationFailed(message, errors={"evidence_ids": [message]})
    EvidenceUpload.objects.filter(pk__in=list(rows)).delete()
    return [
        StoredEvidence(
            name=rows[pk].name,
            storage=rows[pk].storage,
            content_type=rows[pk].content_type,
            size=rows[pk].size,
            sha256=rows[pk].sha256,
        )
        for pk in ids
    ]


def _evidence_rows(
    measurement: Measurement, stored: Iterable[StoredEvidence]
) -> list[MeasurementEvidence]:
    return MeasurementEvidence.objects.bulk_create(
        [
            MeasurementEvidence(
                measurement=measurement,
                name=item.name,
                storage=item.storage,
                content_type=item.content_type,
                size=item.size,
                sha256=item.sha256,
            )
            for item in stored
        ]
    )


def evidence_listed(files: Iterable[MeasurementEvidence]) -> list[dict[str, Any]]:
    """What the audit trail keeps of each file: its name and hash."""
    return [{"name": f.name, "sha256": f.sha256} for f in files]


def evidence_file_data(evidence: MeasurementEvidence) -> dict[str, Any]:
    return {
        "id": evidence.pk,
        "name": evidence.name,
        "content_type": evidence.content_type,
        "size": evidence.size,
        "sha256": evidence.sha256,
    }


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
    evidence_ids: Any = None,
) -> Measurement:
    """Record one measurement of a KPI, with its evidence files: uploads sent with it
    (``evidence``: one upload or a list) and files the actor uploaded before
    (``evidence_ids``, see ``evidence_upload``).

    Guarantees: the actor sees the project (else ``NotFound``) and may report for it (else
    ``PermissionDenied``); every field is checked before anything is written and all field
    problems come back together (``ValidationFailed``); each file is checked by content
    (``check_evidence``); the project row is locked and must be active (``Conflict``); the
    referenced uploads are locked and must be the actor's own, of this project and not
    expired (422 otherwise); the files are written before the rows and removed again if the
    transaction fails; one ``MeasurementEvidence`` row per file, and the audit event lists
    each file's name and SHA-256, in the same transaction.
    Idempotency of API calls is the API layer's (``Idempotency-Key``).
    """
    project = kpi.project
    _require_visible(actor, project)
    _require(can_record_measurement(actor, project))
    problems = Problems()
    number = clean_value(problems, "value", value)
    when = clean_measured_at(problems, "measured_at", measured_at, now=timezone.now())
    text = clean_note(problems, "note", note)
    ids = _upload_ids(problems, evidence_ids)
    if source not in MeasurementSource.values:
        problems.add("source", _("Unknown source."))
    if problems:
        raise ValidationFailed(
            _("The measurement has errors; see the fields."), errors=problems.as_dict()
        )
    assert number is not None and when is not None
    uploads = _as_uploads(evidence)
    checked = check_evidence_files(uploads)
    stored: list[StoredEvidence] = []
    try:
        for upload, item in zip(uploads, checked, strict=True):
            stored.append(store_evidence(upload, project.pk, item))
        with transaction.atomic():
            locked = Project.objects.select_for_update(of=("self",), no_key=True).get(pk=project.pk)
            require_active(locked)
            taken = _take_uploads(actor, locked, ids)
            measurement = Measurement.objects.create(
                project=locked,
                kpi=kpi,
                value=number,
                measured_at=when,
                note=text,
                source=source,
                **_actor_fields(actor),
            )
            files = _evidence_rows(measurement, [*stored, *taken])
            audit_record(
                actor=actor,
                action="measurement.recorded",
                obj=measurement,
                after={
                    **measurement_snapshot(measurement),
                    "project": locked.pk,
                    "evidence_files": evidence_listed(files),
                },
            )
            project_event_for(
                "measurement.created", measurement, project_id=locked.pk, data=measurement_data
            )
    except BaseException:
        remove_stored(stored)
        raise
    return measurement


def measurement_evidence_add(
    *, measurement: Measurement, actor: Actor, evidence: Any = None, evidence_ids: Any = None
) -> list[MeasurementEvidence]:
    """Add evidence files to a measurement already recorded (§22), e.g. the lab report
    that arrived after the reading.

    Who may: whoever may report measurements for the project (404 for those who do not see
    it). At least one file, each checked by content. Locks the KPI's gate, then the
    project, then the measurement (the order of ``measurement_reject``); refused
    (``Conflict``) for a rejected measurement, a project no longer active, or when the gate
    whose window holds it has been decided. The files join the measurement's others,
    immutable like them; the audit event ``measurement.evidence_added`` lists each file's
    name and SHA-256, and the same event goes to the project's organisations.
    """
    project = measurement.project
    _require_visible(actor, project)
    _require(can_record_measurement(actor, project))
    problems = Problems()
    ids = _upload_ids(problems, evidence_ids)
    if problems:
        raise ValidationFailed(_("Check the evidence files."), errors=problems.as_dict())
    uploads = _as_uploads(evidence)
    if not uploads and not ids:
        message = _("Choose at least one evidence file.")
        raise ValidationFailed(message, errors={"evidence": [message]})
    checked = check_evidence_files(uploads)
    stored: list[StoredEvidence] = []
    try:
        for upload, item in zip(uploads, checked, strict=True):
            stored.append(store_evidence(upload, project.pk, item))
        with transaction.atomic():
            gate = (
                Gate.objects.select_for_update(of=("self",), no_key=True)
                .select_related("stage")
                .filter(stage__kpis__pk=measurement.kpi_id)
                .first()
            )
            locked_project = Project.objects.select_for_update(of=("self",), no_key=True).get(
                pk=project.pk
            )
            locked = Measurement.objects.select_for_update(of=("self",), no_key=True).get(
                pk=measurement.pk
            )
            if locked.rejected_at is not None:
                raise Conflict(
                    _("This measurement was rejected; evidence can no longer be added to it."),
                    code="measurement_rejected",
                )
            require_active(locked_project)
            if _decided_gate_holding(locked, gate):
                raise Conflict(
                    _(
                        "The gate this measurement counts for has been decided; evidence can "
                        "no longer be added to it."
                    ),
                    code="gate_decided",
                )
            taken = _take_uploads(actor, locked_project, ids)
            files = _evidence_rows(locked, [*stored, *taken])
            audit_record(
                actor=actor,
                action="measurement.evidence_added",
                obj=locked,
                after={"evidence_files": evidence_listed(files), "count": len(files)},
            )
            project_event_for(
                "measurement.evidence_added",
                locked,
                project_id=locked.project_id,
                data=lambda m: {
                    **measurement_data(m),
                    "evidence_files": [evidence_file_data(f) for f in files],
                },
            )
    except BaseException:
        remove_stored(stored)
        raise
    return files


def evidence_upload(*, project: Project, actor: Actor, upload: Any) -> EvidenceUpload:
    """Upload one evidence file ahead of its measurement (§14, "by reference").

    Who may: whoever may report measurements for the (visible, active) project. The file is
    checked by content and stored like any evidence file; the row is held for the uploader
    alone (the same person, or the same API key) for ``EVIDENCE_UPLOAD_HOLD``, until a
    measurement names it in ``evidence_ids``; ``evidence_uploads_expire`` removes it and its
    file afterwards. Audited.
    """
    _require_visible(actor, project)
    _require(can_record_measurement(actor, project))
    if upload is None:
        message = _("No file was submitted.")
        raise ValidationFailed(message, errors={"file": [message]})
    checked = check_evidence(upload, field="file")
    stored = store_evidence(upload, project.pk, checked)
    try:
        with transaction.atomic():
            locked = Project.objects.select_for_update(of=("self",), no_key=True).get(pk=project.pk)
            require_active(locked)
            now = timezone.now()
            row = EvidenceUpload.objects.create(
                project=locked,
                name=stored.name,
                storage=stored.storage,
                content_type=stored.content_type,
                size=stored.size,
                sha256=stored.sha256,
                created_at=now,
                expires_at=now + EVIDENCE_UPLOAD_HOLD,
                uploaded_by=actor if isinstance(actor, User) else None,
                uploaded_by_api_key=actor if isinstance(actor, ApiKey) else None,
            )
            audit_record(
                actor=actor,
                action="measurement_evidence.uploaded",
                obj=row,
                after={"project": locked.pk, "name": row.name, "sha256": row.sha256},
            )
    except BaseException:
        remove_stored([stored])
        raise
    return row


def evidence_uploads_expire(*, now: datetime | None = None) -> int:
    """Remove the uploads no measurement took in time, and their files (§14).

    Set-based: one statement picks and deletes the expired rows (skipping any a measurement
    is taking at this moment), their files are removed after the commit. Idempotent: a
    second run finds nothing. Returns how many were removed.
    """
    moment = now or timezone.now()
    with transaction.atomic():
        expired = list(
            EvidenceUpload.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(expires_at__lte=moment)
            .values_list("pk", "storage")
        )
        if not expired:
            return 0
        EvidenceUpload.objects.filter(pk__in=[pk for pk, _storage in expired]).delete()
        removed = [
            StoredEvidence(name="", storage=storage, content_type="", size=0, sha256="")
            for _pk, storage in expired
        ]
        transaction.on_commit(lambda: remove_stored(removed))
    return len(expired)


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
