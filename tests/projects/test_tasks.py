"""The beat task that moves calls by the clock, and the schedules in django-celery-beat (§16)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from fundapp.audit.models import AuditEvent
from projects.models import Call, CallState
from projects.schedules import SCHEDULES, ensure_schedules, ensure_schedules_after_migrate
from projects.services.calls import calls_open_and_close
from projects.tasks import open_and_close_calls
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def test_the_task_is_registered_late_acknowledged_and_calls_the_service():
    now = timezone.now()
    due = CallFactory.create(state=CallState.OPEN, opens_at=now - timedelta(days=3), closes_at=now)
    upcoming = CallFactory.create(
        state=CallState.DRAFT,
        opens_at=now - timedelta(minutes=1),
        closes_at=now + timedelta(days=30),
    )

    result = open_and_close_calls.apply().get()

    assert open_and_close_calls.name == "projects.open_and_close_calls"
    assert open_and_close_calls.acks_late is True
    assert result == {"opened": [upcoming.pk], "closed": [due.pk], "failed": []}
    assert dict(Call.objects.values_list("pk", "state")) == {
        due.pk: CallState.CLOSED,
        upcoming.pk: CallState.OPEN,
    }
    # Redelivered after a worker died: nothing more happens.
    assert open_and_close_calls.apply().get() == {"opened": [], "closed": [], "failed": []}
    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_several_workers_at_once_close_a_call_exactly_once():
    now = timezone.now()
    call = CallFactory.create(state=CallState.OPEN, opens_at=now - timedelta(days=3), closes_at=now)
    start = threading.Barrier(4)
    results: list[tuple[int, ...]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            results.append(calls_open_and_close(now=now).closed)
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(results) == [(), (), (), (call.pk,)]
    assert AuditEvent.objects.filter(action="call.closed").count() == 1


# --- schedules ----------------------------------------------------------------------------


def test_migrate_left_the_schedule_in_the_database():
    task = PeriodicTask.objects.get(name="projects.open_and_close_calls")
    assert task.task == "projects.open_and_close_calls"
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (5, IntervalSchedule.MINUTES)
    assert task.crontab is None


def test_ensure_schedules_is_idempotent():
    PeriodicTask.objects.all().delete()
    IntervalSchedule.objects.all().delete()

    assert ensure_schedules() == [s.task for s in SCHEDULES]
    snapshot = list(PeriodicTask.objects.order_by("id").values())
    intervals = IntervalSchedule.objects.count()

    assert ensure_schedules() == []
    assert list(PeriodicTask.objects.order_by("id").values()) == snapshot
    assert IntervalSchedule.objects.count() == intervals


def test_ensure_schedules_puts_back_the_schedule_but_respects_a_paused_task():
    task = PeriodicTask.objects.get(name="projects.open_and_close_calls")
    hourly = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    task.interval = hourly
    task.enabled = False
    task.save()

    assert ensure_schedules() == ["projects.open_and_close_calls"]

    task.refresh_from_db()
    assert (task.interval.every, task.interval.period) == (5, IntervalSchedule.MINUTES)
    assert task.enabled is False


def test_the_migrate_hook_waits_for_the_beat_tables():
    class NoBeatYet:
        def get_model(self, app_label, model_name):
            raise LookupError(app_label)

    PeriodicTask.objects.all().delete()
    ensure_schedules_after_migrate(sender=None, using="default", apps=NoBeatYet())
    assert not PeriodicTask.objects.exists()

    from django.apps import apps

    ensure_schedules_after_migrate(sender=None, using="default", apps=apps)
    assert PeriodicTask.objects.filter(name="projects.open_and_close_calls").exists()
