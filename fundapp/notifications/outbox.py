"""Recording webhook-ready events in the caller's transaction (§13 outbox)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fundapp.audit.services import to_jsonable

from .models import OutboxEvent


def event_record(
    *, kind: str, obj: Any, organisation_ids: Iterable[int], payload: dict[str, Any]
) -> OutboxEvent:
    """Append one event; it commits or rolls back with the change it describes. The payload
    is stored as JSON (dates as ISO strings, decimals as strings)."""
    return OutboxEvent.objects.create(
        kind=kind,
        organisation_ids=sorted({int(i) for i in organisation_ids if i is not None}),
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        payload=to_jsonable(payload),
    )
