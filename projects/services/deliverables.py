"""Deliverables (§24): the consortium submits files and a note, a fund officer accepts the
submission or requests changes with a reason, and the consortium submits again.

Every move goes through the workflow kernel (``DELIVERABLE_WORKFLOW``: the row locked, the
table and the actor checked, the state saved, the audit event written) and, in the same
transaction, writes its outbox event for the project's organisations and tells the people
concerned: the fund officers of a submission, the project's named researchers of the
answer. A mandatory deliverable that is not accepted holds its stage's gate
(``projects.services.decisions``).

Files are checked by their content (PDF, UTF-8 text such as CSV, PNG, JPEG, ZIP), ≤ 20 MB
each and at most ``MAX_FILES`` a submission; they are written outside the web root before
the rows and removed again if the transaction fails; the rows are immutable and carry the
SHA-256 of the bytes, which the audit event records.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Role, User
from fundapp.actors import Actor
from fundapp.audit.services import AuditEntry, audit_record, audit_record_many
from fundapp.errors import Conflict, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.private_files import private_file_write
from fundapp.kernel.problems import Problems
from fundapp.notifications.outbox import Event, event_record, event_record_many
from fundapp.rows import rows_update
from fundapp.uploads.content import is_utf8_text
from fundapp.uploads.pdf import check_pdf_upload
from projects.events import deliverable_data
from projects.models import (
    Deliverable,
    DeliverableFile,
    DeliverableReminder,
    DeliverableState,
    Project,
    ProjectState,
    ReminderKind,
    Stage,
    StageState,
)
from projects.models.deliverables import DELIVERABLE_WORKFLOW
from projects.permissions import can_decide_deliverable, can_submit_deliverable
from projects.rules.schedule import deliverable_due_after_extension, deliverable_due_on
from projects.services.notices import (
    PeopleNotice,
    notify_people,
    notify_people_many,
    officers,
    project_organisation_ids,
    project_pis_many,
)
from projects.services.reminders import reminder_due, reminders_claim

NOTE_MAX_LENGTH = 4000
REASON_MAX_LENGTH = 4000
MAX_FILES = 10

# What a file's first bytes say it is, and how it is stored and served.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "pdf", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
    (b"PK\x03\x04", "zip", "application/zip"),
)
TEXT = ("txt", "text/plain; charset=utf-8")


@dataclass(frozen=True)
class CheckedFile:
    upload: Any
    name: str
    extension: str
    content_type: str
    size: int


def check_deliverable_file(upload: Any) -> CheckedFile:
    """One file of a submission, by content: a PDF (complete, without active content), a
    PNG, a JPEG, a ZIP archive or UTF-8 text (CSV, plain text); ≤ 20 MB (413), not empty
    (422); anything else answers 415."""
    size = int(getattr(upload, "size", 0) or 0)
    raw_name = Path(str(getattr(upload, "name", "") or "")).name
    if size > settings.MAX_ATTACHMENT_BYTES:
        message = _("“%(name)s” is larger than 20 MB.") % {"name": raw_name}
        raise PayloadTooLarge(message, errors={"files": [message]})
    if size == 0:
        message = _("“%(name)s” is empty.") % {"name": raw_name}
        raise ValidationFailed(message, errors={"files": [message]})
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    found = next(
        ((ext, ctype) for magic, ext, ctype in _SIGNATURES if head.startswith(magic)), None
    )
    if found is None and is_utf8_text(upload):
        found = TEXT
    if found is None:
        message = _(
            "“%(name)s” is not a PDF, PNG, JPEG, ZIP or UTF-8 text file (checked by its "
            "content, not its name)."
        ) % {"name": raw_name}
        raise UnsupportedMediaType(message, errors={"files": [message]})
    extension, content_type = found
    if extension == "pdf":
        upload.seek(max(0, size - 2048))
        tail = upload.read(2048)
        upload.seek(0)
        if b"%%EOF" not in tail:
            message = _("“%(name)s” is an incomplete PDF file.") % {"name": raw_name}
            raise UnsupportedMediaType(message, errors={"files": [message]})
        check_pdf_upload(upload, field="files")  # active content, trailing data (§17)
    problems = Problems()
    name = inputs.text(problems, "files", raw_name, max_length=200) or f"deliverable.{extension}"
    return CheckedFile(upload, name, extension, content_type, size)


def _store(project_id: int, checked: CheckedFile) -> tuple[str, str]:
    """Write the file outside the web root; return (storage name, SHA-256)."""
    storage = f"deliverables/{project_id}/{uuid.uuid4().hex}.{checked.extension}"
    return storage, private_file_write(storage, checked.upload)


def deliverable_file_path(file: DeliverableFile) -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT) / file.storage


def _url(project_id: int) -> str:
    return reverse("deliverables:project", args=[project_id])


def _event(kind: str, deliverable: Deliverable) -> None:
    files = list(
        DeliverableFile.objects.filter(deliverable=deliverable).order_by("-submission", "id")
    )
    event_record(
        kind=kind,
        obj=deliverable,
        organisation_ids=project_organisation_ids([deliverable.project_id])[deliverable.project_id],
        payload=deliverable_data(deliverable, files),
    )


def _move(
    deliverable: Deliverable,
    target: str,
    *,
    actor: Actor,
    action: str,
    changes: dict[str, Any],
    audit: dict[str, Any] | None = None,
) -> Deliverable:
    """The kernel's move in the caller's transaction: the row re-read locked, the table
    and the actor checked, the state and ``changes`` saved, and the audit event ``action``
    written with the deliverable's title (for the history's sentence) and ``audit``."""
    locked = Deliverable.objects.select_for_update(of=("self",)).get(pk=deliverable.pk)
    before_values = {name: getattr(locked, name) for name in changes}
    before = DELIVERABLE_WORKFLOW.move(locked, target, actor=actor)
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.save(update_fields=["state", *changes])
    audit_record(
        actor=actor,
        action=action,
        obj=locked,
        before={"state": before, **before_values},
        after={
            "state": locked.state,
            "title": locked.title,
            "stage": locked.stage_id,
            **changes,
            **(audit or {}),
        },
    )
    return locked


def _researchers(project_id: int) -> list[User]:
    """The project's named people (its PIs and co-investigators)."""
    return list(
        User.objects.filter(project_roles__project_id=project_id, is_active=True)
        .distinct()
        .order_by("pk")
    )


