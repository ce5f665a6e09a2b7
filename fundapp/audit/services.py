"""Writing the audit trail (§12).

An event is appended with the SHA-256 of its own canonical JSON (id included) and nothing
else: no lock is shared with any other transaction, so audited writes never queue behind
each other. The sealing
job (``fundapp.audit.sealing``) links committed events into the chain shortly after they
commit; ``verify_chain`` (``fundapp.audit.verification``) checks both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from fundapp.jsontext import dumps, dumps_normalised
from fundapp.kernel.events import event_type_require
from fundapp.oncommit import Debounced
from fundapp.statements import Part

from .context import RequestContext, current_request_context
from .hashing import (
    _ID_PLACEHOLDER,
    _ID_PLACEHOLDER_JSON,
    GENESIS_HASH,
    canonical_lines,
    canonical_payload,
    canonical_payload_around_id,
    canonical_values,
    compute_hash,
)
from .models import AuditEvent
from .verification import ChainReport, verify_chain

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditParts",
    "ChainReport",
    "audit_record",
    "audit_record_many",
    "audit_record_many_parts",
    "json_text",
    "canonical_payload",
    "compute_hash",
    "history_for",
    "to_jsonable",
    "verify_chain",
]

# After a commit the sealer runs this many seconds later; one process enqueues it at most
# once per window, since that one run seals everything committed before it starts.
SEAL_DELAY_SECONDS = 1.0

# One statement per append, whatever the number of events: ids come from the sequence in
# ascending order of the entries, and the database hashes each event's canonical JSON with
# its id filled in (the id is part of the hashed content). Plain SQL rather than the ORM:
# it is on every audited write's path (measured: a single-row VALUES costs the least CPU
# on both sides, less than arrays or a server-side prepared statement).
_TABLE = AuditEvent._meta.db_table
_COLUMNS = (
    "occurred_at, actor_user_id, actor_api_key_id, actor_label, action, object_type, "
    "object_id, before, after, request_id, client_address"
)
_ROW = (
    "%s::timestamptz, %s::bigint, %s::bigint, %s::text, %s::text, %s::text, %s::text, "
    "%s::jsonb, %s::jsonb, %s::text, %s::inet, %s::text, %s::text"
)
_VALUES = ", ".join(f"v.{column.strip()}" for column in _COLUMNS.split(","))
_HASH = "encode(sha256(convert_to(v.json_head || n.id::text || v.json_tail, 'UTF8')), 'hex')"
_NEXTVAL = f"nextval(pg_get_serial_sequence('{_TABLE}', 'id'))"
_APPEND_ONE_UNRETURNED_SQL = f"""
INSERT INTO {_TABLE} (id, {_COLUMNS}, prev_hash, hash)
SELECT n.id, {_VALUES}, '', {_HASH}
FROM (SELECT {_NEXTVAL} AS id) n, (VALUES ({_ROW})) AS v({_COLUMNS}, json_head, json_tail)
"""  # noqa: S608 - our own constants
_RETURNING = "RETURNING id, hash\n"
# The events come as one text parameter whatever their number: each event's canonical JSON
# with the id's placeholder, one per line, which the database hashes with the id in the
# placeholder's place (the client encodes each event once). The columns come beside it as
# JSON arrays, one per column and one of each event's ``[before, after]``, the values the
# lines hold: the database parses only the payloads as jsonb, not the whole of every line.
# One scan zips them all (``ROWS FROM``) in the entries' order; each row draws its id from
# the sequence as the scan yields it, so the ids ascend in that order without a sort or a
# join. The scan is fenced (``OFFSET 0``) so that each row's id is drawn once, for the row
# and its hash. The time and the request's id and address are the batch's, given once.
_PLACEHOLDER_SQL = f"'{_ID_PLACEHOLDER_JSON}'"
_APPEND_MANY_UNRETURNED_SQL = f"""
INSERT INTO {_TABLE} (id, {_COLUMNS}, prev_hash, hash)
SELECT e.id, %s::timestamptz, e.actor_user::bigint, e.actor_api_key::bigint, e.actor_label,
       e.action, e.object_type, e.object_id,
       NULLIF(e.payloads->0, 'null'::jsonb), NULLIF(e.payloads->1, 'null'::jsonb),
       %s::text, %s::inet, '',
       encode(sha256(convert_to(replace(e.doc, {_PLACEHOLDER_SQL}, e.id::text), 'UTF8')), 'hex')
