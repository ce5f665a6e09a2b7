"""notify_many and notify_many_parts (§13.1): a batch of notices in one insert, each
rendered as notify() would."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fundapp.kernel import notices as kernel_notices
from fundapp.notifications import services
from fundapp.notifications.messages import notifications_render
from fundapp.notifications.models import EmailState, Notification
from fundapp.notifications.services import (
    Notice,
    Recipient,
    RecipientsNotice,
    notify,
    notify_many,
    notify_many_parts,
)
from fundapp.statements import statement_run
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = date(2026, 1, 5)
WHAT = ("message", "params", "url")


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


def _parts_shape(notices: list[Notice]) -> list[tuple]:
    parts = notify_many_parts(
        [
            RecipientsNotice(
                recipients=[
                    Recipient(u.pk, u.preferred_language, u.is_active, u.email)
                    for u in n.users
                    if u is not None
                ],
                message=n.message,
                params=n.params,
                url=n.url,
            )
            for n in notices
        ]
    )
    assert parts is not None
    ids = parts.notified(statement_run([parts.part]))
    return [
        (r.user_id, r.kind, r.message, r.params, r.url, r.email_state)
        for r in Notification.objects.filter(pk__in=ids).order_by("id")
    ]


def _values_shape(notices: list[Notice]) -> list[tuple]:
    """``_parts_shape`` through the kernel: recipients as plain values, one list object
    for notices that name the same people."""
    lists: dict[tuple, list] = {}
    parts = kernel_notices.notify_people_many_parts(
        [
            kernel_notices.RecipientsNotice(
                recipients=lists.setdefault(
                    tuple(u.pk for u in n.users if u is not None),
                    kernel_notices.recipients_of(u for u in n.users if u is not None),
                ),
                message=n.message,
                params=n.params,
                url=n.url,
            )
            for n in notices
        ]
    )
    if parts is None:
        return []
    ids = parts.notified(statement_run([parts.part]))
    return [
        (r.user_id, r.kind, r.message, r.params, r.url, r.email_state)
        for r in Notification.objects.filter(pk__in=ids).order_by("id")
    ]


@pytest.mark.parametrize("shape", [_parts_shape, _values_shape])
def test_the_parts_write_what_notify_many_writes_with_parameters_made_plain(shape):
    # given parameters that are not plain JSON yet (a decimal, a date)
    en = UserFactory.create(preferred_language="en")
    ko = UserFactory.create(preferred_language="ko", email="")
    notices = [
        Notice(
            users=[en, ko, en],
            message="gate.evaluated",
            params={"number": 2, "outcome": "pass", "score": Decimal("0.8120")},
            url="/p/2/",
        ),
        Notice(
            users=[ko], message="test.decision_needed", params={"title": '審査 "하나"', "body": NOW}
        ),
        Notice(users=[en], message="gate.evaluated", params=_gate(3)),
    ]

    # when written as parts and by notify_many
    parts = shape(notices)
    rows = [
        (r.user_id, r.kind, r.message, r.params, r.url, r.email_state)
        for r in Notification.objects.filter(pk__in=[r.pk for r in notify_many(notices)]).order_by(
            "id"
        )
    ]

    # then the rows are the same, their parameters as they are read back
    assert parts == rows
    assert [r[3] for r in parts] == [
        {"number": 2, "outcome": "pass", "score": "0.8120"},
        {"number": 2, "outcome": "pass", "score": "0.8120"},
        {"title": '審査 "하나"', "body": "2026-01-05"},
        _gate(3),
    ]


@pytest.mark.parametrize(
    ("first", "second", "error"),
    [
        # the first notice's link is refused before the second's parameters are encoded
        ({"url": "javascript:x"}, {"params": {"title": object(), "body": ""}}, ValueError),
        ({"params": {"title": object(), "body": ""}}, {"url": "javascript:x"}, TypeError),
        ({"message": "nonsense"}, {"params": {"title": object(), "body": ""}}, ValueError),
        ({"params": {"title": "T"}}, {"params": {"title": object(), "body": ""}}, ValueError),
    ],
)
@pytest.mark.parametrize("shape", [_parts_shape, _values_shape])
def test_a_batch_fails_on_its_first_bad_notice_as_one_by_one(first, second, error, shape):
    user = UserFactory.create()

    def notice(**kwargs) -> Notice:
        values = {"message": "test.decision_needed", "params": {"title": "T", "body": "B"}}
        return Notice(users=[user], **{**values, **kwargs})

    notices = [notice(**first), notice(**second)]
    with pytest.raises(error):
        notify(users=notices[0].users, **{k: getattr(notices[0], k) for k in WHAT})
    with pytest.raises(error):
        notify_many(notices)
    with pytest.raises(error):
        shape(notices)
    assert not Notification.objects.exists()


@pytest.mark.parametrize("shape", [_parts_shape, _values_shape])
def test_the_parts_write_a_row_per_distinct_person_of_each_notice_in_order(shape):
    # given people named twice, switched off, without an address, and notices that share
    # their list of people or have none
    en = UserFactory.create(preferred_language="en")
    off = UserFactory.create(is_active=False)
    blank = UserFactory.create(email="  ")
    officers = [en, off, blank, en]
    notices = [
        Notice(users=officers, message="gate.evaluated", params=_gate(1), url="/p/1/"),
        Notice(users=[], message="gate.evaluated", params=_gate(2)),
        Notice(users=[blank, None], message="gate.evaluated", params=_gate(3), url="/p/3/"),
        Notice(users=officers, message="test.decision_needed", params={"title": "T", "body": ""}),
    ]

    # when written as parts and by notify_many
    parts = shape(notices)
    rows = [
        (r.user_id, r.kind, r.message, r.params, r.url, r.email_state)
        for r in Notification.objects.filter(pk__in=[r.pk for r in notify_many(notices)]).order_by(
            "id"
        )
    ]

    # then the rows are the same, in the notices' order, e-mail asked only where it can go
    assert parts == rows
    assert [(r[0], r[5]) for r in parts] == [
        (en.pk, EmailState.PENDING),
        (off.pk, EmailState.NOT_REQUESTED),
        (blank.pk, EmailState.NOT_REQUESTED),
        (blank.pk, EmailState.NOT_REQUESTED),
        (en.pk, EmailState.PENDING),
        (off.pk, EmailState.NOT_REQUESTED),
        (blank.pk, EmailState.NOT_REQUESTED),
    ]


def test_no_one_to_tell_is_no_part():
    user = UserFactory.create()
    notices = [Notice(users=[], message="gate.evaluated", params=_gate(1))]

    assert _values_shape(notices) == []
    assert (
        notify_many_parts(
            [RecipientsNotice(recipients=[], message="gate.evaluated", params=_gate(1))]
        )
        is None
    )
    notices.append(Notice(users=[user], message="nonsense"))
    with pytest.raises(ValueError):
        _values_shape(notices)


@pytest.mark.parametrize("emailed", [True, False])
def test_parts_without_ids_write_the_same_rows_and_send_the_same_emails(monkeypatch, emailed):
    # given notices to people of whom some can be e-mailed (or none can)
    en = UserFactory.create(preferred_language="en", email="en@example.org" if emailed else "")
    off = UserFactory.create(is_active=False)
    people = kernel_notices.recipients_of([en, off, en])
    notices = [
        kernel_notices.RecipientsNotice(
            recipients=people, message="gate.evaluated", params=_gate(1), url="/p/1/"
        ),
        kernel_notices.RecipientsNotice(
            recipients=people[:1], message="test.decision_needed", params={"title": "T", "body": ""}
        ),
    ]
    sweeps: list[bool] = []
    monkeypatch.setattr(services, "_sweep_after_commit", lambda: sweeps.append(True))

    def written(ids: bool) -> tuple[list[tuple], list[int], int]:
        sweeps.clear()
        last = Notification.objects.order_by("-id").values_list("id", flat=True).first() or 0
        parts = kernel_notices.notify_people_many_parts(notices, ids=ids)
        assert parts is not None
        returned = parts.notified(statement_run([parts.part]))
        rows = [
            (r.user_id, r.kind, r.message, r.params, r.url, r.email_state)
            for r in Notification.objects.filter(pk__gt=last).order_by("id")
        ]
        return rows, returned, len(sweeps)

    # when written with their ids returned, then without
    with_ids, returned, swept = written(ids=True)
    without_ids, none_returned, swept_without = written(ids=False)

    # then the same rows are written and the e-mails swept alike; only the ids are not read
    assert without_ids == with_ids and len(with_ids) == 3
    assert len(returned) == 3 and none_returned == []
    assert swept == swept_without == (1 if emailed else 0)
    assert [r[5] for r in without_ids].count(EmailState.PENDING) == (2 if emailed else 0)