def deliverable_submit(
    *, deliverable: Deliverable, actor: Actor, note: Any = "", files: list[Any] | None = None
) -> Deliverable:
    """The consortium submits a deliverable (§24): at least one file and an optional note;
    again after an officer requested changes.

    Guarantees: the actor may submit for the project (``PermissionDenied`` otherwise; the
    caller has checked that they see it); every field is checked before anything is
    written (``ValidationFailed``, 413, 415); the project must be active and the stage
    started (``Conflict``); the move pending / changes_requested → submitted is the
    kernel's (row locked, table checked, audited ``deliverable.submitted`` with each
    file's name and SHA-256); files are stored before the rows and removed if the
    transaction fails; the outbox event ``deliverable.submitted`` and the fund officers'
    notification are written in the same transaction.
    """
    project = deliverable.project
    _require(can_submit_deliverable(actor, project))
    problems = Problems()
    text = inputs.text(problems, "note", note, max_length=NOTE_MAX_LENGTH)
    uploads = list(files or [])
    if not uploads:
        problems.add("files", _("Attach at least one file."))
    elif len(uploads) > MAX_FILES:
        problems.add("files", _("At most %(n)d files per submission.") % {"n": MAX_FILES})
    if problems:
        raise ValidationFailed(
            _("The submission has errors; see the fields."), errors=problems.as_dict()
        )
    checked = [check_deliverable_file(upload) for upload in uploads]
    stored: list[tuple[CheckedFile, str, str]] = []
    try:
        for item in checked:
            storage, digest = _store(project.pk, item)
            stored.append((item, storage, digest))
        with transaction.atomic():
            locked_project = Project.objects.select_for_update(of=("self",), no_key=True).get(
                pk=project.pk
            )
            if locked_project.state != ProjectState.ACTIVE:
                raise Conflict(
                    _(
                        "This project is “%(state)s”; deliverables are submitted only while it is active."
                    )
                    % {"state": ProjectState(locked_project.state).label},
                    code="invalid_state",
                )
            stage = Stage.objects.get(pk=deliverable.stage_id)
            if stage.state == StageState.PLANNED:
                raise Conflict(
                    _(
                        "Stage %(number)d has not started; its deliverables are submitted once it runs."
                    )
                    % {"number": stage.number},
                    code="stage_not_started",
                )
            current = Deliverable.objects.get(pk=deliverable.pk)
            submission = current.submissions + 1
            moved = _move(
                current,
                DeliverableState.SUBMITTED,
                actor=actor,
                action="deliverable.submitted",
                changes={
                    "submissions": submission,
                    "note": text,
                    "submitted_at": timezone.now(),
                    "submitted_by_id": actor.pk if isinstance(actor, User) else None,
                    "submitted_by_api_key_id": actor.pk if isinstance(actor, ApiKey) else None,
                    "decided_at": None,
                    "decided_by_id": None,
                    "reason": "",
                },
                audit={
                    "files": [
                        {"name": item.name, "size": item.size, "sha256": digest}
                        for item, _storage, digest in stored
                    ]
                },
            )
            DeliverableFile.objects.bulk_create(
                DeliverableFile(
                    deliverable=moved,
                    submission=submission,
                    name=item.name,
                    storage=storage,
                    content_type=item.content_type,
                    size=item.size,
                    sha256=digest,
                )
                for item, storage, digest in stored
            )
            _event("deliverable.submitted", moved)
            notify_people(
                users=officers(roles=[Role.FUND_OFFICER]),
                message="deliverable.submitted",
                params={"deliverable": moved.pk, "project": moved.project_id},
                url=_url(moved.project_id),
            )
    except BaseException:
        for _item, storage, _digest in stored:
            (Path(settings.PRIVATE_MEDIA_ROOT) / storage).unlink(missing_ok=True)
        raise
    return moved


