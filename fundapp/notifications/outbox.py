"""Recording webhook-ready events in the caller's transaction (§13 outbox).

Every ``kind`` must be a registered outbox event type (``fundapp.kernel.events``):
anything else raises ``UnregisteredEventType`` before a row is written. ``payload`` is the
event's ``data``; ``OutboxEvent.envelope()`` adds the §13.2 envelope and the
``resource_version``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from fundapp.audit.services import to_jsonable
from fundapp.kernel.events import event_type_require
from fundapp.rows import rows_insert

from .models import OutboxEvent


def event_record(
    *, kind: str, obj: Any, organisation_ids: Iterable[int], payload: dict[str, Any]
) -> OutboxEvent:
    """Append one event; it commits or rolls back with the change it describes. The payload
    is stored as JSON (dates as ISO strings, decimals as strings)."""
    event_type_require([kind], outbox=True)
    return OutboxEvent.objects.create(
        kind=kind,
        organisation_ids=sorted({int(i) for i in organisation_ids if i is not None}),
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        payload=to_jsonable(payload),
    )


@dataclass(frozen=True)
class Event:
    """One event of a batch for ``event_record_many``: the arguments of ``event_record``."""

    kind: str
    obj: Any
    organisation_ids: Iterable[int]
    payload: dict[str, Any]


def event_record_many(events: Sequence[Event]) -> list[OutboxEvent]:
    """Append several events in one insert, in the given order (ids ascending); like
    ``event_record`` they commit or roll back with the caller's transaction."""
    if not events:
        return []
    event_type_require({event.kind for event in events}, outbox=True)
    now = timezone.now()
    # The payloads normalised together: one encoding and decoding for the batch.
    payloads = to_jsonable([event.payload for event in events]) or []
    rows = [
        OutboxEvent(
            kind=event.kind,
            organisation_ids=sorted({int(i) for i in event.organisation_ids if i is not None}),
            object_type=event.obj._meta.label_lower,
            object_id=str(event.obj.pk),
            payload=payload,
            created_at=now,
        )
        for event, payload in zip(events, payloads, strict=True)
    ]
    rows_insert(OutboxEvent, rows, _COLUMNS)
    return rows


_COLUMNS = ("kind", "organisation_ids", "object_type", "object_id", "payload", "created_at")
