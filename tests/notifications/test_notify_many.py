"""notify_many (§13.1): a batch of notices in one insert, each rendered as notify() would."""

from __future__ import annotations

import pytest
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from fundapp.notifications.models import EmailState, Notification
from fundapp.notifications.services import Notice, notify, notify_many
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _title(n: int):
    return format_lazy(
        gettext_lazy("Stage {number} gate evaluated: {outcome} (score {score})"),
        number=n,
        outcome=gettext_lazy("Decision needed"),
        score="1.0000",
    )


def test_a_batch_writes_what_notify_writes_one_by_one_in_a_fixed_number_of_queries(
    django_assert_num_queries,
):
    en = UserFactory.create(preferred_language="en")
    ja = UserFactory.create(preferred_language="ja")
    ko = UserFactory.create(preferred_language="ko", email="")
    notices = [
        Notice(users=[en, ja, ja, None], kind="gate_evaluated", title=_title(1), url="/p/1/"),
        Notice(users=[ko, en], kind="decision_needed", title=_title(2), body="Why"),
        Notice(users=[], kind="decision_needed", title=_title(3)),
    ]

    with django_assert_num_queries(3):  # a savepoint pair and the insert
        batched = notify_many(notices)
    one_by_one = [
        row
        for n in notices
        for row in notify(users=n.users, kind=n.kind, title=n.title, body=n.body, url=n.url)
    ]

    def shape(rows):
        return [(r.user_id, r.kind, r.title, r.body, r.url, r.email_state) for r in rows]

    assert shape(batched) == shape(one_by_one)
    assert len({r.title for r in batched if r.kind == "gate_evaluated"}) == 2  # en and ja
    assert Notification.objects.get(pk=batched[2].pk).email_state == EmailState.NOT_REQUESTED


def test_an_unknown_kind_is_refused_before_anything_is_written():
    user = UserFactory.create()
    with pytest.raises(ValueError):
        notify_many([Notice(users=[user], kind="nonsense", title="x")])
    assert not Notification.objects.exists()