FROM (
    SELECT {_NEXTVAL} AS id, r.*
    FROM ROWS FROM (
             string_to_table(%s::text, E'\\n'),
             json_array_elements_text(%s::json),
             json_array_elements_text(%s::json),
             json_array_elements_text(%s::json),
             json_array_elements_text(%s::json),
             json_array_elements_text(%s::json),
             json_array_elements_text(%s::json),
             jsonb_array_elements(%s::jsonb)
         ) AS r(doc, actor_user, actor_api_key, actor_label, action, object_type, object_id,
                payloads)
    OFFSET 0
) AS e
"""  # noqa: S608 - our own constants
_APPEND_ONE_SQL = _APPEND_ONE_UNRETURNED_SQL + _RETURNING
_APPEND_MANY_SQL = _APPEND_MANY_UNRETURNED_SQL + _RETURNING


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


def json_text(value: Any) -> str:
    """``value`` as JSON text, normalised as ``to_jsonable`` does: text that reads back as
    ``to_jsonable(value)``, encoded once (``fundapp.jsontext.dumps_normalised``)."""
    return dumps_normalised(value, _json_default)


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


def _actor_columns(actor: Any) -> tuple[Any, Any, str]:
    """``(actor user id, actor API key id, actor label)`` of an event's actor."""
    from fundapp.accounts.models import ApiKey, User

    return (
        actor.pk if isinstance(actor, User) else None,
        actor.pk if isinstance(actor, ApiKey) else None,
        str(actor) if actor is not None else "system",
    )


def _object_columns(entry: AuditEntry) -> tuple[str, str]:
    """``(object type, object id)`` of an entry's event."""
    object_type, object_id = entry.object_type, entry.object_id
    if entry.obj is not None:
        object_type = object_type or object_type_of(entry.obj)
        object_id = entry.obj.pk if object_id is None else object_id
    return object_type or "", str(object_id if object_id is not None else "")


def _new_event(
    entry: AuditEntry, *, now: datetime, ctx: RequestContext, before: Any, after: Any
) -> AuditEvent:
    """The event of ``entry``, with its payloads already normalised (``to_jsonable``)."""
    from fundapp.accounts.models import ApiKey, User

    object_type, object_id = _object_columns(entry)
    actor = entry.actor
    return AuditEvent(
        occurred_at=now,
        actor_user=actor if isinstance(actor, User) else None,
        actor_api_key=actor if isinstance(actor, ApiKey) else None,
        actor_label=str(actor) if actor is not None else "system",
        action=entry.action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        request_id=ctx.request_id,
        client_address=ctx.client_address,
        prev_hash="",
        hash="",
    )


