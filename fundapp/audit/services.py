"""Writing the audit trail (§12).

An event is appended with the SHA-256 of its own canonical JSON only: no lock is shared
with any other transaction, so audited writes never queue behind each other. The sealing
job (``fundapp.audit.sealing``) links committed events into the chain shortly after they
commit; ``verify_chain`` (``fundapp.audit.verification``) checks both.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .context import RequestContext, current_request_context
from .hashing import GENESIS_HASH, canonical_payload, compute_hash
from .models import AuditEvent
from .verification import ChainReport, verify_chain

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "ChainReport",
    "audit_record",
    "audit_record_many",
    "canonical_payload",
    "compute_hash",
    "history_for",
    "to_jsonable",
    "verify_chain",
]

logger = logging.getLogger(__name__)

# After a commit the sealer runs this many seconds later; one process enqueues it at most
# once per window, since that one run seals everything committed before it starts.
SEAL_DELAY_SECONDS = 1.0
_seal_window_lock = threading.Lock()
_seal_enqueued_until = 0.0

_NEXT_IDS_SQL = (
    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s) ORDER BY 1"
)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def to_jsonable(value: Any) -> Any:
    """Normalise a before/after payload to what JSON stores and reads back unchanged."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=_json_default, ensure_ascii=False))


@dataclass(frozen=True)
class AuditEntry:
    """One event to append with ``audit_record_many``: the arguments of ``audit_record``."""

    actor: Any
    action: str
    obj: Any = None
    object_type: str | None = None
    object_id: Any = None
    before: Any = None
    after: Any = None


def _new_event(
    entry: AuditEntry, *, event_id: int, now: datetime, ctx: RequestContext
) -> AuditEvent:
    from fundapp.accounts.models import ApiKey, User

    object_type, object_id = entry.object_type, entry.object_id
    if entry.obj is not None:
        object_type = object_type or entry.obj._meta.label_lower
        object_id = entry.obj.pk if object_id is None else object_id
    actor = entry.actor
    event = AuditEvent(
        id=event_id,
        occurred_at=now,
        actor_user=actor if isinstance(actor, User) else None,
        actor_api_key=actor if isinstance(actor, ApiKey) else None,
        actor_label=str(actor) if actor is not None else "system",
        action=entry.action,
        object_type=object_type or "",
        object_id=str(object_id if object_id is not None else ""),
        before=to_jsonable(entry.before),
        after=to_jsonable(entry.after),
        request_id=ctx.request_id,
        client_address=ctx.client_address,
        prev_hash="",
        hash="",
    )
    event.hash = compute_hash(event)
    return event


def _next_ids(count: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_IDS_SQL, [AuditEvent._meta.db_table, count])
        return [row[0] for row in cursor.fetchall()]


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: Any = None,
    object_type: str | None = None,
    object_id: Any = None,
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction.

    Guarantees: the event commits or rolls back with the change it describes; it stores
    the hash of its own content (id included) and takes no lock, so unrelated audited
    writes never wait for each other. Two queries (id from the sequence, insert). After
    commit the sealer is enqueued (at most once per transaction, never failing the write),
    which links the event into the chain.
    """
    entry = AuditEntry(actor, action, obj, object_type, object_id, before, after)
    [event_id] = _next_ids(1)
    event = _new_event(entry, event_id=event_id, now=timezone.now(), ctx=current_request_context())
    AuditEvent.objects.bulk_create([event])
    _seal_after_commit()
    return event


def audit_record_many(entries: Sequence[AuditEntry]) -> list[AuditEvent]:
    """Append several events inside the caller's transaction, in the given order.

    The set-based counterpart of ``audit_record`` for batch jobs: two queries whatever the
    number of entries (ids from the sequence in one query, one bulk insert); ids ascend in
    the order given. Same guarantees as ``audit_record``.
    """
    if not entries:
        return []
    ids = _next_ids(len(entries))
    now = timezone.now()
    ctx = current_request_context()
    events = [
        _new_event(entry, event_id=event_id, now=now, ctx=ctx)
        for event_id, entry in zip(ids, entries, strict=True)
    ]
    AuditEvent.objects.bulk_create(events)
    _seal_after_commit()
    return events


def _seal_after_commit() -> None:
    """Enqueue the sealer when the current transaction commits, at most once per transaction."""
    conn = transaction.get_connection()
    if conn.in_atomic_block and any(
        func is _enqueue_seal for _sids, func, _robust in conn.run_on_commit
    ):
        return
    # robust: a broker outage must not turn a committed write into an error; the beat
    # schedule seals the event a minute later at worst.
    transaction.on_commit(_enqueue_seal, robust=True)


def _enqueue_seal() -> None:
    global _seal_enqueued_until
    now = time.monotonic()
    with _seal_window_lock:
        if now < _seal_enqueued_until:
            return  # a run is already due after this commit: it will seal this event too
        _seal_enqueued_until = now + SEAL_DELAY_SECONDS
    from .tasks import seal_chain

    seal_chain.apply_async(countdown=SEAL_DELAY_SECONDS)


def history_for(obj: Any):
    return AuditEvent.objects.filter(
        object_type=obj._meta.label_lower, object_id=str(obj.pk)
    ).order_by("id")
