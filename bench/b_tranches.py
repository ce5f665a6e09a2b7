"""5. Tranche release by 4 concurrent worker processes: ``tranche_release(tranche_id=…)``
on decided stage-1 tranches (multiplier 1) of active projects whose budgets are committed
in the ledger; the baseline inserts the same number of balanced ledger transactions
(committed → payable, one transaction and two entries each) from 4 processes with plain
SQL. The database is restored before every run; ``check_ledger`` runs after the last."""

from __future__ import annotations

import psycopg
from django.db import connection

from bench import db, world
from bench.core import Row, counting, n, parallel
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import Account
from fundapp.ledger.selectors import ledger_verify
from projects.models import ProjectOrganisation, Tranche, TrancheState

FULL_RELEASES = 10_000
WORKERS = 4


def _release(ids: list[int]) -> int:
    from projects.services.tranches import tranche_release

    with counting() as counter:
        for tranche_id in ids:
            tranche_release(tranche_id=tranche_id)
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
    return {"ids": ids, "legs": legs}


def _split(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts)]


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
        seconds, queries = parallel(_release, _split(data["ids"], WORKERS))
        project_times.append(seconds)
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
        queries=f"{queries:,} ({queries / releases:.1f} per release)",
        ok=not report.breaches and released == releases,
        notes=notes,
        scale=scale,
    )
