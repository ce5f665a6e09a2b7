"""The daily stipend job (§25, §16): set-based, in advance month by month, exactly once per
visit-month whatever the retries, concurrent workers and early ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Q, Sum
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fundapp.audit.models import AuditEvent
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import Transaction
from fundapp.ledger.selectors import account_balance, ledger_verify
from fundapp.notifications.models import Notification, OutboxEvent
from mobility.models import PaymentKind, Visit, VisitPayment
from mobility.rules import add_months, stipend_months_due
from mobility.services.stipends import stipends_release
from mobility.services.visits import visit_confirm_arrival, visit_confirm_departure
from mobility.tasks import release_stipends
from tests.concurrency import run_at_once
from tests.factories import officer
from tests.factories.mobility import awarded_visit

STIPEND = 3_000_000
TRAVEL = 2_000_000
ARRIVAL = date(2026, 1, 31)


@pytest.fixture(autouse=True)
def no_enqueued_release(monkeypatch):
    """The arrival's own after-commit request to the job: the tests run the job themselves."""
    monkeypatch.setattr("mobility.services.visits._enqueue_stipends", lambda visit_id: None)


def arrived_visit(*, on: date = ARRIVAL, months: int = 6) -> Visit:
    visit = awarded_visit(months=months)
    return visit_confirm_arrival(visit=visit, actor=officer("KR"), arrived_on=on)


def stipend_months(visit: Visit) -> list[int]:
    return sorted(
        VisitPayment.objects.filter(visit=visit, kind=PaymentKind.STIPEND).values_list(
            "month", flat=True
        )
    )


@pytest.mark.django_db
def test_the_job_pays_each_month_due_in_advance_and_once():
    visit = arrived_visit()

    first = stipends_release(today=ARRIVAL)
    assert first.released == [(visit.pk, 1)]
    # 31 January + 1 month is 28 February; nothing more is due the day before.
    assert stipends_release(today=date(2026, 2, 27)).released == []
    assert stipends_release(today=date(2026, 2, 28)).released == [(visit.pk, 2)]
    assert stipends_release(today=date(2026, 2, 28)).released == []
    # A job that missed days catches up: months 3 and 4 (31 March, 30 April).
    assert stipends_release(today=date(2026, 5, 1)).released == [(visit.pk, 3), (visit.pk, 4)]

    assert stipend_months(visit) == [1, 2, 3, 4]
    txn = Transaction.objects.get(reference=f"visit:{visit.pk}:stipend:3")
    assert txn.kind == "tranche_release"
    payment = VisitPayment.objects.get(visit=visit, kind=PaymentKind.STIPEND, month=3)
    assert (payment.amount, payment.transaction_id) == (STIPEND, txn.pk)
    events = OutboxEvent.objects.filter(kind="visit.stipend_released").order_by("pk")
    assert [e.payload["month"] for e in events] == [1, 2, 3, 4]
    assert events[2].payload["due_on"] == "2026-03-31"
    audits = AuditEvent.objects.filter(action="visit.stipend_released", object_id=str(visit.pk))
    assert sorted((a.after or {})["month"] for a in audits) == [1, 2, 3, 4]
    notices = Notification.objects.filter(
        user=visit.application.visitor, message="visit.stipend_released"
    )
    assert notices.count() == 4
    assert ledger_verify().breaches == []


@pytest.mark.django_db
def test_visits_not_active_are_left_alone():
    awarded = awarded_visit()
    ended = arrived_visit(months=3)
    visit_confirm_departure(visit=ended, actor=officer("KR"), ended_on=ARRIVAL)
    assert stipend_months(ended) == [1]
    assert stipends_release(today=date(2026, 12, 1)).released == []
    assert not VisitPayment.objects.filter(visit=awarded).exists()


@pytest.mark.django_db
def test_the_job_takes_a_fixed_number_of_queries_whatever_the_number_of_visits():
    def run(count: int, day: date) -> int:
        new = {arrived_visit(on=day).pk for _ in range(count)}
        with CaptureQueriesContext(connection) as queries:
            released = stipends_release(today=add_months(day, 1))
        assert sorted(p for p in released.released if p[0] in new) == sorted(
            (pk, month) for pk in new for month in (1, 2)
        )
        return len(queries)

    small = run(2, date(2026, 1, 10))
    # The two earlier visits have months 3 and 4 due by then as well: 28 months in all.
    large = run(12, date(2026, 3, 10))
    assert small == large == 6


