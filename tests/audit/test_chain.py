import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import ProgrammingError, transaction

from fundapp.audit.models import AuditEvent, AuditLink
from fundapp.audit.sealing import audit_chain_seal
from fundapp.audit.services import GENESIS_HASH, audit_record, compute_hash, verify_chain

pytestmark = pytest.mark.django_db


def test_events_chain_to_their_predecessor():
    first = audit_record(
        actor=None, action="test.one", object_type="thing", object_id=1, after={"a": 1}
    )
    second = audit_record(
        actor=None,
        action="test.two",
        object_type="thing",
        object_id=1,
        before={"a": 1},
        after={"a": 2},
    )

    # Each event stores the hash of its own content; the sealer links it to its predecessor.
    assert first.hash == compute_hash(first) and second.hash == compute_hash(second)
    audit_chain_seal()
    first_link, second_link = (
        AuditLink.objects.get(event=first),
        AuditLink.objects.get(event=second),
    )
    assert first_link.prev_hash == GENESIS_HASH
    assert second_link.prev_hash == first_link.hash
    assert (first_link.event_hash, second_link.event_hash) == (first.hash, second.hash)
    report = verify_chain()
    assert report.ok and report.checked == 2


def test_database_refuses_update_and_delete():
    event = audit_record(actor=None, action="test.one", object_type="thing", object_id=1)
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.one"


@pytest.mark.django_db(transaction=True)
def test_verify_names_the_first_broken_link(owner_cursor):
    audit_record(actor=None, action="test.one", object_type="thing", object_id=1)
    victim = audit_record(actor=None, action="test.two", object_type="thing", object_id=1)
    audit_record(actor=None, action="test.three", object_type="thing", object_id=1)
    # Tamper as an attacker with table-owner rights would: bypass the trigger for one statement.
    with owner_cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER ALL")
        cursor.execute("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [victim.pk])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER ALL")

    report = verify_chain()
    assert not report.ok and report.broken_id == victim.pk
    with pytest.raises(CommandError, match=str(victim.pk)):
        call_command("verify_audit_chain")


def test_many_events_are_appended_in_order_and_chain():
    from fundapp.audit.services import AuditEntry, audit_record_many

    audit_record(actor=None, action="test.one", object_type="thing", object_id=1)
    events = audit_record_many(
        [
            AuditEntry(actor=None, action="test.two", object_type="thing", object_id=1),
            AuditEntry(actor=None, action="test.three", object_type="thing", object_id=2),
        ]
    )

    assert [e.action for e in AuditEvent.objects.order_by("id")] == [
        "test.one",
        "test.two",
        "test.three",
    ]
    assert [e.pk for e in events] == sorted(e.pk for e in events)
    assert verify_chain().ok
    audit_chain_seal()
    links = list(AuditLink.objects.order_by("position"))
    assert [link.event_id for link in links] == [e.pk for e in AuditEvent.objects.order_by("id")]
    assert [link.prev_hash for link in links[1:]] == [link.hash for link in links[:-1]]
    assert verify_chain().ok


def test_the_database_hashes_exactly_the_canonical_json_with_its_id():
    from decimal import Decimal

    event = audit_record(
        actor=None,
        action="test.unicode",
        object_type="thing",
        object_id="7",
        before={"id": 1, "名前": "鈴木 一郎", "amount": Decimal("1.50")},
        after={"id": 2, "nested": {"id": 3, "quote": 'say "하나"'}},
    )

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.hash == event.hash == compute_hash(stored)
    assert stored.after == {"id": 2, "nested": {"id": 3, "quote": 'say "하나"'}}
