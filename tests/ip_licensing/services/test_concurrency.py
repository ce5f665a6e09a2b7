"""Real threads against real PostgreSQL: row locks decide, not luck (§10.2, §2, §16).

Each thread has its own connection and closes it; the barrier releases them together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import close_old_connections, connection

from fundapp.audit.models import AuditEvent
from fundapp.audit.services import verify_chain
from fundapp.errors import Conflict
from ip_licensing.models import Licence, LicenceApproval
from ip_licensing.services.licences import (
    licence_accept,
    licence_approve,
    licences_activate_and_expire,
)
from tests.factories.licences import approved, background_asset, days, draft, make_world, pending

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("upfront_posts")]

ROUNDS = 3


@pytest.fixture(autouse=True)
def _eager_celery():
    from fundapp.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment in threads; return each result or exception."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        close_old_connections()
        try:
            barrier.wait(timeout=10)
            outcomes[i] = call()
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    return outcomes


EXCLUSIVE = {
    "fields_of_use": ["semiconductor.ai"],
    "territories": ["JP"],
    "exclusivity": "exclusive",
}


def test_two_overlapping_exclusive_licences_agreed_at_once_exactly_one_stands():
    world = make_world()
    for round_number in range(ROUNDS):
        asset = background_asset(world.office_licensor, world.licensor, f"Asset {round_number}")
        first = draft(world, assets=[asset.pk], **EXCLUSIVE)
        second = draft(
            world, assets=[asset.pk], **{**EXCLUSIVE, "fields_of_use": ["semiconductor"]}
        )
        for licence in (first, second):
            licence_accept(licence=licence, actor=world.office_licensor)

        outcomes = race(
            partial(licence_accept, licence=first, actor=world.office_licensee),
            partial(licence_accept, licence=second, actor=world.office_licensee),
        )

        won = [o for o in outcomes if isinstance(o, Licence)]
        lost = [o for o in outcomes if isinstance(o, Conflict)]
        assert (len(won), len(lost)) == (1, 1), outcomes
        assert lost[0].code == "exclusive_conflict"
        assert won[0].reference in str(lost[0])
        states = sorted(
            Licence.objects.filter(pk__in=[first.pk, second.pk]).values_list("state", flat=True)
        )
        assert states == ["draft", "pending"]
    assert verify_chain().ok


def test_officers_of_both_sides_approving_at_once_complete_one_approval(upfront_posts):
    world = make_world()
    for _round in range(ROUNDS):
        licence = pending(world, territories=["KR"], fields_of_use=["green"])

        outcomes = race(
            partial(licence_approve, licence=licence, actor=world.jp),
            partial(licence_approve, licence=licence, actor=world.kr),
        )

        assert all(isinstance(o, Licence) for o in outcomes), outcomes
        licence.refresh_from_db()
        assert licence.state == "active"
        approval = LicenceApproval.objects.get(licence=licence)
        assert approval.state == "completed"
        assert {approval.first_side, approval.second_side} == {"JP", "KR"}
        assert upfront_posts.count(licence.pk) == 1


def test_two_second_approvals_at_once_complete_it_once():
    world = make_world()
    licence = pending(world)
    licence_approve(licence=licence, actor=world.jp)

    outcomes = race(
        lambda: licence_approve(licence=licence, actor=world.kr),
        lambda: licence_approve(licence=licence, actor=world.kr2),
    )

    assert sum(isinstance(o, Licence) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1, outcomes
    assert (
        AuditEvent.objects.filter(action="licence.approved", object_id=str(licence.pk)).count() == 1
    )


def test_the_daily_job_run_by_two_workers_changes_each_licence_once(upfront_posts):
    world = make_world()
    licences = [
        approved(
            world, start_on=days(5).isoformat(), end_on=days(40).isoformat(), territories=[code]
        )
        for code in ("JP", "KR", "US", "CN")
    ]

    outcomes = race(
        lambda: licences_activate_and_expire(today=days(5)),
        lambda: licences_activate_and_expire(today=days(5)),
    )

    assert not any(isinstance(o, Exception) for o in outcomes), outcomes
    activated = sorted(pk for outcome in outcomes for pk in outcome["activated"])
    assert activated == sorted(licence.pk for licence in licences)
    assert set(Licence.objects.filter(pk__in=activated).values_list("state", flat=True)) == {
        "active"
    }
    assert sorted(upfront_posts) == activated
    assert AuditEvent.objects.filter(action="licence.activated").count() == len(licences)
