"""Real threads against real PostgreSQL: the overdue job run by several workers at once
writes and reminds each period once; concurrent audit closings post one correction."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from fundapp.errors import Conflict
from fundapp.ledger.models import Transaction
from fundapp.notifications.models import OutboxEvent
from ip_licensing import rules
from ip_licensing.models import RoyaltyPeriod
from ip_licensing.services.audits import royalty_audit_close, royalty_audit_open
from ip_licensing.services.royalty_integrity import royalty_overdue_run
from tests.concurrency import run_at_once
from tests.factories.licensing import days, make_project_world, project_licence

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("private_media")]
THREADS = 4


@pytest.fixture
def pw(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return make_project_world()


def test_concurrent_overdue_runs_remind_each_period_once(pw):
    licence = project_licence(pw, start_on=days(-300).isoformat())

    results, errors = run_at_once(lambda _i: royalty_overdue_run(today=days(0)), threads=THREADS)
    assert errors == [None] * THREADS
    periods = list(RoyaltyPeriod.objects.filter(licence=licence))
    assert periods and all(p.state == "overdue" for p in periods)
    reminded = sorted(pk for result in results for pk in result["45"])
    assert reminded == sorted(p.pk for p in periods)  # each by exactly one run
    assert OutboxEvent.objects.filter(kind="royalty.overdue").count() == len(periods)


def test_concurrent_closings_post_one_correction(pw):
    licence = project_licence(pw, start_on=days(-300).isoformat())
    day = days(-200)
    quarter = rules.format_quarter(day.year, (day.month - 1) // 3 + 1)
    audit = royalty_audit_open(licence=licence, actor=pw.jp, quarter=quarter)

    def close(index):
        return royalty_audit_close(
            audit=audit, actor=pw.kr, finding_amount=10_000 + index, note="Under-reported"
        ).pk

    _results, errors = run_at_once(close, threads=THREADS)
    assert sum(error is None for error in errors) == 1
    assert all(isinstance(error, Conflict) for error in errors if error is not None)
    assert Transaction.objects.filter(reference=f"royalty-audit:{audit.pk}").count() == 1
    call_command("check_ledger")
