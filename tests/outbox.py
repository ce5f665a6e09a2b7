"""Checks shared by the outbox tests (§13.2): an object's events of one type, each with the
§13.2 envelope and data that meets its type's schema."""

from __future__ import annotations

from typing import Any

import jsonschema

from fundapp.kernel.events import ENVELOPE_SCHEMA, event_type
from fundapp.notifications.models import OutboxEvent


def events_of(kind: str, obj: Any = None) -> list[OutboxEvent]:
    qs = OutboxEvent.objects.filter(kind=kind)
    if obj is not None:
        qs = qs.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
    return list(qs.order_by("pk"))


def the_event(kind: str, obj: Any, *, organisations: Any) -> dict[str, Any]:
    """The one event of ``kind`` about ``obj``: checked against the envelope and its type's
    schema, naming exactly ``organisations``; returns its envelope's data."""
    found = events_of(kind, obj)
    assert len(found) == 1, [e.kind for e in found]
    (event,) = found
    envelope = event.envelope()
    jsonschema.validate(envelope, ENVELOPE_SCHEMA)
    schema = event_type(kind).schema
    assert schema is not None
    jsonschema.validate(envelope["data"], schema)
    assert envelope["type"] == kind
    assert sorted(event.organisation_ids) == sorted({int(o) for o in organisations})
    return envelope["data"]
