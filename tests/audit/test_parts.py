"""The audit trail as a part of a combined statement (§12, §19): the same rows and hashes
as ``audit_record_many``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict

from fundapp.accounts.models import ApiKey
from fundapp.audit import services
from fundapp.audit.context import RequestContext, reset_request_context, set_request_context
from fundapp.audit.models import AuditEvent
from fundapp.audit.services import (
    AuditEntry,
    audit_record_many,
    audit_record_many_parts,
    compute_hash,
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