def deliverable_accept(*, deliverable: Deliverable, actor: Actor) -> Deliverable:
    """A fund officer accepts a submitted deliverable (§24). The kernel moves it (row
    locked, audited ``deliverable.accepted``); the outbox event and the notification to the
    project's researchers go in the same transaction. Refused: non-officers
    (``PermissionDenied``), a deliverable not awaiting acceptance (``Conflict``)."""
    _require(can_decide_deliverable(actor))
    with transaction.atomic():
        moved = _move(
            deliverable,
            DeliverableState.ACCEPTED,
            actor=actor,
            action="deliverable.accepted",
            changes={
                "decided_at": timezone.now(),
                "decided_by_id": actor.pk if isinstance(actor, User) else None,
                "reason": "",
            },
        )
        _event("deliverable.accepted", moved)
        notify_people(
            users=_researchers(moved.project_id),
            message="deliverable.accepted",
            params={"deliverable": moved.pk, "project": moved.project_id},
            url=_url(moved.project_id),
        )
    return moved


def deliverable_request_changes(
    *, deliverable: Deliverable, actor: Actor, reason: Any
) -> Deliverable:
    """A fund officer sends a submitted deliverable back with a reason (§24); the
    consortium submits it again. Same guarantees as ``deliverable_accept``; audited
    ``deliverable.changes_requested`` with the reason; a missing reason answers 422."""
    _require(can_decide_deliverable(actor))
    problems = Problems()
    text = inputs.text(problems, "reason", reason, max_length=REASON_MAX_LENGTH, required=True)
    if problems:
        raise ValidationFailed(_("Say what needs to change."), errors=problems.as_dict())
    with transaction.atomic():
        moved = _move(
            deliverable,
            DeliverableState.CHANGES_REQUESTED,
            actor=actor,
            action="deliverable.changes_requested",
            changes={
                "decided_at": timezone.now(),
                "decided_by_id": actor.pk if isinstance(actor, User) else None,
                "reason": text,
            },
        )
        _event("deliverable.changes_requested", moved)
        notify_people(
            users=_researchers(moved.project_id),
            message="deliverable.changes_requested",
            params={"deliverable": moved.pk, "project": moved.project_id, "reason": text},
            url=_url(moved.project_id),
        )
    return moved