@dataclass(frozen=True)
class _Batch:
    """Entries to append, with one time and request context for all and their payloads
    normalised together (one encoding and decoding for the batch, the same values as
    ``to_jsonable`` of each). ``payloads_json`` is that encoding, each entry's ``[before,
    after]``: JSON text that reads back as ``payloads`` (a key given twice keeps its last
    value in PostgreSQL's jsonb as in Python's decoding)."""

    entries: Sequence[AuditEntry]
    now: datetime
    ctx: RequestContext
    payloads: list[list[Any]]
    payloads_json: str
    # Whether any payload holds a float: the canonical lines are then written by the
    # standard library (``fundapp.jsontext.canonical``).
    floats: bool = True

    @classmethod
    def of(cls, entries: Sequence[AuditEntry]) -> _Batch:
        encoded = json_text([[entry.before, entry.after] for entry in entries])
        floats: list[str] = []

        def parse_float(text: str) -> float:
            floats.append(text)
            return float(text)

        payloads = json.loads(encoded, parse_float=parse_float)
        now, ctx = timezone.now(), current_request_context()
        return cls(entries, now, ctx, payloads, encoded, floats=bool(floats))

    def events(self) -> list[AuditEvent]:
        return [
            _new_event(entry, now=self.now, ctx=self.ctx, before=before, after=after)
            for entry, (before, after) in zip(self.entries, self.payloads, strict=True)
        ]

    def document(self) -> str:
        """``_events_document(self.events())``, from the entries' values: no ``AuditEvent``
        is built."""
        return canonical_lines(self._rows()[0], floats=self.floats)

    def _rows(self) -> tuple[list[dict[str, Any]], list[list[Any]]]:
        """Each event's ``canonical_values`` with the id's placeholder, and the columns
        ``_APPEND_MANY_SQL`` reads beside them: the actor's user id, API key id and label,
        the action, the object's type and id, each in the entries' order."""
        occurred_at = self.now.isoformat()
        request_id, client_address = self.ctx.request_id, self.ctx.client_address
        actors: dict[int, tuple[Any, Any, str]] = {}  # by id(): a batch has one or a few
        values = []
        columns: list[list[Any]] = [[], [], [], [], [], []]
        users, keys, labels, actions, types, ids = columns
        for entry, (before, after) in zip(self.entries, self.payloads, strict=True):
            actor = actors.get(id(entry.actor))
            if actor is None:
                actor = actors[id(entry.actor)] = _actor_columns(entry.actor)
            object_type, object_id = _object_columns(entry)
            users.append(actor[0])
            keys.append(actor[1])
            labels.append(actor[2])
            actions.append(entry.action)
            types.append(object_type)
            ids.append(object_id)
            values.append(
                {
                    "id": _ID_PLACEHOLDER,
                    "occurred_at": occurred_at,
                    "actor_user": actor[0],
                    "actor_api_key": actor[1],
                    "actor_label": actor[2],
                    "action": entry.action,
                    "object_type": object_type,
                    "object_id": object_id,
                    "before": before,
                    "after": after,
                    "request_id": request_id,
                    "client_address": client_address,
                    "prev_hash": "",
                }
            )
        return values, columns

    def statement(self, *, returning: bool = True) -> tuple[str, list[Any]]:
        """The statement appending the batch's events, and its parameters; it returns each
        event's ``id, hash`` only if ``returning``."""
        if len(self.entries) == 1:
            (event,) = self.events()
            sql, params = _APPEND_ONE_UNRETURNED_SQL, _append_one_params(event)
        else:
            sql = _APPEND_MANY_UNRETURNED_SQL
            values, columns = self._rows()
            params = [
                self.now,
                self.ctx.request_id,
                self.ctx.client_address,
                canonical_lines(values, floats=self.floats),
                # The columns beside the lines: plain values (text, numbers, none).
                *map(dumps, columns),
                self.payloads_json,
            ]
        return (sql + _RETURNING if returning else sql), params


def _new_events(entries: Sequence[AuditEntry]) -> list[AuditEvent]:
    """The events of ``entries`` (``_Batch``)."""
    return _Batch.of(entries).events()


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _append_one_params(event: AuditEvent) -> list[Any]:
    """The parameters of ``_APPEND_ONE_SQL`` appending ``event``."""
    json_head, json_tail = canonical_payload_around_id(event)
    return [
        event.occurred_at,
        event.actor_user_id,
        event.actor_api_key_id,
        event.actor_label,
        event.action,
        event.object_type,
        event.object_id,
        _json_text(event.before),
        _json_text(event.after),
        event.request_id,
        event.client_address,
        json_head,
        json_tail,
    ]


def _appended(
    events: Sequence[AuditEvent], returned: Sequence[tuple[int, str]] | list[list[Any]]
) -> None:
    """Set the ids and hashes the database gave the events (ids ascend in their order)."""
    for event, (event_id, event_hash) in zip(
        events, sorted(tuple(pair) for pair in returned), strict=True
    ):
        event.id, event.hash = event_id, event_hash
        event._state.adding = False  # as if saved: the row exists


def _append(sql: str, params: Sequence[Any], events: Sequence[AuditEvent]) -> None:
    """Run the statement appending ``events``; set the ids and hashes the database gave
    them."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        _appended(events, cursor.fetchall())


def _events_document(events: Sequence[AuditEvent]) -> str:
    """The events as the text ``_APPEND_MANY_SQL`` takes apart: each one's canonical JSON
    with the id's placeholder, one per line, in order."""
    return _document([canonical_values(event) for event in events])


