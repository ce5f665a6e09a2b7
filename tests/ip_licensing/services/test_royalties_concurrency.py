"""Real threads against real PostgreSQL: corrections never fork the chain nor post twice,
the upfront fee is posted once, two officers approving a table at once complete it once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from fundapp.ledger.models import Transaction
from fundapp.ledger.selectors import account_balance
from ip_licensing.models import AllocationChange, Licence, RoyaltyReport
from ip_licensing.services.allocation import allocation_change_approve, current_table
from ip_licensing.services.royalties import royalty_post_upfront, royalty_report_submit
from tests.concurrency import run_at_once
from tests.factories.licensing import days, make_project_world, project_licence
from tests.ip_licensing.services.test_royalties import current_quarter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("private_media")]
THREADS = 6


@pytest.fixture
def pw(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return make_project_world()


def test_concurrent_reports_of_one_quarter_form_one_chain(pw):
    licence = project_licence(pw, start_on=days(-200).isoformat())
    quarter = current_quarter()

    def submit(index):
        return royalty_report_submit(
            licence=licence,
            actor=pw.office_licensee,
            quarter=quarter,
            net_sales=10_000_000 + index * 1_000_000,
        ).pk

    results, errors = run_at_once(submit, threads=THREADS)
    assert errors == [None] * THREADS
    reports = list(RoyaltyReport.objects.filter(licence=licence).order_by("reported_at", "id"))
    assert len(reports) == THREADS
    # A single chain: one first report, each later one superseding the one before it.
    assert reports[0].supersedes_id is None
    for before, after in zip(reports, reports[1:], strict=False):
        assert after.supersedes_id == before.pk
    latest = reports[-1]
    assert sum(r.posted_amount for r in reports) == latest.royalty_due
    assert account_balance(f"licensee:{pw.licensee.pk}:JPY") == -latest.royalty_due
    call_command("check_ledger")


def test_concurrent_upfront_posts_post_once(pw):
    licence = project_licence(pw, upfront_fee=0)
    Licence.objects.filter(pk=licence.pk).update(upfront_fee=1_000_000, upfront_posted=False)

    def post(_index):
        txn = royalty_post_upfront(licence=Licence.objects.get(pk=licence.pk))
        return txn.pk if txn is not None else None

    results, errors = run_at_once(post, threads=THREADS)
    assert errors == [None] * THREADS
    assert len(set(results)) == 1
    assert Transaction.objects.filter(reference=f"licence:{licence.pk}:upfront").count() == 1
    assert account_balance("fund:JP:pool") == 100_000
    call_command("check_ledger")


def test_two_officers_approving_at_once_complete_the_change_once(pw):
    table = [[pw.partner_jp.pk, 2500], [pw.partner_kr.pk, 7500]]
    officers = [pw.jp, pw.kr]

    def approve(index):
        return allocation_change_approve(
            project=pw.project, actor=officers[index], table=table, reason="Agreed."
        ).state

    results, errors = run_at_once(approve, threads=2)
    assert errors == [None, None]
    assert sorted(results) == ["completed", "pending"]
    change = AllocationChange.objects.get()
    assert change.state == "completed"
    assert sorted(current_table(pw.project)) == sorted(
        [(pw.partner_jp.pk, 2500), (pw.partner_kr.pk, 7500)]
    )
