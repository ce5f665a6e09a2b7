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

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Role, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.problems import Problems
from fundapp.notifications.outbox import event_record
from fundapp.uploads.content import is_utf8_text, upload_chunks
from fundapp.uploads.pdf import check_pdf_upload
from projects.events import deliverable_data
from projects.models import (
    Deliverable,
    DeliverableFile,
    DeliverableState,
    Project,
    ProjectState,
    Stage,
    StageState,
)
from projects.models.deliverables import DELIVERABLE_WORKFLOW
from projects.permissions import can_decide_deliverable, can_submit_deliverable
from projects.services.notices import notify_people, officers, project_organisation_ids

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
    target = Path(settings.PRIVATE_MEDIA_ROOT) / storage
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for chunk in upload_chunks(checked.upload):
            digest.update(chunk)
            out.write(chunk)
    checked.upload.seek(0)
    return storage, digest.hexdigest()


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
