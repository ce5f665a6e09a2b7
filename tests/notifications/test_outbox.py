"""The outbox as a part of a combined statement (§13.2, §19): the same rows as
``event_record_many``, in order, and only if the part it depends on wrote a row."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fundapp.notifications.models import OutboxEvent
from fundapp.notifications.outbox import Event, event_record_many, event_record_many_part
from fundapp.statements import Part, statement_run
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _shape(events: list[OutboxEvent]) -> list[tuple]:
    return [
        (e.kind, e.organisation_ids, e.object_type, e.object_id, e.payload)
        for e in OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("pk")
    ]


def _events() -> list[Event]:
    user, other = UserFactory.create(), UserFactory.create()
    shared = [7, 3, 3]
    return [
        Event("royalty.posted", user, shared, {"amount": Decimal("1.50"), "on": date(2026, 1, 5)}),
        Event("royalty.posted", other, shared, {"名前": '鈴木 "一郎"', "nested": [{"b": None}]}),
        Event("royalty.posted", user, (), {}),
        Event("review.assigned", other, [], {"line": "one\ntwo"}),
        Event("royalty.posted", other, iter([2, 1]), {"n": 1}),
    ]


def test_the_part_writes_the_rows_of_event_record_many_in_order():
    # given events sharing an audience list, with an empty one and a one-off iterator
    events = _events()
    alone = event_record_many(events)

    # when the same events are written as a part
    before = OutboxEvent.objects.count()
    statement_run([event_record_many_part("outbox_events", _events_like(events))])
    written = list(OutboxEvent.objects.order_by("pk")[before:])

    # then the rows are the same, in the same order
    assert _shape(written) == _shape(alone)
    assert [e.organisation_ids for e in written] == [[3, 7], [3, 7], [], [], [1, 2]]
    assert written[0].payload == {"amount": "1.50", "on": "2026-01-05"}
    assert len({e.created_at for e in written}) == 1


def _events_like(events: list[Event]) -> list[Event]:
    """The same events again (an iterator of organisations is spent once written)."""
    return [
        Event(e.kind, e.obj, [2, 1] if i == 4 else e.organisation_ids, e.payload)
        for i, e in enumerate(events)
    ]


@pytest.mark.parametrize("wrote", [True, False])
def test_the_part_writes_only_if_the_part_it_follows_wrote_a_row(wrote):
    user = UserFactory.create()
    first = Part("first", f"SELECT 1 AS one WHERE {str(wrote).lower()}")
    event = Event("royalty.posted", user, [1], {"a": 1})

    statement_run([first, event_record_many_part("outbox_events", [event], only_if="first")])

    assert OutboxEvent.objects.count() == (1 if wrote else 0)


def test_an_event_for_fund_staff_only_cannot_name_organisations_in_a_part():
    user = UserFactory.create()
    shared = [1]
    with pytest.raises(ValueError, match="fund staff only"):
        event_record_many_part(
            "outbox_events",
            [
                Event("royalty.posted", user, shared, {}),
                Event("review.assigned", user, shared, {}),
            ],
        )
