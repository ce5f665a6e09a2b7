"""Two officers approving at the same moment (§2): the proposal row lock decides, not luck.

Real threads against real PostgreSQL; each thread has its own connection and closes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import close_old_connections, connection

from fundapp.audit.services import verify_chain
from fundapp.errors import PermissionDenied
from projects.models import AwardDecision, DecisionState, Project, Proposal, ProposalState
from projects.services import awards as svc
from tests.factories.review import fund_pools, make_officers, proposal_under_review

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls"),
]


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
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "an approval is stuck"
    return outcomes


def approve(proposal_id: int, actor, outcome: str) -> Callable[[], AwardDecision]:
    return lambda: svc.award_approve(
        proposal=Proposal.objects.get(pk=proposal_id),
        actor=actor,
        outcome=outcome,
        reason=f"{actor.side} approves",
    )


@pytest.mark.parametrize("outcome", ["reject", "award"])
def test_officers_of_both_sides_at_once_complete_exactly_one_decision(outcome):
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    fund_pools(c.call, officers.jp)

    outcomes = race(
        approve(proposal.pk, officers.jp, outcome), approve(proposal.pk, officers.kr, outcome)
    )

    assert all(isinstance(o, AwardDecision) for o in outcomes), outcomes
    decisions = list(AwardDecision.objects.filter(proposal_id=proposal.pk))
    assert len(decisions) == 1
    decision = decisions[0]
    assert decision.state == DecisionState.COMPLETED
    assert {decision.first_side, decision.second_side} == {"JP", "KR"}
    stored = Proposal.objects.get(pk=proposal.pk)
    expected = ProposalState.AWARDED if outcome == "award" else ProposalState.REJECTED
    assert stored.state == expected
    assert Project.objects.filter(proposal_id=proposal.pk).count() == (outcome == "award")
    assert verify_chain().ok


def test_two_officers_of_one_side_at_once_leave_one_pending_approval():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)

    outcomes = race(
        approve(proposal.pk, officers.jp, "reject"), approve(proposal.pk, officers.jp2, "reject")
    )

    pending = [o for o in outcomes if isinstance(o, AwardDecision)]
    refused = [o for o in outcomes if isinstance(o, PermissionDenied)]
    assert len(pending) == 1 and len(refused) == 1, outcomes
    assert "other side" in str(refused[0].message)
    decision = AwardDecision.objects.get(proposal_id=proposal.pk)
    assert decision.state == DecisionState.PENDING
    assert Proposal.objects.get(pk=proposal.pk).state == ProposalState.UNDER_REVIEW
