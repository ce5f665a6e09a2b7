"""Writing and verifying the audit chain (§12)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .context import current_request_context
from .models import AuditEvent

GENESIS_HASH = "0" * 64
# One advisory-lock key serialises appends so the chain has exactly one tail.
_CHAIN_LOCK_KEY = 0x4A4B_4155_4449_54  # "JKAUDIT"


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


def canonical_payload(event: AuditEvent) -> str:
    payload = {
        "id": event.id,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_user": event.actor_user_id,
        "actor_api_key": event.actor_api_key_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "request_id": event.request_id,
        "client_address": event.client_address,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_payload(event).encode()).hexdigest()


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
    """Append one event to the chain inside the caller's transaction.

    Guarantees: the event commits or rolls back with the change it describes; appends are
    serialised by a transaction-level advisory lock so every event links to exactly one
    predecessor.
    """
    from fundapp.accounts.models import ApiKey, User

    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk if object_id is None else object_id
    user = actor if isinstance(actor, User) else None
    api_key = actor if isinstance(actor, ApiKey) else None
    ctx = current_request_context()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event = AuditEvent(
            occurred_at=timezone.now(),
            actor_user=user,
            actor_api_key=api_key,
            actor_label=str(actor) if actor is not None else "system",
            action=action,
            object_type=object_type or "",
            object_id=str(object_id if object_id is not None else ""),
            before=to_jsonable(before),
            after=to_jsonable(after),
            request_id=ctx.request_id,
            client_address=ctx.client_address,
            prev_hash=last or GENESIS_HASH,
            hash="",
        )
        # The id is part of the hashed payload, so take it from the sequence first.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [AuditEvent._meta.db_table]
            )
            event.id = cursor.fetchone()[0]
        event.hash = compute_hash(event)
        event.save(force_insert=True)
    return event


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


def audit_record_many(entries: Sequence[AuditEntry]) -> list[AuditEvent]:
    """Append several events inside the caller's transaction, in the given order.

    The set-based counterpart of ``audit_record`` for batch jobs: a fixed number of
    queries whatever the number of entries (ids from the sequence in one query, one bulk
    insert). Same guarantees as ``audit_record``.
    """
    from fundapp.accounts.models import ApiKey, User

    if not entries:
        return []
    ctx = current_request_context()
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [AuditEvent._meta.db_table, len(entries)],
            )
            ids = sorted(row[0] for row in cursor.fetchall())
        prev = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        events: list[AuditEvent] = []
        for event_id, entry in zip(ids, entries, strict=True):
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
                prev_hash=prev or GENESIS_HASH,
                hash="",
            )
            event.hash = compute_hash(event)
            prev = event.hash
            events.append(event)
        AuditEvent.objects.bulk_create(events)
    return events


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    broken_id: int | None = None
    reason: str = ""


def verify_chain(batch_size: int = 2000) -> ChainReport:
    """Walk the chain in id order; report the first event whose links do not hold."""
    prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return ChainReport(ok=True, checked=checked)
        for event in batch:
            if event.prev_hash != prev:
                return ChainReport(
                    False, checked, event.id, "prev_hash does not match the previous event"
                )
            if compute_hash(event) != event.hash:
                return ChainReport(
                    False, checked, event.id, "hash does not match the event's content"
                )
            prev = event.hash
            checked += 1
            last_id = event.id


def history_for(obj: Any):
    return AuditEvent.objects.filter(
        object_type=obj._meta.label_lower, object_id=str(obj.pk)
    ).order_by("id")
