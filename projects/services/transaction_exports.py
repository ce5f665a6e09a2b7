"""Exports of the ledger's transactions as CSV, of any size, written in Celery (§9, §15).

``transaction_export_request`` queues a ``TransactionExport`` for a finance reader; the
task ``export_transactions(export_id)`` calls ``transaction_export_run``, which writes the
file in batches (``projects.selectors.finance_csv``), committing its progress after each
so the page's progress bar can poll it. Only the requester may download the file
(``transaction_export_download``), until it expires; ``transaction_exports_tidy`` (beat)
deletes expired files and fails exports stuck queued or running for too long.

Every step is an audit event of a registered type (``transaction_export.*``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from fundapp.accounts.models import User
from fundapp.audit.services import AuditEntry, audit_record, audit_record_many
from fundapp.errors import NotFound
from fundapp.ledger.models import Entry
from projects.models.exports import EXPORT_WORKFLOW, ExportState, TransactionExport
from projects.selectors.finance import finance_currencies, transaction_entries
from projects.selectors.finance_csv import transaction_csv_batches

logger = logging.getLogger(__name__)

# How long a finished file may be downloaded.
EXPORT_LIFETIME = timedelta(hours=24)
# An export queued or running longer than this is given up (its worker is gone).
EXPORT_STUCK_AFTER = timedelta(hours=2)
# A queued export whose message may have been lost is enqueued again after this.
EXPORT_REQUEUE_AFTER = timedelta(minutes=5)
FILTER_KEYS = ("kind", "currency", "date_from", "date_to")


def _stored_filters(filters: Mapping[str, Any]) -> dict[str, str]:
    """The filter as JSON: strings, dates as ISO days, empty values left out."""
    stored = {}
    for key in FILTER_KEYS:
        value = filters.get(key)
        if isinstance(value, date):
            value = value.isoformat()
        if value:
            stored[key] = str(value)
    return stored


def _loaded_filters(stored: Mapping[str, str]) -> dict[str, Any]:
    loaded: dict[str, Any] = dict(stored)
    for key in ("date_from", "date_to"):
        if loaded.get(key):
            loaded[key] = date.fromisoformat(loaded[key])
    return loaded


def export_path(export: TransactionExport) -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT) / export.storage_name


def get_export_for_requester(actor: Any, pk: object) -> TransactionExport:
    """The export, if ``actor`` requested it; ``NotFound`` for missing and not theirs alike."""
    try:
        number = int(str(pk))
    except ValueError:
        raise NotFound() from None
    export = (
        TransactionExport.objects.filter(pk=number, requested_by_id=getattr(actor, "pk", None))
        .select_related("requested_by")
        .first()
    )
    if export is None or not isinstance(actor, User) or not finance_currencies(actor):
        raise NotFound()
    return export


RECENT_EXPORTS = 5


def recent_exports_of(actor: User) -> list[TransactionExport]:
    """The reader's latest exports that are not expired, newest first (one query)."""
    return list(
        TransactionExport.objects.filter(requested_by=actor)
        .exclude(state=ExportState.EXPIRED)
        .order_by("-created_at", "-id")[:RECENT_EXPORTS]
    )


def transaction_export_request(*, actor: User, filters: Mapping[str, Any]) -> TransactionExport:
    """Queue an export of the transactions matching ``filters`` (the transactions page's
    cleaned filter) for ``actor``; returned at once.

    Guarantees: only a finance reader (a fund officer, or a finance officer of a side) may
    ask (``NotFound`` otherwise, like the pages); the row and its
    ``transaction_export.requested`` audit event commit together, and the task is enqueued
    after the commit (robustly: with the broker down the request still succeeds and the
    tidying job enqueues it again).
    """
    if not finance_currencies(actor):
        raise NotFound()
    with transaction.atomic():
        export = TransactionExport.objects.create(
            requested_by=actor,
            filters=_stored_filters(filters),
            language=(translation.get_language() or settings.LANGUAGE_CODE)[:8],
        )
        audit_record(
            actor=actor,
            action="transaction_export.requested",
            obj=export,
            after={"state": export.state, "filters": export.filters, "language": export.language},
        )
        from projects.tasks import export_transactions

        export_id = export.pk
        transaction.on_commit(lambda: export_transactions.delay(export_id), robust=True)
    return export


