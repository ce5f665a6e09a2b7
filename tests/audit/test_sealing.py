import threading

import pytest
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from fundapp.audit.hashing import GENESIS_HASH
from fundapp.audit.models import AuditEvent, AuditLink
from fundapp.audit.sealing import audit_chain_seal
from fundapp.audit.services import AuditEntry, audit_record, audit_record_many, verify_chain
from tests.concurrency import run_at_once

pytestmark = pytest.mark.django_db


def record(action: str = "test.one", object_id: int = 1):
    return audit_record(actor=None, action=action, object_type="thing", object_id=object_id)


def entries(count: int) -> list[AuditEntry]:
    return [
        AuditEntry(actor=None, action="test.many", object_type="thing", object_id=i)
        for i in range(count)
    ]


def assert_sealed_exactly_once() -> None:
    links = list(AuditLink.objects.order_by("position").values_list("position", "event_id"))
    event_ids = set(AuditEvent.objects.values_list("id", flat=True))
    assert [position for position, _ in links] == list(range(1, len(links) + 1))
    assert sorted(event_id for _, event_id in links) == sorted(event_ids)


def test_sealing_links_committed_events_in_id_order_once():
    events = [record(f"test.{i}") for i in range(3)]

    first = audit_chain_seal()
    again = audit_chain_seal()

    assert (first.sealed, first.head_position) == (3, 3)
    assert (again.sealed, again.head_position) == (0, 3)
    links = list(AuditLink.objects.order_by("position"))
    assert [link.event_id for link in links] == [event.pk for event in events]
    assert links[0].prev_hash == GENESIS_HASH
    assert [link.prev_hash for link in links[1:]] == [link.hash for link in links[:-1]]
    assert verify_chain().ok


def test_events_appended_after_a_pass_are_sealed_by_the_next_at_the_head():
    record("test.one")
    audit_chain_seal()
    later = record("test.two")

    report = audit_chain_seal()

    assert (report.sealed, report.head_position) == (1, 2)
    assert AuditLink.objects.get(position=2).event_id == later.pk
    assert_sealed_exactly_once()


def test_sealing_in_batches_gives_the_same_chain():
    audit_record_many(entries(25))

    report = audit_chain_seal(batch_size=10)

    assert (report.sealed, report.head_position) == (25, 25)
    assert_sealed_exactly_once()
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_a_late_committing_event_with_a_lower_id_is_sealed_later_and_verifies():
    appended, commit = threading.Event(), threading.Event()
    late: list[AuditEvent] = []

    def slow_writer() -> None:
        from django.db import connection

        try:
            with transaction.atomic():
                late.append(record("test.late"))
                appended.set()
                assert commit.wait(timeout=30)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert appended.wait(timeout=30)
    early = record("test.early")  # a higher id, committed first
    first_pass = audit_chain_seal()
    commit.set()
    writer.join(timeout=30)
    second_pass = audit_chain_seal()

    [late_event] = late
    assert late_event.pk < early.pk
    assert first_pass.sealed == 1 and second_pass.sealed == 1
    assert AuditLink.objects.get(event_id=early.pk).position == 1
    assert AuditLink.objects.get(event_id=late_event.pk).position == 2
    assert_sealed_exactly_once()
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_eight_writers_and_repeated_sealers_leave_a_chain_that_verifies():
    def work(index: int) -> int:
        written = 0
        for round_ in range(12):
            with transaction.atomic():
                if round_ % 2:
                    written += len(audit_record_many(entries(1 + (index + round_) % 5)))
                else:
                    record(f"test.writer{index}", object_id=round_)
                    written += 1
            if round_ % 3 == index % 3:
                audit_chain_seal(batch_size=7)
        return written

    results, errors = run_at_once(work, threads=8)
    audit_chain_seal()

    assert errors == [None] * 8
    assert AuditEvent.objects.count() == sum(results)
    assert_sealed_exactly_once()
    report = verify_chain()
    assert report.ok, report
    assert report.head_position == sum(results) and report.unsealed == 0


def test_appending_one_or_fifty_events_issues_the_same_queries(django_assert_num_queries):
    with CaptureQueriesContext(transaction.get_connection()) as one:
        audit_record_many(entries(1))
    with CaptureQueriesContext(transaction.get_connection()) as fifty:
        audit_record_many(entries(50))
    with django_assert_num_queries(1):  # the database takes the id and hashes the content
        record()

    assert len(one.captured_queries) == len(fifty.captured_queries) == 1


def test_sealing_ten_or_five_hundred_events_issues_the_same_queries():
    audit_record_many(entries(10))
    with CaptureQueriesContext(transaction.get_connection()) as ten:
        assert audit_chain_seal().sealed == 10
    audit_record_many(entries(500))
    with CaptureQueriesContext(transaction.get_connection()) as five_hundred:
        assert audit_chain_seal().sealed == 500
    audit_record_many(entries(30))
    with CaptureQueriesContext(transaction.get_connection()) as three_batches:
        assert audit_chain_seal(batch_size=10).sealed == 30

    assert len(ten.captured_queries) == len(five_hundred.captured_queries)
    # A full batch is followed by one more look; each batch costs the same.
    assert len(three_batches.captured_queries) == 4 * len(ten.captured_queries) - 1
