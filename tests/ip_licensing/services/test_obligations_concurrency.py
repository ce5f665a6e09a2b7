"""Real threads against real PostgreSQL: the daily obligation job run several times at once
(overlapping beat runs, a redelivered task) moves each obligation once and sends each
cure notice once; two officers completing one waiver at once waive it once."""

from __future__ import annotations

import pytest

from fundapp.notifications.models import Notification, OutboxEvent
from ip_licensing.models import Obligation, ObligationWaiver
from ip_licensing.services.obligations import obligation_waive, obligations_mark_due
from tests.concurrency import run_at_once
from tests.factories.licensing import days, make_world
from tests.factories.obligations import add_obligation, exclusive_licence

pytestmark = [pytest.mark.django_db(transaction=True)]
THREADS = 4


def test_concurrent_runs_of_the_daily_job_move_and_tell_once():
    world = make_world()
    licence = exclusive_licence(world)
    ids = [add_obligation(world, licence, due_on=days(1)).pk for _ in range(3)]

    results, errors = run_at_once(lambda index: obligations_mark_due(today=days(2)), THREADS)

    assert errors == [None] * THREADS
    moved = sorted(pk for result in results for pk in result["overdue"])
    assert moved == sorted(ids)  # each obligation moved by exactly one run
    assert set(Obligation.objects.values_list("state", flat=True)) == {"overdue"}
    assert OutboxEvent.objects.filter(kind="obligation.overdue").count() == 3
    notices = Notification.objects.filter(message="obligation.overdue", user=world.office_licensee)
    assert notices.count() == 3


def test_two_officers_completing_one_waiver_at_once_waive_it_once():
    world = make_world()
    licence = exclusive_licence(world)
    obligation = add_obligation(world, licence)
    obligation_waive(obligation=obligation, actor=world.jp, reason="Market closed.")
    officers = [world.kr, world.kr2]

    results, errors = run_at_once(
        lambda index: (
            obligation_waive(obligation=obligation, actor=officers[index], reason="Agreed.").state
        ),
        threads=2,
    )

    assert sorted(type(e).__name__ for e in errors if e is not None) == ["Conflict"]
    assert "waived" in results
    assert ObligationWaiver.objects.get().state == "completed"
    obligation.refresh_from_db()
    assert obligation.state == "waived"
