"""fundapp.rows: many rows of one table written in one statement."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fundapp.notifications.models import Notification, OutboxEvent
from fundapp.rows import rows_insert, rows_update
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _event(n: int, **extra) -> OutboxEvent:
    return OutboxEvent(
        kind="gate.evaluated",
        organisation_ids=[n, n + 1],
        object_type="projects.gate",
        object_id=str(n),
        payload={"n": n, "score": "1.2000", "nested": {"list": [1, None, "ü"]}},
        **extra,
    )


def test_insert_writes_every_row_in_one_statement_with_ascending_ids_in_the_given_order(
    django_assert_num_queries,
):
    at = datetime(2026, 1, 5, 3, 4, 5, 123456, tzinfo=UTC)
    rows = [_event(n, created_at=at) for n in range(5)]

    with django_assert_num_queries(1):
        rows_insert(
            OutboxEvent,
            rows,
            ["kind", "organisation_ids", "object_type", "object_id", "payload", "created_at"],
        )

    assert [row.pk for row in rows] == sorted(row.pk for row in rows)
    assert all(not row._state.adding for row in rows)
    stored = list(OutboxEvent.objects.filter(pk__in=[row.pk for row in rows]).order_by("pk"))
    assert [(e.object_id, e.organisation_ids, e.payload, e.created_at) for e in stored] == [
        (str(n), [n, n + 1], rows[n].payload, at) for n in range(5)
    ]


def test_insert_of_nothing_sends_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        rows_insert(OutboxEvent, [], ["kind"])


def test_update_sets_only_the_named_columns_to_what_the_instances_hold(
    django_assert_num_queries,
):
    user = UserFactory.create()
    rows = [
        Notification.objects.create(
            user=user, kind="gate_evaluated", title=f"t{n}", body="b", url="/u/"
        )
        for n in range(3)
    ]
    read = datetime(2026, 2, 1, 9, 0, 0, 1, tzinfo=UTC)
    for n, row in enumerate(rows):
        row.title = f"new {n}"
        row.read_at = read if n else None
        row.body = "not written"

    with django_assert_num_queries(1):
        updated = rows_update(Notification, rows, ["title", "read_at"])

    assert updated == 3
    assert list(
        Notification.objects.filter(pk__in=[r.pk for r in rows])
        .order_by("pk")
        .values_list("title", "read_at", "body")
    ) == [("new 0", None, "b"), ("new 1", read, "b"), ("new 2", read, "b")]


def test_update_writes_a_row_listed_twice_with_its_first_instance():
    user = UserFactory.create()
    row = Notification.objects.create(user=user, kind="gate_evaluated", title="t")
    first = Notification.objects.get(pk=row.pk)
    second = Notification.objects.get(pk=row.pk)
    first.title, second.title = "first", "second"

    assert rows_update(Notification, [first, second], ["title"]) == 1

    row.refresh_from_db()
    assert row.title == "first"


def test_update_of_nothing_sends_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert rows_update(Notification, [], ["title"]) == 0


def test_a_relation_that_is_not_a_column_is_refused():
    user = UserFactory.create()

    with pytest.raises(ValueError, match="not a column"):
        rows_update(type(user), [user], ["notifications"])


def test_values_sent_as_they_are_and_values_prepared_by_their_field_are_stored_alike():
    """Plain values (a str, an int key, an aware time) skip their field's preparation;
    lazy text, an enum member and a number given as text for an integer key still go
    through it, and every row reads back the same."""
    from django.utils.translation import gettext_lazy

    from fundapp.notifications.models import EmailState, NotificationKind

    user = UserFactory.create()
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    plain = Notification(
        user_id=user.pk, kind="gate_evaluated", title="Plain", body="", url="", created_at=at
    )
    prepared = Notification(
        user_id=str(user.pk),
        kind=NotificationKind.GATE_EVALUATED,
        title=gettext_lazy("History"),  # type: ignore[misc]  # lazy text, as services pass it
        body="",
        url="",
        created_at=at,
        email_state=EmailState.NOT_REQUESTED,
    )

    rows_insert(
        Notification,
        [plain, prepared],
        ["user", "kind", "title", "body", "url", "created_at", "email_state"],
    )

    stored = list(
        Notification.objects.filter(pk__in=[plain.pk, prepared.pk])
        .order_by("pk")
        .values_list("user_id", "kind", "title", "created_at")
    )
    assert stored == [
        (user.pk, "gate_evaluated", "Plain", at),
        (user.pk, "gate_evaluated", "History", at),
    ]
