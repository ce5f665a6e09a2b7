"""notify_many (§13.1): a batch of notices in one insert, each rendered as notify() would."""

from __future__ import annotations

import pytest

from fundapp.notifications.messages import notifications_render
from fundapp.notifications.models import EmailState, Notification
from fundapp.notifications.services import Notice, notify, notify_many
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _gate(n: int):
    return {"number": n, "outcome": "pass", "score": "1.0000"}


def test_a_batch_writes_what_notify_writes_one_by_one_in_a_fixed_number_of_queries(
    django_assert_num_queries,
):
    en = UserFactory.create(preferred_language="en")
    ja = UserFactory.create(preferred_language="ja")
    ko = UserFactory.create(preferred_language="ko", email="")
    notices = [
        Notice(users=[en, ja, ja, None], message="gate.evaluated", params=_gate(1), url="/p/1/"),
        Notice(
            users=[ko, en], message="test.decision_needed", params={"title": "T", "body": "Why"}
        ),
        Notice(users=[], message="gate.evaluated", params=_gate(3)),
    ]

    with django_assert_num_queries(3):  # a savepoint pair and the insert
        batched = notify_many(notices)
    one_by_one = [
        row
        for n in notices
        for row in notify(users=n.users, message=n.message, params=n.params, url=n.url)
    ]

    def shape(rows):
        return [
            (r.user_id, r.kind, r.message, r.params, r.title, r.url, r.email_state)
            for r in Notification.objects.filter(pk__in=[r.pk for r in rows]).order_by("id")
        ]

    assert shape(batched) == shape(one_by_one)
    # Rendered when read, in the reader's language.
    english, japanese = [r for r in batched if r.kind == "gate_evaluated"]
    notifications_render([english], language="en")
    notifications_render([japanese], language="ja")
    assert english.shown_title == "Stage 1 gate evaluated: Pass (score 1.0000)"
    assert japanese.shown_title != english.shown_title and "1.0000" in japanese.shown_title
    assert Notification.objects.get(pk=batched[2].pk).email_state == EmailState.NOT_REQUESTED


def test_an_unknown_message_is_refused_before_anything_is_written():
    user = UserFactory.create()
    with pytest.raises(ValueError):
        notify_many(
            [
                Notice(users=[user], message="gate.evaluated", params=_gate(1)),
                Notice(users=[user], message="nonsense"),
            ]
        )
    assert not Notification.objects.exists()