# --------------------------------------------------------------------------- due dates


@dataclass(frozen=True)
class StageDates:
    """Where a stage now lies: its start (actual, or provisional for a planned stage) and
    its gate day; ``extended_by`` the months a gate extension has just added to it."""

    stage_id: int
    started_on: date
    gate_day: date
    extended_by: int = 0


def deliverables_follow_stages(*, stages: Sequence[StageDates]) -> list[dict[str, Any]]:
    """Re-date the deliverables of stages that moved (§24): a deliverable is due
    ``due_month`` months into its stage, so when the stage starts later than planned (or
    a planned stage is re-chained behind a later gate) its due date is recomputed from the
    new start, never after the gate day; when a gate extension moves the stage's gate, its
    outstanding deliverables move by the extension's months, never past the new gate day.

    Guarantees: runs in the caller's transaction, which holds the stages' locks (gate →
    project → stage order); accepted deliverables keep their date (their due date is part
    of a closed record); the rows are locked in ``pk`` order and written in one
    statement: two queries for any number of stages, none for no stage. Returns what
    moved, for the caller's audit event (``[{"stage", "deliverable", "from", "to"}]``, in
    ``pk`` order); a new due date is reminded of afresh
    (``deliverable_reminders_send``).
    """
    by_stage = {s.stage_id: s for s in stages}
    if not by_stage:
        return []
    rows = list(
        Deliverable.objects.select_for_update(of=("self",))
        .filter(stage_id__in=sorted(by_stage))
        .exclude(state=DeliverableState.ACCEPTED)
        .order_by("pk")
        .only("pk", "stage_id", "due_month", "due_on")
    )
    moved: list[dict[str, Any]] = []
    changed: list[Deliverable] = []
    for row in rows:
        dates = by_stage[row.stage_id]
        if dates.extended_by:
            due = deliverable_due_after_extension(row.due_on, dates.extended_by, dates.gate_day)
        else:
            due = deliverable_due_on(dates.started_on, row.due_month, dates.gate_day)
        if due != row.due_on:
            moved.append(
                {"stage": row.stage_id, "deliverable": row.pk, "from": row.due_on, "to": due}
            )
            row.due_on = due
            changed.append(row)
    rows_update(Deliverable, changed, ["due_on"])
    return moved


# --------------------------------------------------------------------------- reminders

# 7 and 1 days before the due date (the 7-day reminder still from 7 down to 2 days before
# when the job missed its day, the 1-day one the day before and on the day itself), then
# once overdue.
REMINDER_WINDOWS: tuple[tuple[str, int, int], ...] = (
    (ReminderKind.DAYS_7, 2, 7),
    (ReminderKind.DAYS_1, 0, 1),
)
# What the consortium still owes: nothing submitted yet, or changes requested.
OWED_STATES = (DeliverableState.PENDING, DeliverableState.CHANGES_REQUESTED)
# Stages whose deliverables can be submitted (a planned stage's wait for it).
RUNNING_STAGE_STATES = (StageState.ACTIVE, StageState.EXTENDED, StageState.GATE_PENDING)


