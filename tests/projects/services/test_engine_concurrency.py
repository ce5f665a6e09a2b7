"""Real threads against real PostgreSQL: releases, confirmations and decisions happen once."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.db import connection

from fundapp.errors import Conflict, PermissionDenied
from fundapp.ledger.models import Transaction
from projects.models import DecisionState, Disbursement, GateDecision, TrancheState
from projects.services.decisions import gate_decision_approve
from projects.services.payments import disbursement_confirm
from projects.services.projects import tokyo_today
from projects.services.tranches import tranche_release
from tests.factories.engine import (
    award,
    engine_proposal,
    fund_pools,
    gate_of,
    make_staff,
    record_evaluation,
    tranche,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


def run_at_once(work, threads: int):
    """Run ``work(i)`` in ``threads`` threads released together; return results and errors."""
    barrier = threading.Barrier(threads)
    results: list = [None] * threads
    errors: list = [None] * threads

    def worker(index):
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except Exception as exc:
            errors[index] = exc
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in pool)
    return results, errors


@pytest.fixture
def staff():
    return make_staff()


@pytest.fixture
def project(staff, monkeypatch):
    """An awarded project whose tranche-1 release messages were never sent."""
    monkeypatch.setattr(
        "projects.services.tranches.tranche_enqueue_release", lambda tranche_id: None
    )
    fund_pools(staff, jp_reserve=50_000_000)
    proposal, _c = engine_proposal()
    return award(proposal, staff)


def test_eight_concurrent_releases_of_one_tranche_post_exactly_one_transaction(project):
    first = tranche(project, 1, "JP")

    results, errors = run_at_once(lambda _i: tranche_release(tranche_id=first.pk), 8)

    assert errors == [None] * 8
    assert {t.ledger_transaction_id for t in results} == {results[0].ledger_transaction_id}
    assert Transaction.objects.filter(reference=f"tranche:{first.pk}:release").count() == 1
    assert Disbursement.objects.filter(tranche=first).count() == 1
    first.refresh_from_db()
    assert (first.state, first.released) == (TrancheState.RELEASED, 40_000_000)
    call_command("check_ledger")


def test_eight_concurrent_confirmations_of_one_payment_post_exactly_one_transaction(project, staff):
    tranche_release(tranche_id=tranche(project, 1, "JP").pk)
    disbursement = Disbursement.objects.get(tranche__project=project, tranche__side="JP")
    today = tokyo_today()

    results, errors = run_at_once(
        lambda _i: disbursement_confirm(
            disbursement=disbursement, actor=staff.finance_jp, paid_on=today, reference="B-1"
        ),
        8,
    )

    assert errors == [None] * 8
    assert len({d.ledger_transaction_id for d in results}) == 1
    assert (
        Transaction.objects.filter(reference=f"disbursement:{disbursement.pk}:confirm").count() == 1
    )
    call_command("check_ledger")


def test_two_second_approvals_at_the_same_moment_complete_exactly_one_decision(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="conditional", score="0.9000")
    gate_decision_approve(gate=gate, actor=staff.jp, kind="release_reduced")
    seconds = [staff.kr, staff.kr2]

    results, errors = run_at_once(
        lambda i: gate_decision_approve(gate=gate, actor=seconds[i], kind="release_reduced"), 2
    )

    completed = [r for r in results if r is not None]
    assert len(completed) == 1 and completed[0].state == DecisionState.COMPLETED
    assert [type(e) for e in errors if e is not None] == [Conflict]
    assert GateDecision.objects.filter(state=DecisionState.COMPLETED).count() == 1
    assert tranche(project, 2, "JP").multiplier == completed[0].multiplier


def test_officers_of_both_sides_approving_at_once_complete_exactly_one_decision(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="fail", score="0.3000")
    officers = [staff.jp, staff.kr]

    results, errors = run_at_once(
        lambda i: gate_decision_approve(gate=gate, actor=officers[i], kind="terminate"), 2
    )

    assert errors == [None, None]
    states = sorted(r.state for r in results)
    assert states == [DecisionState.COMPLETED, DecisionState.PENDING]  # the same row, read twice
    decision = GateDecision.objects.get()
    assert decision.state == DecisionState.COMPLETED
    assert {decision.first_side, decision.second_side} == {"JP", "KR"}
    project.refresh_from_db()
    assert project.state == "terminated"
    call_command("check_ledger")


def test_the_same_officer_approving_twice_at_once_records_one_pending_approval(project, staff):
    gate = gate_of(project, 1)
    record_evaluation(gate, outcome="fail", score="0.3000")

    results, errors = run_at_once(
        lambda _i: gate_decision_approve(gate=gate, actor=staff.jp, kind="terminate"), 2
    )

    assert [type(e) for e in errors if e is not None] == [PermissionDenied]
    assert GateDecision.objects.get().state == DecisionState.PENDING