def _fail(export_id: int, message: str, *, now: datetime | None = None) -> TransactionExport:
    with transaction.atomic():
        export = TransactionExport.objects.select_for_update(of=("self",)).get(pk=export_id)
        if export.finished:
            return export
        before = EXPORT_WORKFLOW.move(export, ExportState.FAILED, actor=None)
        export.message = message
        export.finished_at = now or timezone.now()
        export.save(update_fields=["state", "message", "finished_at"])
        audit_record(
            actor=None,
            action="transaction_export.failed",
            obj=export,
            before={"state": before},
            after={"state": export.state, "message": message},
        )
    return export


def _write(export: TransactionExport, currencies: tuple[str, ...]) -> tuple[str, int, int]:
    """Write the file in batches, committing progress after each; returns its storage
    name, size and rows. Only entries that exist when the export starts are written."""
    entries = transaction_entries(_loaded_filters(export.filters), currencies)
    last_id = Entry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    entries = entries.filter(id__lte=last_id)
    total = entries.count()
    TransactionExport.objects.filter(pk=export.pk).update(progress_total=total, progress_done=0)
    storage_name = f"exports/transactions/{export.pk}/{uuid.uuid4().hex}.csv"
    target = Path(settings.PRIVATE_MEDIA_ROOT) / storage_name
    target.parent.mkdir(parents=True, exist_ok=True)
    done = 0
    try:
        with target.open("w", encoding="utf-8", newline="") as out:
            for text, rows in transaction_csv_batches(entries):
                out.write(text)
                if rows:
                    done += rows
                    TransactionExport.objects.filter(pk=export.pk).update(
                        progress_done=min(done, total)
                    )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return storage_name, target.stat().st_size, done


def transaction_export_run(*, export_id: int) -> TransactionExport | None:
    """Run a queued export: write the CSV in the requester's language, then mark it
    completed with its file and its expiry.

    Idempotent and safe under redelivery: a finished export is left alone; one left
    ``running`` by a worker that died is written again from the start (its partial file is
    never offered); completing happens under the row lock, so two workers on one export
    complete it once (the later one's file is removed). The requester's right to read the
    ledger is checked again when the export runs: an officer who lost it gets a failed
    export, not the file. A database or broker error is raised for Celery to retry; any
    other error fails the export with a message.
    """
    with transaction.atomic():
        export = (
            TransactionExport.objects.select_for_update(of=("self",))
            .select_related("requested_by")
            .filter(pk=export_id)
            .first()
        )
        if export is None or export.finished:
            return export
        before = EXPORT_WORKFLOW.move(export, ExportState.RUNNING, actor=None)
        export.started_at = timezone.now()
        export.progress_done = 0
        export.save(update_fields=["state", "started_at", "progress_done"])
        audit_record(
            actor=None,
            action="transaction_export.started",
            obj=export,
            before={"state": before},
            after={"state": export.state, "restarted": before == ExportState.RUNNING},
        )
    with translation.override(export.language or settings.LANGUAGE_CODE):
        wanted = export.filters.get("currency")
        currencies = tuple(
            c for c in finance_currencies(export.requested_by) if not wanted or c == wanted
        )
        if not finance_currencies(export.requested_by):
            return _fail(export_id, _("You may no longer see the ledger; nothing was exported."))
        try:
            storage_name, size, rows = _write(export, currencies)
        except (OperationalError, InterfaceError):
            raise
        except Exception:
            logger.exception("transaction export %s failed", export_id)
            return _fail(export_id, _("The export could not be written; ask for it again."))
        with transaction.atomic():
            locked = TransactionExport.objects.select_for_update(of=("self",)).get(pk=export_id)
            if locked.state != ExportState.RUNNING:
                (Path(settings.PRIVATE_MEDIA_ROOT) / storage_name).unlink(missing_ok=True)
                return locked
            EXPORT_WORKFLOW.move(locked, ExportState.COMPLETED, actor=None)
            now = timezone.now()
            locked.storage_name = storage_name
            locked.size = size
            locked.progress_total = max(locked.progress_total, rows)
            locked.progress_done = rows
            locked.finished_at = now
            locked.expires_at = now + EXPORT_LIFETIME
            locked.message = _("%(n)d row(s) exported.") % {"n": rows}
            locked.save(
                update_fields=[
                    "state",
                    "storage_name",
                    "size",
                    "progress_total",
                    "progress_done",
                    "finished_at",
                    "expires_at",
                    "message",
                ]
            )
            audit_record(
                actor=None,
                action="transaction_export.completed",
                obj=locked,
                before={"state": ExportState.RUNNING},
                after={"state": locked.state, "rows": rows, "size": size},
            )
    return locked


