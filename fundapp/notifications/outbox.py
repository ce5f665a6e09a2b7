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

from fundapp.audit.services import json_text, to_jsonable
from fundapp.kernel.events import Visibility, event_type, event_type_require
from fundapp.oncommit import Debounced
from fundapp.rows import rows_insert
from fundapp.statements import Part

from .models import OutboxEvent

# Webhook fan-out after commit (§13.3): at most one sweep enqueued per second and process;
# the sweep covers every event committed before it runs, and the beat reconciler catches
# what a lost message leaves.
WEBHOOK_FAN_OUT_DELAY_SECONDS = 1.0


def _enqueue_fan_out(delay: float) -> None:
    from .webhooks.tasks import fan_out_webhooks

    fan_out_webhooks.apply_async(countdown=delay)


webhook_fan_out = Debounced(_enqueue_fan_out, WEBHOOK_FAN_OUT_DELAY_SECONDS)


def event_record(
    *, kind: str, obj: Any, organisation_ids: Iterable[int], payload: dict[str, Any]
) -> OutboxEvent:
    """Append one event; it commits or rolls back with the change it describes. The payload
    is stored as JSON (dates as ISO strings, decimals as strings)."""
    event_type_require([kind], outbox=True)
    webhook_fan_out.after_commit()
    return OutboxEvent.objects.create(
        kind=kind,
        organisation_ids=_audience(kind, organisation_ids),
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        payload=to_jsonable(payload),
    )


def _audience(kind: str, organisation_ids: Iterable[int]) -> list[int]:
    """The organisations allowed to see the event, sorted; a type only fund staff may see
    names none (a partner system must never receive it, §13.3)."""
    ids = sorted({int(i) for i in organisation_ids if i is not None})
    if ids and event_type(kind).visibility == Visibility.OFFICERS:
        raise ValueError(f"{kind!r} is for fund staff only; it cannot name organisations")
    return ids


@dataclass(frozen=True)
class Event:
    """One event of a batch for ``event_record_many``: the arguments of ``event_record``."""

    kind: str
    obj: Any
    organisation_ids: Iterable[int]
    payload: dict[str, Any]


def _rows(events: Sequence[Event]) -> list[OutboxEvent]:
    event_type_require({event.kind for event in events}, outbox=True)
    now = timezone.now()
    # The payloads normalised together: one encoding and decoding for the batch.
    payloads = to_jsonable([event.payload for event in events]) or []
    rows = [
        OutboxEvent(
            kind=event.kind,
            organisation_ids=_audience(event.kind, event.organisation_ids),
            object_type=event.obj._meta.label_lower,
            object_id=str(event.obj.pk),
            payload=payload,
            created_at=now,
        )
        for event, payload in zip(events, payloads, strict=True)
    ]
    return rows


def event_record_many(events: Sequence[Event]) -> list[OutboxEvent]:
    """Append several events in one insert, in the given order (ids ascending); like
    ``event_record`` they commit or roll back with the caller's transaction."""
    if not events:
        return []
    rows = _rows(events)
    rows_insert(OutboxEvent, rows, _COLUMNS)
    webhook_fan_out.after_commit()
    return rows


_TABLE = OutboxEvent._meta.db_table
# The events come as one JSON array of ``[kind, audience, object type, object id,
# payload]``, the audience as the text of a PostgreSQL array, and their time once.
_PART_SQL = f"""INSERT INTO {_TABLE} (kind, organisation_ids, object_type, object_id, payload,
                                   created_at)
SELECT e.event->>0, (e.event->>1)::bigint[], e.event->>2, e.event->>3,
       NULLIF(e.event->4, 'null'::jsonb), %s::timestamptz
  FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(event, ord)"""  # noqa: S608 - our own constants


def event_record_many_part(
    name: str, events: Sequence[Event], *, only_if: str | None = None
) -> Part:
    """``event_record_many`` as a part of the caller's one statement (``fundapp.statements``):
    the events are inserted (in order) with the rest of the statement, and only if the part
    named ``only_if`` returned a row. Unregistered types raise before any part is built."""
    if not events:
        raise ValueError("event_record_many_part needs at least one event")
    event_type_require({event.kind for event in events}, outbox=True)
    # Events of one object's organisations name the same list: its audience is made once.
    audiences: dict[tuple[str, int], str] = {}
    rows = []
    for event in events:
        ids = event.organisation_ids
        key = (event.kind, id(ids))
        audience = audiences.get(key) if type(ids) in (list, tuple) else None
        if audience is None:
            audience = "{" + ",".join(map(str, _audience(event.kind, ids))) + "}"
            audiences[key] = audience
        obj = event.obj
        rows.append([event.kind, audience, obj._meta.label_lower, str(obj.pk), event.payload])
    # The rows go straight into the document (no model instances: nothing reads them back),
    # encoded once with the payloads as ``to_jsonable`` would normalise them.
    document = json_text(rows)
    webhook_fan_out.after_commit()
    sql = _PART_SQL
    if only_if:
        sql += f" WHERE EXISTS (SELECT 1 FROM {only_if})"  # noqa: S608 (a part's name)
    return Part(name, sql + " ORDER BY e.ord", [timezone.now(), document])


_COLUMNS = ("kind", "organisation_ids", "object_type", "object_id", "payload", "created_at")