def deliverable_reminders_send(*, today: date) -> dict[str, list[int]]:
    """Remind the project's PIs of every deliverable the consortium still owes (not
    submitted, or sent back for changes) of a running stage of an active project: 7 and 1
    days before its due date, and once overdue, with the outbox event
    ``deliverable.overdue`` for the project's organisations. ``today`` is the fund's
    (Asia/Tokyo) day.

    Idempotent: each (deliverable, due date, kind) is one ``DeliverableReminder`` row,
    inserted with ``ON CONFLICT DO NOTHING`` in the same transaction as its notifications,
    audit and outbox events, so a rerun, a redelivered task or a concurrent worker sends
    nothing twice; a re-dated deliverable (its stage moved) is reminded of its new date.
    Set-based: a fixed number of queries whatever the number of deliverables. Returns the
    deliverable ids reminded, by kind.
    """
    sent: dict[str, list[int]] = {
        str(k): [] for k in (ReminderKind.DAYS_7, ReminderKind.DAYS_1, ReminderKind.OVERDUE)
    }
    already_overdue = DeliverableReminder.objects.filter(
        deliverable=OuterRef("pk"), due_on=OuterRef("due_on"), kind=ReminderKind.OVERDUE
    )
    candidates = (
        Deliverable.objects.filter(
            project__state=ProjectState.ACTIVE,
            stage__state__in=RUNNING_STAGE_STATES,
            state__in=OWED_STATES,
            due_on__lte=today + timedelta(days=max(high for _k, _l, high in REMINDER_WINDOWS)),
        )
        .exclude(Exists(already_overdue))
        .order_by("pk")
    )
    owed: list[tuple[Deliverable, str]] = []
    for row in candidates:
        kind = reminder_due((row.due_on - today).days, REMINDER_WINDOWS)
        if kind is not None:
            owed.append((row, kind))
    if not owed:
        return sent
    with transaction.atomic():
        inserted = reminders_claim(
            DeliverableReminder,
            owner="deliverable",
            owed=[(row.pk, row.due_on, kind) for row, kind in owed],
        )
        new = [(row, kind) for row, kind in owed if (row.pk, row.due_on, kind) in inserted]
        if not new:
            return sent
        _remind(new, today)
    for row, kind in new:
        sent[kind].append(row.pk)
    return sent


def _remind(new: list[tuple[Deliverable, str]], today: date) -> None:
    """Notifications, audit and outbox events of the reminders just recorded: the PIs, the
    organisations and the overdue ones' files in one query each, then the inserts."""
    project_ids = sorted({row.project_id for row, _kind in new})
    pis = project_pis_many(project_ids)
    overdue = [row for row, kind in new if kind == ReminderKind.OVERDUE]
    notify_people_many(
        PeopleNotice(
            users=pis[row.project_id],
            message="deliverable.overdue" if kind == ReminderKind.OVERDUE else "deliverable.due",
            params={
                "deliverable": row.pk,
                "project": row.project_id,
                "due": row.due_on.isoformat(),
            },
            url=_url(row.project_id),
        )
        for row, kind in new
    )
    audit_record_many(
        [
            AuditEntry(
                actor=None,
                action="deliverable.overdue"
                if kind == ReminderKind.OVERDUE
                else "deliverable.reminder_sent",
                obj=row,
                after={
                    "title": row.title,
                    "stage": row.stage_id,
                    "due_on": row.due_on,
                    "reminder": kind,
                },
            )
            for row, kind in new
        ]
    )
    if not overdue:
        return
    organisations = project_organisation_ids([row.project_id for row in overdue])
    files: dict[int, list[DeliverableFile]] = {row.pk: [] for row in overdue}
    for file in DeliverableFile.objects.filter(deliverable_id__in=sorted(files)).order_by(
        "deliverable_id", "-submission", "id"
    ):
        files[file.deliverable_id].append(file)
    event_record_many(
        [
            Event(
                kind="deliverable.overdue",
                obj=row,
                organisation_ids=organisations[row.project_id],
                payload={
                    **deliverable_data(row, files[row.pk]),
                    "days_overdue": (today - row.due_on).days,
                },
            )
            for row in overdue
        ]
    )