def _document(events: Sequence[dict[str, Any]]) -> str:
    """The document of events given as their ``canonical_values``."""
    return canonical_lines([{"id": _ID_PLACEHOLDER, **values} for values in events])


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

    ``action`` must be a registered event type (``fundapp.kernel.events``); otherwise
    ``UnregisteredEventType`` is raised and nothing is written.

    Guarantees: the event commits or rolls back with the change it describes; it stores
    the hash of its own content (id included) and takes no lock, so unrelated audited
    writes never wait for each other. One query (the database takes the id from the
    sequence and hashes the content with it). After
    commit the sealer is enqueued (at most once per transaction, never failing the write),
    which links the event into the chain.
    """
    event_type_require([action])
    (event,) = _new_events([AuditEntry(actor, action, obj, object_type, object_id, before, after)])
    _append(_APPEND_ONE_SQL, _append_one_params(event), [event])
    _seal_after_commit()
    return event


def audit_record_many(entries: Sequence[AuditEntry]) -> list[AuditEvent]:
    """Append several events inside the caller's transaction, in the given order.

    The set-based counterpart of ``audit_record`` for batch jobs: one query whatever the
    number of entries; ids ascend in the order given. Same guarantees as ``audit_record``.
    """
    if not entries:
        return []
    event_type_require({entry.action for entry in entries})
    batch = _Batch.of(entries)
    events = batch.events()
    sql, params = batch.statement()
    _append(sql, params, events)
    _seal_after_commit()
    return events


@dataclass(frozen=True)
class AuditParts:
    """Events to append as one part (``audit_events``) of a caller's combined statement
    (``fundapp.statements``); ``appended(results)`` then returns them with the ids and
    hashes the database gave them, if the part was built to return them."""

    part: Part
    batch: _Batch

    def appended(self, results: dict[str, Any]) -> list[AuditEvent]:
        if self.part.result is None:
            raise ValueError("these events were appended without returning their ids")
        events = self.batch.events()
        _appended(events, results["audit_events"] or [])
        return events


def audit_record_many_parts(entries: Sequence[AuditEntry], *, returning: bool = True) -> AuditParts:
    """``audit_record_many`` as a part of the caller's one statement, with the same
    guarantees (ids ascend in the order given; each event hashes its own content with its
    id; the sealer is enqueued after commit). The part is ``audit_events``. The events'
    rows are built from the entries' values; ``AuditEvent`` instances only by
    ``appended``, for a caller that wants them. A caller that does not
    (``returning=False``) spares the database returning and gathering every event's id and
    hash, and itself reading them: the same rows are written."""
    if not entries:
        raise ValueError("audit_record_many_parts needs at least one entry")
    event_type_require({entry.action for entry in entries})
    batch = _Batch.of(entries)
    sql, params = batch.statement(returning=returning)
    _seal_after_commit()
    part = Part(
        "audit_events",
        sql,  # the appending statement itself
        params,
        result=(
            "(SELECT json_agg(json_build_array(id, hash)) FROM audit_events)" if returning else None
        ),
    )
    return AuditParts(part, batch)


def _enqueue_seal(delay: float) -> None:
    from .tasks import seal_chain

    seal_chain.apply_async(countdown=delay)


# The sealer is enqueued when the current transaction commits (at most once per
# transaction and window); robust, so a broker outage never turns a committed write into an
# error: the beat schedule seals the event a minute later at worst.
sealer = Debounced(_enqueue_seal, SEAL_DELAY_SECONDS)
_seal_after_commit = sealer.after_commit


def object_type_of(obj: Any) -> str:
    """The object type events about ``obj`` carry: ``app_label.model``, unless the model
    names the type it has always been recorded under (``audit_object_type``), so a model
    that moves between apps keeps its history."""
    return getattr(obj, "audit_object_type", None) or obj._meta.label_lower


def history_for(obj: Any):
    return AuditEvent.objects.filter(
        object_type=object_type_of(obj), object_id=str(obj.pk)
    ).order_by("id")
