"""The engine's Celery tasks and beat row (§16), and the calendar rule for gate days (§7)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
import redis
from django.conf import settings
from django.db import OperationalError
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from hypothesis import given
from hypothesis import strategies as st

from projects.rules.schedule import add_months, chained_gate_days, gate_day, next_stage_start
from projects.schedules import SCHEDULES, ensure_schedules
from projects.tasks import evaluate_gate, evaluate_gates_batch, reconcile_pending, release_tranche

pytestmark = pytest.mark.usefixtures("eager_celery")


def test_release_is_late_acknowledged_and_retried_with_backoff_on_database_outages():
    assert release_tranche.name == "projects.release_tranche"
    assert release_tranche.acks_late is True
    # celery-types does not declare the task options set by @shared_task(autoretry_for=…).
    assert OperationalError in release_tranche.autoretry_for  # type: ignore[attr-defined]
    assert release_tranche.retry_backoff  # type: ignore[attr-defined]
    assert reconcile_pending.name == "projects.reconcile_pending"
    assert reconcile_pending.acks_late is True


@pytest.mark.django_db
def test_the_reconciler_runs_every_minute_from_beat():
    assert "projects.reconcile_pending" in [s.task for s in SCHEDULES]
    ensure_schedules()

    task = PeriodicTask.objects.get(name="projects.reconcile_pending")
    assert (task.interval.every, task.interval.period) == (1, IntervalSchedule.MINUTES)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 4, 1), 12, date(2027, 4, 1)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2026, 11, 15), 2, date(2027, 1, 15)),
        (date(2026, 5, 9), 0, date(2026, 5, 9)),
    ],
)
def test_gate_days_are_calendar_months_clamped_to_the_month_end(start, months, expected):
    assert add_months(start, months) == expected
    assert gate_day(start, months) == expected


def test_stages_chain_from_the_day_after_each_gate():
    assert chained_gate_days(date(2026, 1, 31), [1, 12]) == [
        (date(2026, 1, 31), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2027, 3, 1)),
    ]
    assert next_stage_start(date(2026, 12, 31)) == date(2027, 1, 1)


def test_add_months_refuses_datetimes_and_negative_months():
    with pytest.raises(TypeError):
        add_months(datetime(2026, 1, 1), 1)  # noqa: DTZ001 - the refusal is the point
    with pytest.raises(ValueError):
        add_months(date(2026, 1, 1), -1)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2200, 1, 1)), st.integers(0, 120))
def test_add_months_lands_in_the_right_month_never_past_the_same_day(start, months):
    result = add_months(start, months)

    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    assert result.day <= start.day
    # Same day of the month, or clamped to the last day of a shorter month.
    assert result.day == start.day or (result + timedelta(days=1)).day == 1


# ------------------------------------------------------------------- the engine's queue


@pytest.fixture
def broker_queue():
    """The broker's list of ``ENGINE_QUEUE`` (this test worker's Redis database), emptied
    before and after; tasks are sent, not run."""
    from fundapp.celery import app as celery_app

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(settings.ENGINE_QUEUE)
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield client
    celery_app.conf.task_always_eager = before
    client.delete(settings.ENGINE_QUEUE)
    client.close()


def test_gate_evaluation_is_sent_to_the_engine_queue_and_nothing_else_is(broker_queue):
    """§19: the CPU-bound gate batches go to the queue the engine worker (one process per
    core) consumes; e-mails and releases stay on the default queue."""
    from fundapp.celery import app as celery_app

    evaluate_gates_batch.delay([1, 2], "2026-07-01")
    evaluate_gate.delay(3)
    release_tranche.delay(4)

    sent = [json.loads(raw) for raw in broker_queue.lrange(settings.ENGINE_QUEUE, 0, -1)]
    assert sorted(message["headers"]["task"] for message in sent) == [
        "projects.evaluate_gate",
        "projects.evaluate_gates_batch",
    ]
    route = celery_app.amqp.router.route
    assert route({}, "projects.evaluate_gates_batch")["queue"].name == settings.ENGINE_QUEUE
    assert route({}, "projects.release_tranche")["queue"].name == "celery"
    assert route({}, "projects.evaluate_due_gates")["queue"].name == "celery"
