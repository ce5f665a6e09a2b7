"""The hashes of the audit trail (§12): pure functions of plain values, no database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fundapp.jsontext import canonical

if TYPE_CHECKING:
    from .models import AuditEvent

GENESIS_HASH = "0" * 64


# Stands for the id while the database has not assigned it yet. PostgreSQL text and jsonb
# cannot hold NUL, so no other value of a storable event renders as this JSON string.
_ID_PLACEHOLDER = "\x00id\x00"
_ID_PLACEHOLDER_JSON = json.dumps(_ID_PLACEHOLDER)


def canonical_values(event: AuditEvent) -> dict[str, Any]:
    """The event's hashed content without its id, under the canonical JSON's names."""
    return {
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
        # Blank since sealing exists; kept so events written before it still verify.
        "prev_hash": event.prev_hash,
    }


def _canonical(values: dict[str, Any], event_id: Any) -> str:
    return canonical({"id": event_id, **values})


def canonical_payload(event: AuditEvent) -> str:
    return _canonical(canonical_values(event), event.id)


def canonical_payload_around_id(event: AuditEvent) -> tuple[str, str]:
    """The canonical JSON before and after the id, which the database fills in as it
    assigns it: ``before + str(id) + after == canonical_payload(event)``."""
    return canonical_around_id(canonical_values(event))


def canonical_around_id(values: dict[str, Any]) -> tuple[str, str]:
    """``canonical_payload_around_id`` of an event given as its ``canonical_values``."""
    before, after = _canonical(values, _ID_PLACEHOLDER).split(_ID_PLACEHOLDER_JSON)
    return before, after


# Where one event ends and the next begins in the canonical JSON of a list of events: each
# starts with its first key in sorted order, "action", and no JSON string holds a raw '"'.
_BETWEEN_EVENTS = '},{"action":'
_BETWEEN_LINES = '}\n{"action":'


def canonical_lines(events: Sequence[dict[str, Any]], *, floats: bool = True) -> str:
    """The canonical JSON of each event, one per line, in the given order: the same text
    as ``"\\n".join`` of each one's own encoding, from one encoding of them all.

    Each event is given as its ``canonical_values`` with its ``"id"`` (a number or the
    placeholder). Canonical JSON holds no line break: the encoder escapes every control
    character inside strings, and its separators have none. ``floats=False`` says that no
    value holds a float (``fundapp.jsontext.canonical``: orjson writes the text then).
    """
    inner = canonical(events, floats=floats)[1:-1]
    # Every event but the first begins right after a boundary; any other occurrence lies
    # inside a before or after (a list of objects whose first key is "action").
    if inner.count(_BETWEEN_EVENTS) == len(events) - 1:
        return inner.replace(_BETWEEN_EVENTS, _BETWEEN_LINES)
    return "\n".join(canonical(event, floats=floats) for event in events)


def compute_hash(event: AuditEvent) -> str:
    """SHA-256 of the event's own canonical JSON, id included."""
    return hashlib.sha256(canonical_payload(event).encode()).hexdigest()


def link_hash(*, position: int, event_id: int, event_hash: str, prev_hash: str) -> str:
    """The chain hash of a link: binds its position, its event and the link before it."""
    return hashlib.sha256(f"{position}:{event_id}:{event_hash}:{prev_hash}".encode()).hexdigest()
