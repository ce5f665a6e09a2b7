"""Tranche sizing and release (§8, §9): the worked example, reserve cuts, reductions, suspension."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fundapp.errors import Conflict
from fundapp.ledger.models import Transaction
from fundapp.ledger.selectors import transaction_legs
from fundapp.notifications.models import Notification
from projects.models import (
    Disbursement,
    GateDecisionKind,
    ProjectOrganisation,
    ProjectPerson,
    Tranche,
    TrancheState,
)
from projects.services.decisions import gate_decision_approve
from projects.services.projects import project_resume, project_suspend
from projects.services.tranches import tranche_release
from projects.tasks import reconcile_pending, release_tranche
from tests.factories import UserFactory, jp_org
from tests.factories.engine import (
    award,
    committed,
    engine_proposal,
    evaluate,
    fund_pools,
    gate_of,
    make_staff,
    payable,
    pool,
    record_evaluation,
    reserve,
    tranche,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def staff():
    return make_staff()


def _release_all(project):
    for t in project.tranches.filter(state=TrancheState.DECIDED):
        tranche_release(tranche_id=t.pk)


def test_worked_example_pass_at_1_2_releases_44_million_with_4_million_from_the_reserve(staff):
    """§8: planned 40,000,000 JPY, S = 1.2, bonus_rate 0.5 → m = 1.1 → 44,000,000 JPY."""
    fund_pools(staff, jp_reserve=10_000_000, kr_reserve=1_000_000_000)
    proposal, c = engine_proposal(jp=(20_000_000, 40_000_000), krw=(200_000_000, 400_000_000))
    project = award(proposal, staff)
    _release_all(project)  # tranche 1 (the test transaction never commits)

    decision = evaluate(gate_of(project, 1), outcome="pass", score="1.2000")
    _release_all(project)

    assert decision.automatic and decision.kind == GateDecisionKind.RELEASE
    assert decision.multiplier == Decimal("1.1")
    jp = tranche(project, 2, "JP")
    assert (jp.state, jp.planned, jp.released, jp.from_reserve, jp.returned_to_pool) == (
        TrancheState.RELEASED,
        40_000_000,
        44_000_000,
        4_000_000,
        0,
    )
    assert jp.ledger_transaction is not None
    assert sorted(transaction_legs(jp.ledger_transaction)) == sorted(
        [
            (f"project:{project.pk}:JP:committed", -40_000_000),
            ("fund:JP:reserve", -4_000_000),
            (f"org:{c.jp.pk}:JPY:payable", 44_000_000),
        ]
    )
    assert reserve("JP") == 6_000_000
    assert committed(project, "JP") == 0
    assert payable(c.jp.pk, "JPY") == 20_000_000 + 44_000_000
    kr = tranche(project, 2, "KR")
    assert (kr.released, kr.from_reserve) == (440_000_000, 40_000_000)
    call_command("check_ledger")


def test_a_reserve_holding_less_than_the_bonus_cuts_the_bonus_to_what_it_holds(staff):
    fund_pools(staff, jp_reserve=1_500_000)  # KR reserve empty
    proposal, c = engine_proposal(jp=(20_000_000, 40_000_000), krw=(200_000_000, 400_000_000))
    project = award(proposal, staff)
    _release_all(project)

    evaluate(gate_of(project, 1), outcome="pass", score="1.2000")
    _release_all(project)

    jp, kr = tranche(project, 2, "JP"), tranche(project, 2, "KR")
    assert (jp.released, jp.from_reserve) == (41_500_000, 1_500_000)
    assert (kr.released, kr.from_reserve) == (400_000_000, 0)
    assert reserve("JP") == 0
    call_command("check_ledger")


def test_release_reduced_returns_the_unreleased_part_to_the_pool(staff):
    fund_pools(staff)
    proposal, c = engine_proposal(jp=(20_000_000, 40_000_000), krw=(200_000_000, 400_000_000))
    project = award(proposal, staff)
    _release_all(project)
    evaluate(gate_of(project, 1), outcome="conditional", score="0.9000")
    pool_before = pool("JP")

    gate_decision_approve(gate=gate_of(project, 1), actor=staff.jp, kind="release_reduced")
    decision = gate_decision_approve(
        gate=gate_of(project, 1), actor=staff.kr, kind="release_reduced"
    )
    _release_all(project)

    assert decision.multiplier == Decimal("0.8")
    jp = tranche(project, 2, "JP")
    assert (jp.released, jp.returned_to_pool, jp.from_reserve) == (32_000_000, 8_000_000, 0)
    assert pool("JP") == pool_before + 8_000_000
    assert committed(project, "JP") == 0
    assert jp.ledger_transaction is not None
    assert sorted(transaction_legs(jp.ledger_transaction)) == sorted(
        [
            (f"project:{project.pk}:JP:committed", -40_000_000),
            ("fund:JP:pool", 8_000_000),
            (f"org:{c.jp.pk}:JPY:payable", 32_000_000),
        ]
    )
    call_command("check_ledger")


def test_release_is_idempotent_and_refuses_a_tranche_not_decided(staff):
    fund_pools(staff)
    proposal, _c = engine_proposal()
    project = award(proposal, staff)
    first = tranche(project, 1, "JP")

    released = tranche_release(tranche_id=first.pk)
    again = tranche_release(tranche_id=first.pk)
    result = release_tranche.apply(kwargs={"tranche_id": first.pk}).get()

    assert released.ledger_transaction_id == again.ledger_transaction_id
    assert result["state"] == TrancheState.RELEASED
    assert Transaction.objects.filter(reference=f"tranche:{first.pk}:release").count() == 1
    assert Disbursement.objects.filter(tranche=first).count() == 1
    with pytest.raises(Conflict):
        tranche_release(tranche_id=tranche(project, 2, "JP").pk)
    # The task logs a tranche that is not decided instead of failing forever.
    skipped = release_tranche.apply(kwargs={"tranche_id": tranche(project, 2, "JP").pk}).get()
    assert skipped["state"] is None


def test_a_suspended_project_releases_nothing_until_resumed(
    staff, django_capture_on_commit_callbacks
):
    fund_pools(staff)
    proposal, _c = engine_proposal()
    project = award(proposal, staff)
    _release_all(project)
    project_suspend(project=project, actor=staff.jp, reason="Screening finding")
    record_evaluation(gate_of(project, 1), outcome="pass", score="1.0000")
    # Officers may still decide; the money waits.
    gate_decision_approve(gate=gate_of(project, 1), actor=staff.jp, kind="release")
    gate_decision_approve(gate=gate_of(project, 1), actor=staff.kr, kind="release")
    second = tranche(project, 2, "JP")

    assert tranche_release(tranche_id=second.pk).state == TrancheState.DECIDED
    assert reconcile_pending.apply(kwargs={"grace_seconds": 0}).get() == {"tranches": []}
    assert not Transaction.objects.filter(reference=f"tranche:{second.pk}:release").exists()

    with django_capture_on_commit_callbacks(execute=True):
        project_resume(project=project, actor=staff.kr)

    second.refresh_from_db()
    assert (second.state, second.released) == (TrancheState.RELEASED, 60_000_000)
    call_command("check_ledger")


def test_the_reconciler_enqueues_every_decided_tranche_of_an_active_project(staff):
    fund_pools(staff)
    proposal, _c = engine_proposal()
    project = award(proposal, staff)  # tranche 1 decided; its message "lost" (never committed)
    t1 = [tranche(project, 1, "JP").pk, tranche(project, 1, "KR").pk]

    assert reconcile_pending.apply().get() == {"tranches": []}  # within the grace period
    result = reconcile_pending.apply(kwargs={"grace_seconds": 0}).get()

    assert result == {"tranches": sorted(t1)}
    assert all(tranche(project, 1, side).state == TrancheState.RELEASED for side in ("JP", "KR"))
    call_command("check_ledger")


def _statements(queries) -> list[str]:
    """The release's own statements: the savepoints of the test's transaction left out."""
    return [
        q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


@pytest.mark.parametrize(("multiplier", "statements"), [("1", 2), ("1.2", 4), ("0.8", 2)])
def test_a_release_issues_the_same_queries_for_2_and_8_organisations(
    staff, multiplier, statements, monkeypatch
):
    """Locks, sizing, one ledger posting, disbursements, audit and notifications: a fixed
    number of statements whatever the number of organisations on the side and of people
    to notify."""
    monkeypatch.setattr(
        "projects.services.tranches.tranche_enqueue_release", lambda tranche_id: None
    )
    fund_pools(staff, jp_reserve=50_000_000)
    captured = {}
    notified = {}
    for organisations in (2, 8):
        proposal, c = engine_proposal(jp_partner_share=1_000_000)
        project = award(proposal, staff)
        ProjectOrganisation.objects.bulk_create(
            ProjectOrganisation(
                project=project,
                organisation=jp_org(),
                role="partner",
                side="JP",
                currency="JPY",
                budget=1_000_000 + i,
                order=10 + i,
            )
            for i in range(organisations - 2)
        )
        ProjectPerson.objects.bulk_create(
            ProjectPerson(
                project=project,
                organisation=c.jp,
                user=UserFactory.create(),
                role="pi",
                effort_percent=10,
            )
            for _i in range(organisations - 2)
        )
        first = tranche(project, 1, "JP")
        Tranche.objects.filter(pk=first.pk).update(multiplier=Decimal(multiplier))

        before = Notification.objects.count()
        with CaptureQueriesContext(connection) as queries:
            released = tranche_release(tranche_id=first.pk)

        assert released.state == TrancheState.RELEASED
        assert Disbursement.objects.filter(tranche=first).count() == organisations
        captured[organisations] = queries.captured_queries
        notified[organisations] = Notification.objects.count() - before
    call_command("check_ledger")

    assert notified[8] == notified[2] + 6
    assert len(captured[2]) == len(captured[8])
    # One statement locks and reads (the project, the tranche with the side's budgets, the
    # people to notify, the transaction's id); one writes (accounts opened, transaction,
    # entries, disbursements, tranche, audit events, notifications). Above plan, the
    # accounts are opened and locked first (two more), so the reserve is read locked.
    assert len(_statements(captured[2])) == statements
    assert len(_statements(captured[8])) == statements