def transaction_export_download(*, export: TransactionExport, actor: User) -> Path:
    """The file of a completed export, for its requester alone (``NotFound`` otherwise, and
    for an export that is not completed or whose file is gone); audited
    (``transaction_export.downloaded``)."""
    if export.requested_by_id != actor.pk or export.state != ExportState.COMPLETED:
        raise NotFound()
    if export.expires_at is not None and export.expires_at <= timezone.now():
        raise NotFound()
    path = export_path(export)
    if not path.is_file():
        raise NotFound()
    audit_record(
        actor=actor,
        action="transaction_export.downloaded",
        obj=export,
        after={"rows": export.progress_done, "size": export.size},
    )
    return path


def transaction_exports_tidy(*, now: datetime | None = None) -> dict[str, list[int]]:
    """The beat job: delete the files of exports past their expiry (→ ``expired``), give up
    exports queued or running for longer than ``EXPORT_STUCK_AFTER`` (→ ``failed``), and
    enqueue again the exports still queued after ``EXPORT_REQUEUE_AFTER`` (a lost message).

    Works on sets: the rows of each kind are locked in ``pk`` order in one query, moved in
    one UPDATE and audited in one insert. The files are deleted after the commit.
    """
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            TransactionExport.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(state=ExportState.COMPLETED, expires_at__lte=now)
            .order_by("pk")
        )
        stuck = list(
            TransactionExport.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(
                Q(state=ExportState.QUEUED, created_at__lte=now - EXPORT_STUCK_AFTER)
                | Q(state=ExportState.RUNNING, started_at__lte=now - EXPORT_STUCK_AFTER)
            )
            .order_by("pk")
        )
        stuck_in = {row.pk: row.state for row in stuck}
        for row in expired:
            EXPORT_WORKFLOW.move(row, ExportState.EXPIRED, actor=None)
        for row in stuck:
            EXPORT_WORKFLOW.move(row, ExportState.FAILED, actor=None)
        if expired:
            TransactionExport.objects.filter(pk__in=[r.pk for r in expired]).update(
                state=ExportState.EXPIRED
            )
        if stuck:
            TransactionExport.objects.filter(pk__in=[r.pk for r in stuck]).update(
                state=ExportState.FAILED,
                finished_at=now,
                message=_("The export took too long and was given up; ask for it again."),
            )
        audit_record_many(
            [
                AuditEntry(
                    actor=None,
                    action="transaction_export.expired",
                    obj=row,
                    before={"state": ExportState.COMPLETED},
                    after={"state": ExportState.EXPIRED},
                )
                for row in expired
            ]
            + [
                AuditEntry(
                    actor=None,
                    action="transaction_export.failed",
                    obj=row,
                    before={"state": stuck_in[row.pk]},
                    after={"state": ExportState.FAILED, "reason": "stuck"},
                )
                for row in stuck
            ]
        )
        paths = [export_path(row) for row in expired if row.storage_name]

        def delete_files() -> None:
            for path in paths:
                path.unlink(missing_ok=True)

        transaction.on_commit(delete_files)
    requeue = list(
        TransactionExport.objects.filter(
            state=ExportState.QUEUED, created_at__lte=now - EXPORT_REQUEUE_AFTER
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    from projects.tasks import export_transactions

    for export_id in requeue:
        export_transactions.delay(export_id)
    return {
        "expired": [r.pk for r in expired],
        "failed": [r.pk for r in stuck],
        "requeued": requeue,
    }
