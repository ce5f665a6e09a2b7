"""5. Tranche release by 4 concurrent worker processes, on the release tasks' path: the
decided stage-1 tranches (multiplier 1) of active projects whose budgets are committed in
the ledger, in the batches ``tranche_enqueue_release`` sends (``RELEASE_BATCH_SIZE`` sorted
ids a message), dealt to the 4 workers in turn, each batch through ``tranches_release``
(one database transaction per batch). The baseline inserts the same number of balanced
ledger transactions (committed → payable, one transaction and two entries each) from 4
processes with plain SQL, one database transaction each. The database is restored before
every run; ``check_ledger`` runs after the last."""

from __future__ import annotations

import psycopg
from django.db import connection

from bench import db, world
from bench.core import Row, counting, n, parallel
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import Account
from fundapp.ledger.selectors import ledger_verify
from projects.models import ProjectOrganisation, Tranche, TrancheState
from projects.services.notices import project_url_of
from projects.services.tranches import RELEASE_BATCH_SIZE

FULL_RELEASES = 10_000
WORKERS = 4


def _release(batches: list[list[int]]) -> int:
    """One worker's share: the body of ``release_tranches`` for each batch it receives."""
    from projects.services.tranches import tranches_release

    with counting() as counter:
        for batch in batches:
            result = tranches_release(tranche_ids=batch)
            assert not result.refused, result.refused
    return counter.count


def _plain(legs: list[tuple[int, str, int, int, int]]) -> int:
    """One balanced transaction per tranche, as plain SQL; returns the statements sent."""
    statements = 0
    with psycopg.connect(db.conninfo(db.WORK)) as conn:
        for tranche_id, currency, amount, committed, payable in legs:
            with conn.transaction():
                row = conn.execute(
                    "INSERT INTO ledger_transaction (kind, currency, reference, memo) "
                    "VALUES ('tranche_release', %s, %s, '') RETURNING id",
                    [currency, f"tranche:{tranche_id}:baseline"],
                ).fetchone()
                assert row is not None
                txn = row[0]
                conn.execute(
                    "INSERT INTO ledger_entry (transaction_id, account_id, currency, amount) "
                    "VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)",
                    [txn, committed, currency, -amount, txn, payable, currency, amount],
                )
            statements += 4  # BEGIN, two INSERTs, COMMIT
    return statements


def setup(scale: float) -> dict:
    releases = n(scale, FULL_RELEASES, 8)
    db.fresh()
    base = world.make_base(jp_pool=10**13, kr_pool=10**14)
    projects = world.make_projects(
        base, (releases + 1) // 2, kpis_per_stage=1, tranche_state=TrancheState.DECIDED
    )
    ids = sorted(t for ts in projects.tranches1.values() for t in ts)[:releases]
    accounts = dict(Account.objects.values_list("code", "pk"))
    lead = {
        (po.project_id, po.side): po.organisation_id
        for po in ProjectOrganisation.objects.filter(project_id__in=projects.ids)
    }
    legs = []
    for t in Tranche.objects.filter(pk__in=ids).order_by("pk"):
        committed = accounts[ledger_rules.account_code_project_committed(t.project_id, t.side)]
        org = lead[(t.project_id, t.side)]
        payable = accounts[ledger_rules.account_code_org_payable(org, t.currency)]
        legs.append((t.pk, t.currency, t.planned, committed, payable))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    db.snapshot()
    # The workers are forked from this process. A release links its notifications to the
    # project's page, and the first ``reverse`` of a process imports and compiles the whole
    # URLconf (about a second of CPU): done here once, as a long-running worker has done it
    # before its first release, and not in each timed worker's first batch.
    project_url_of(ids[0])
    return {"ids": ids, "legs": legs}


def _split(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts)]


def _batches(ids: list[int]) -> list[list[int]]:
    """The release tasks' batches, as ``tranche_enqueue_release`` sends the decided tranches
    of one transaction: sorted ids, ``RELEASE_BATCH_SIZE`` a message."""
    return [ids[i : i + RELEASE_BATCH_SIZE] for i in range(0, len(ids), RELEASE_BATCH_SIZE)]


def run(scale: float, repeat: int) -> Row:
    data = setup(scale)
    releases = len(data["ids"])
    project_times, baseline_times, queries = [], [], 0
    for i in range(repeat):
        if i:
            db.restore()
        seconds, _statements = parallel(_plain, _split(data["legs"], WORKERS))
        baseline_times.append(seconds)
        db.restore()
        seconds, queries = parallel(_release, _split(_batches(data["ids"]), WORKERS))
        project_times.append(seconds)
    batches = len(_batches(data["ids"]))
    report = ledger_verify()
    released = Tranche.objects.filter(pk__in=data["ids"], state=TrancheState.RELEASED).count()
    notes = [
        f"{releases / project_times[-1]:,.0f} releases/s vs "
        f"{releases / baseline_times[-1]:,.0f} plain transactions/s",
        f"check_ledger: {len(report.breaches)} breaches; {released:,}/{releases:,} released",
    ] + report.breaches[:5]
    return Row(
        name=f"Tranche release by {WORKERS} concurrent workers",
        size=f"{releases:,} releases",
        project=project_times,
        baseline=baseline_times,
        queries=f"{queries:,} ({queries / batches:.1f} per batch of ≤ {RELEASE_BATCH_SIZE}; "
        f"{queries / releases:.2f} per release)",
        ok=not report.breaches and released == releases,
        notes=notes,
        scale=scale,
    )
