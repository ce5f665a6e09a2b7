"""The hashes of the audit trail (§12): pure functions of plain values, no database."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import AuditEvent

GENESIS_HASH = "0" * 64


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
        # Blank since sealing exists; kept so events written before it still verify.
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_hash(event: AuditEvent) -> str:
    """SHA-256 of the event's own canonical JSON, id included."""
    return hashlib.sha256(canonical_payload(event).encode()).hexdigest()


def link_hash(*, position: int, event_id: int, event_hash: str, prev_hash: str) -> str:
    """The chain hash of a link: binds its position, its event and the link before it."""
    return hashlib.sha256(f"{position}:{event_id}:{event_hash}:{prev_hash}".encode()).hexdigest()
