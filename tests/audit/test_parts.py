"""The audit trail as a part of a combined statement (§12, §19): the same rows and hashes
as ``audit_record_many``."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict

from fundapp.accounts.models import ApiKey
from fundapp.audit import hashing, services
from fundapp.audit.context import RequestContext, reset_request_context, set_request_context
from fundapp.audit.models import AuditEvent
from fundapp.audit.services import (
    AuditEntry,
    audit_record_many,
    audit_record_many_parts,
    canonical_payload,
    compute_hash,
    to_jsonable,
    verify_chain,
)
from fundapp.statements import statement_run
from tests.factories import UserFactory, jp_org

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=UTC)


def _entries() -> list[AuditEntry]:
    user = UserFactory.create(first_name="鈴木", last_name='"一郎"')
    key_id, secret, _full = ApiKey.generate()
    key = ApiKey.objects.create(
        organisation=jp_org(), name="system", key_id=key_id, secret_hash=secret, scopes=[]
    )
    return [
        AuditEntry(
            actor=user,
            action="test.one",
            obj=user,
            before={"amount": Decimal("1.50"), "on": date(2026, 1, 5), 3: ("a", "b")},
            after={"at": NOW, "nested": {"b": 1, "a": [None, True, 2.5]}, "名前": "하나"},
        ),
        AuditEntry(actor=key, action="test.two", obj=user, object_type="thing", object_id=0),
        AuditEntry(actor=None, action="test.three", object_type="thing", object_id=7),
        AuditEntry(actor=user, action="test.one", obj=key, after={"quote": 'say "}' + "{\\"}),
        AuditEntry(actor=None, action="test.two"),
    ]


def _stored(events: list[AuditEvent]) -> list[dict]:
    rows = AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("id")
    return [model_to_dict(row, exclude=["id", "hash"]) for row in rows]


@pytest.fixture
def fixed_time_and_request(monkeypatch):
    monkeypatch.setattr(services.timezone, "now", lambda: NOW)
    token = set_request_context(RequestContext(request_id="req-1", client_address="192.0.2.7"))
    yield
    reset_request_context(token)


@pytest.mark.usefixtures("fixed_time_and_request")
@pytest.mark.parametrize("count", [1, 5])
def test_the_part_writes_the_rows_and_hashes_of_audit_record_many(count):
    # given the same entries, appended once alone and once as a part of a statement
    entries = _entries()[:count]
    alone = audit_record_many(entries)

    parts = audit_record_many_parts(entries)
    appended = parts.appended(statement_run([parts.part]))

    # then the rows are the same, each hashing its own content with its id
    assert _stored(appended) == _stored(alone)
    assert len(appended) == count
    assert [e.pk for e in appended] == sorted(e.pk for e in appended)
    for event in appended:
        stored = AuditEvent.objects.get(pk=event.pk)
        assert stored.hash == event.hash == compute_hash(stored)
        assert model_to_dict(stored, exclude=["hash"]) == model_to_dict(event, exclude=["hash"])
    assert verify_chain().ok


@pytest.mark.usefixtures("fixed_time_and_request")
def test_the_document_from_the_entries_is_the_one_from_their_events():
    batch = services._Batch.of(_entries())

    assert batch.document() == services._events_document(batch.events())


def _canonical_before_the_text_encoding(
    event_id: int, entry: AuditEntry, ctx: RequestContext
) -> str:
    """The canonical JSON of an event as it was written until the events were encoded as
    one text: its values normalised (``to_jsonable``), then one ``json.dumps`` per event,
    sorted keys, no spaces, non-ASCII as it is."""
    values = {
        "id": event_id,
        "occurred_at": NOW.isoformat(),
        "actor_user": None,
        "actor_api_key": None,
        "actor_label": "system",
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": str(entry.object_id),
        "before": to_jsonable(entry.before),
        "after": to_jsonable(entry.after),
        "request_id": ctx.request_id,
        "client_address": ctx.client_address,
        "prev_hash": "",
    }
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _awkward_entries() -> list[AuditEntry]:
    def entry(before: object, after: object) -> AuditEntry:
        return AuditEntry(
            actor=None,
            action="test.one",
            object_type="thing",
            object_id=7,
            before=before,
            after=after,
        )

    return [
        entry(None, {}),
        entry({"line": "one\ntwo\r\u2028three\t", "nul-free": "\\u0000id\\u0000"}, None),
        entry({2: "two", 10: "ten"}, {"on": date(2026, 1, 5), "amount": Decimal("1.50")}),
        entry({"quote": '}","{"action":"x"'}, ["}", {"action": "inside"}, "{"]),
        # A list of objects whose first key is "action", as between two events.
        entry({"list": [{"b": 1}, {"action": "a"}]}, {"name": "鈴木 一郎", "ko": "하나"}),
        entry({"float": 2.5, "big": 10**30, "flags": (True, False, None)}, {"": ""}),
    ]


@pytest.mark.usefixtures("fixed_time_and_request")
@pytest.mark.parametrize("count", [1, 2, 6])
def test_the_stored_hashes_are_those_of_the_canonical_json_as_it_was_encoded(count):
    # given awkward payloads: line breaks, keys that sort differently as numbers, text that
    # looks like the boundary between two events, lists of objects keyed "action"
    entries = _awkward_entries()[:count]
    ctx = RequestContext(request_id="req-1", client_address="192.0.2.7")

    # when they are appended as a part
    parts = audit_record_many_parts(entries)
    appended = parts.appended(statement_run([parts.part]))

    # then each stored hash is the SHA-256 of the text the previous encoding produced
    for event, entry in zip(appended, entries, strict=True):
        stored = AuditEvent.objects.get(pk=event.pk)
        expected = _canonical_before_the_text_encoding(stored.pk, entry, ctx)
        assert stored.hash == hashlib.sha256(expected.encode()).hexdigest() == event.hash
        assert canonical_payload(stored) == expected
        assert (stored.before, stored.after) == (
            to_jsonable(entry.before),
            to_jsonable(entry.after),
        )
    assert verify_chain().ok


def test_canonical_lines_are_each_events_own_canonical_json():
    events: list[dict[str, object]] = [
        {"action": "a", "before": None, "after": {"a": [{"b": 1}, {"action": "b"}]}, "id": 1},
        {"action": "c", "before": {"x": "}\n{"}, "after": None, "id": 2},
        {"action": "d", "before": [], "after": {"text": '},{"action":'}, "id": 3},
    ]

    for count in range(1, len(events) + 1):
        assert hashing.canonical_lines(events[:count]) == "\n".join(
            json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            for event in events[:count]
        )
    assert "\n" not in hashing.canonical_lines(events[2:])


@pytest.mark.usefixtures("fixed_time_and_request")
@pytest.mark.parametrize("count", [1, 5])
def test_a_part_that_returns_nothing_writes_the_same_rows_and_hashes(count):
    # given the same entries, appended once returning their ids and once not
    entries = _entries()[:count]
    parts = audit_record_many_parts(entries)
    returned = parts.appended(statement_run([parts.part]))
    last = returned[-1].pk

    quiet = audit_record_many_parts(entries, returning=False)
    results = statement_run([quiet.part])

    # then the same rows are written, each hashing its own content with its id, in order
    written = list(AuditEvent.objects.filter(pk__gt=last).order_by("id"))
    assert results == {}
    assert [model_to_dict(e, exclude=["id", "hash"]) for e in written] == _stored(returned)
    for event in written:
        assert event.hash == compute_hash(event)
    assert verify_chain().ok
    # and no ids are read back to give the events
    with pytest.raises(ValueError):
        quiet.appended(results)
