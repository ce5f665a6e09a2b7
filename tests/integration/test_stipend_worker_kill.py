"""A real Celery worker killed in the middle of the stipend job leaves nothing; the rerun
pays each visit-month exactly once (§25, §16).

As in ``test_worker_kill``: the test holds a row lock on the visits' committed account,
so the worker — visits locked, its one statement sent — waits inside the ledger posting
with nothing written; the test kills it (SIGKILL, the whole process group), lets go, and
runs the job again on a new worker.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command

from fundapp.kernel.calendar import today_in_tokyo
from fundapp.ledger.models import Transaction
from mobility.models import PaymentKind, VisitPayment
from mobility.services.visits import visit_confirm_arrival
from mobility.tasks import release_stipends
from tests.factories import officer
from tests.factories.mobility import awarded_visit

from .conftest import wait_for
from .test_worker_kill import _backend_alive, _backends_waiting_on_a_lock, _raw_connection

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

START_TIMEOUT = 30


def _months(visit_id: int) -> list[int]:
    return sorted(
        VisitPayment.objects.filter(visit_id=visit_id, kind=PaymentKind.STIPEND).values_list(
            "month", flat=True
        )
    )


def test_a_worker_killed_mid_job_leaves_nothing_and_the_rerun_pays_each_month_once(
    monkeypatch, start_worker, celery_queue
):
    monkeypatch.setattr("mobility.services.visits._enqueue_stipends", lambda visit_id: None)
    # Arrived 40 days ago: months 1 and 2 are due.
    visit = visit_confirm_arrival(
        visit=awarded_visit(months=3),
        actor=officer("KR"),
        arrived_on=today_in_tokyo() - timedelta(days=40),
    )
    holder, observer = _raw_connection(), _raw_connection()
    observer.autocommit = True
    try:
        holder.execute(
            "SELECT id FROM ledger_account WHERE code = %s FOR UPDATE",
            [f"visit:{visit.pk}:KR:committed"],
        )
        doomed = start_worker()
        release_stipends.apply_async(queue=celery_queue)
        (waiting,) = wait_for(
            lambda: _backends_waiting_on_a_lock(observer),
            timeout=START_TIMEOUT,
            what="the worker to block inside the stipend job",
            worker=doomed,
        )
        doomed.kill()
        holder.rollback()
        wait_for(
            lambda: not _backend_alive(observer, waiting),
            timeout=15,
            what="the killed worker's session to end",
        )
    finally:
        holder.close()
        observer.close()

    assert _months(visit.pk) == []
    assert not Transaction.objects.filter(reference__startswith=f"visit:{visit.pk}:stipend:")

    survivor = start_worker()
    for _ in range(2):  # a duplicate delivery changes nothing
        release_stipends.apply_async(queue=celery_queue)
    wait_for(
        lambda: survivor.output().count("succeeded") >= 2,
        timeout=START_TIMEOUT,
        what="the reruns",
        worker=survivor,
    )
    assert _months(visit.pk) == [1, 2]
    for month in (1, 2):
        reference = f"visit:{visit.pk}:stipend:{month}"
        assert Transaction.objects.filter(reference=reference).count() == 1
    call_command("check_ledger")