@pytest.mark.django_db
def test_the_days_are_the_funds_days_in_asia_tokyo():
    visit = arrived_visit(on=date(2026, 3, 10))
    stipends_release(today=date(2026, 3, 10))
    # 23:59:59 on 9 April in Tokyo: month 2 (due 10 April) is not due yet.
    with mock.patch(
        "django.utils.timezone.now", return_value=datetime(2026, 4, 9, 14, 59, 59, tzinfo=UTC)
    ):
        assert stipends_release().released == []
    with mock.patch(
        "django.utils.timezone.now", return_value=datetime(2026, 4, 9, 15, 0, 0, tzinfo=UTC)
    ):
        assert stipends_release().released == [(visit.pk, 2)]


@pytest.mark.django_db
def test_the_task_releases_the_months_due_today():
    visit = arrived_visit(on=date(2026, 6, 1), months=2)
    result = release_stipends.apply(kwargs={"visit_ids": [visit.pk]}).get()
    assert result == {"released": [[visit.pk, 1], [visit.pk, 2]]}
    assert release_stipends.apply().get() == {"released": []}


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_release_each_month_once():
    visits = [arrived_visit(on=date(2026, 2, 15), months=4) for _ in range(5)]
    results, errors = run_at_once(lambda _i: stipends_release(today=date(2026, 4, 20)), threads=6)
    assert errors == [None] * 6
    released = sorted(pair for result in results for pair in result.released)
    expected = sorted((v.pk, month) for v in visits for month in (1, 2, 3))
    assert released == expected
    for visit in visits:
        assert stipend_months(visit) == [1, 2, 3]
        for month in (1, 2, 3):
            reference = f"visit:{visit.pk}:stipend:{month}"
            assert Transaction.objects.filter(reference=reference).count() == 1
    assert OutboxEvent.objects.filter(kind="visit.stipend_released").count() == 15
    assert ledger_verify().breaches == []


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    arrival=st.integers(0, 60).map(lambda d: date(2025, 1, 1) + timedelta(days=d)),
    months=st.integers(1, 12),
    end=st.none() | st.integers(0, 400),
    runs=st.lists(st.integers(0, 420), max_size=6),
)
def test_any_timeline_releases_the_months_due_before_the_end_and_returns_the_rest(
    arrival, months, end, runs
):
    visit = arrived_visit(on=arrival, months=months)
    ended_on = arrival + timedelta(days=end) if end is not None else None
    departed = False
    for run in sorted(runs):
        day = arrival + timedelta(days=run)
        if ended_on is not None and not departed and day >= ended_on:
            visit_confirm_departure(visit=visit, actor=officer("KR"), ended_on=ended_on)
            departed = True
        stipends_release(today=day, visit_ids=[visit.pk])
    if ended_on is not None and not departed:
        visit_confirm_departure(visit=visit, actor=officer("KR"), ended_on=ended_on)

    if ended_on is not None:
        expected = stipend_months_due(arrived_on=arrival, months=months, until=ended_on)
    elif runs:
        last = arrival + timedelta(days=max(runs))
        expected = stipend_months_due(arrived_on=arrival, months=months, until=last)
    else:
        expected = []
    assert stipend_months(visit) == expected
    stipends = len(expected) * STIPEND
    released = VisitPayment.objects.filter(visit=visit).aggregate(total=Sum("amount"))["total"]
    assert released == TRAVEL + stipends
    returned = Transaction.objects.filter(reference=f"visit:{visit.pk}:return").aggregate(
        total=Sum("entries__amount", filter=Q(entries__amount__gt=0))
    )["total"]
    left = committed_left(visit)
    assert released + (returned or 0) + left == months * STIPEND + TRAVEL
    if ended_on is not None:
        assert (left, returned or 0) == (0, (months - len(expected)) * STIPEND)
    else:
        assert returned is None
    assert ledger_verify().breaches == []


def committed_left(visit: Visit) -> int:
    return account_balance(ledger_rules.account_code_visit_committed(visit.pk, visit.paying_side))
