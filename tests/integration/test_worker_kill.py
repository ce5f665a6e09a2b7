"""A real Celery worker releases tranches exactly once, even when killed mid-release (§9, §16).

The worker runs ``projects.release_tranche`` against the test database. To catch it in the
middle of a release deterministically, the test holds a row lock on the project's committed
account: the worker locks the project and the tranche, then waits on that account inside
the ledger posting — nothing is written yet. The test kills the worker (SIGKILL, the whole
process group), lets go of the lock, starts a new worker and runs the reconciler.
"""

from __future__ import annotations

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from fundapp.ledger.models import Transaction
from projects.models import Disbursement, Tranche, TrancheState
from projects.tasks import reconcile_pending, release_tranche
from tests.factories.engine import award, engine_proposal, fund_pools, make_staff, tranche

from .conftest import wait_for

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

START_TIMEOUT = 30


@pytest.fixture
def project(monkeypatch):
    """An awarded project whose tranche-1 release messages were never sent: the test sends
    them to its own worker."""
    monkeypatch.setattr(
        "projects.services.tranches.tranche_enqueue_release", lambda tranche_id: None
    )
    staff = make_staff()
    fund_pools(staff)
    proposal, _c = engine_proposal()
    return award(proposal, staff)


def _tranche_state(tranche_id: int) -> str:
    return Tranche.objects.values_list("state", flat=True).get(pk=tranche_id)


def _raw_connection() -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(
        dbname=params["NAME"],
        user=params.get("USER") or None,
        password=params.get("PASSWORD") or None,
        host=params.get("HOST") or "127.0.0.1",
        port=params.get("PORT") or 5432,
    )


def _backends_waiting_on_a_lock(raw: psycopg.Connection) -> list[int]:
    rows = raw.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
    ).fetchall()
    return [pid for (pid,) in rows]


def _backend_alive(observer: psycopg.Connection, pid: int) -> bool:
    return bool(observer.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone())


def test_a_real_worker_releases_a_decided_tranche_once(project, start_worker, celery_queue):
    first = tranche(project, 1, "JP")
    assert first.state == TrancheState.DECIDED
    worker = start_worker()

    # The same message twice (a duplicate delivery): one release, one ledger transaction.
    for _ in range(2):
        release_tranche.apply_async(kwargs={"tranche_id": first.pk}, queue=celery_queue)
    wait_for(
        lambda: _tranche_state(first.pk) == TrancheState.RELEASED,
        timeout=START_TIMEOUT,
        what="the worker to release the tranche",
        worker=worker,
    )
    wait_for(
        lambda: worker.output().count("succeeded") >= 2,
        timeout=START_TIMEOUT,
        what="the duplicate message to be handled",
        worker=worker,
    )

    first.refresh_from_db()
    assert first.released == 40_000_000
    assert Transaction.objects.filter(reference=f"tranche:{first.pk}:release").count() == 1
    assert Disbursement.objects.filter(tranche=first).count() == 1
    assert tranche(project, 1, "KR").state == TrancheState.DECIDED  # never sent
    call_command("check_ledger")


def test_a_worker_killed_mid_release_leaves_it_to_the_reconciler_and_it_happens_once(
    project, start_worker, celery_queue
):
    jp, kr = tranche(project, 1, "JP"), tranche(project, 1, "KR")
    holder, observer = _raw_connection(), _raw_connection()
    observer.autocommit = True
    try:
        # Hold the project's JP committed account: the release will wait on it, mid-way.
        holder.execute(
            "SELECT id FROM ledger_account WHERE code = %s FOR UPDATE",
            [f"project:{project.pk}:JP:committed"],
        )
        doomed = start_worker()
        release_tranche.apply_async(kwargs={"tranche_id": jp.pk}, queue=celery_queue)
        (waiting,) = wait_for(
            lambda: _backends_waiting_on_a_lock(observer),
            timeout=START_TIMEOUT,
            what="the worker to block inside the release",
            worker=doomed,
        )

        doomed.kill()
        holder.rollback()
        # The killed worker's database session notices its client is gone and rolls back.
        wait_for(
            lambda: not _backend_alive(observer, waiting),
            timeout=15,
            what="the killed worker's session to end",
        )
    finally:
        holder.close()
        observer.close()

    assert _tranche_state(jp.pk) == TrancheState.DECIDED
    assert not Transaction.objects.filter(reference=f"tranche:{jp.pk}:release").exists()

    survivor = start_worker()
    reconcile_pending.apply_async(kwargs={"grace_seconds": 0}, queue=celery_queue)
    wait_for(
        lambda: {_tranche_state(jp.pk), _tranche_state(kr.pk)} == {TrancheState.RELEASED},
        timeout=START_TIMEOUT,
        what="the reconciler's releases",
        worker=survivor,
    )

    for t in (jp, kr):
        assert Transaction.objects.filter(reference=f"tranche:{t.pk}:release").count() == 1
        assert Disbursement.objects.filter(tranche=t).count() == 1
    jp.refresh_from_db()
    assert (jp.released, jp.from_reserve) == (40_000_000, 0)
    call_command("check_ledger")
