"""Concurrent writers against real PostgreSQL (§5): row locks and the version number decide,
not luck. Each thread has its own database connection and closes it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import close_old_connections, connection

from fundapp.audit.models import AuditEvent
from fundapp.audit.services import verify_chain
from fundapp.errors import Conflict
from projects.models import Endorsement, Proposal, ProposalState
from projects.services import proposals as svc
from tests.factories.proposals import complete_changes, complete_proposal, submitted_proposal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("private_media")]


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
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a writer is stuck"
    return outcomes


def test_two_saves_of_the_same_version_one_wins_the_other_gets_a_conflict():
    proposal, c = complete_proposal()
    opened = proposal.version

    def save_as(actor, title):
        basics = {**complete_changes(c)["basics"], "title_en": title}
        return lambda: svc.proposal_update(
            proposal=Proposal.objects.get(pk=proposal.pk),
            actor=actor,
            expected_version=opened,
            changes={"basics": basics},
        )

    outcomes = race(save_as(c.pi_jp, "Tokyo draft"), save_as(c.pi_kr, "Seoul draft"))

    winners = [o for o in outcomes if isinstance(o, Proposal)]
    losers = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].code == "stale_version" and "version" in losers[0].errors
    stored = Proposal.objects.get(pk=proposal.pk)
    assert stored.version == opened + 1
    assert stored.title_en == winners[0].title_en
    assert (
        AuditEvent.objects.filter(object_id=str(proposal.pk), action="proposal.updated").count()
        == 2  # the builder's save and the winner's
    )
    assert verify_chain().ok


def test_both_leads_endorsing_at_once_make_it_eligible_exactly_once():
    proposal, c = submitted_proposal()

    def endorse_as(actor):
        return lambda: svc.proposal_endorse(
            proposal=Proposal.objects.get(pk=proposal.pk), actor=actor
        )

    outcomes = race(endorse_as(c.office_jp), endorse_as(c.office_kr))

    assert all(isinstance(o, Proposal) for o in outcomes), outcomes
    stored = Proposal.objects.get(pk=proposal.pk)
    assert stored.state == ProposalState.ELIGIBLE, stored.eligibility_reasons
    assert sorted(
        Endorsement.objects.filter(proposal=proposal).values_list("organisation_id", flat=True)
    ) == sorted([c.jp.pk, c.kr.pk])
    events = AuditEvent.objects.filter(object_id=str(proposal.pk))
    assert events.filter(action="proposal.endorsed").count() == 2
    assert events.filter(action="proposal.eligible").count() == 1
    assert verify_chain().ok


def test_the_same_office_endorsing_twice_at_once_leaves_one_endorsement():
    proposal, c = submitted_proposal()

    def endorse():
        return svc.proposal_endorse(
            proposal=Proposal.objects.get(pk=proposal.pk), actor=c.office_jp
        )

    outcomes = race(endorse, endorse)

    assert all(isinstance(o, Proposal) for o in outcomes), outcomes
    assert Endorsement.objects.filter(proposal=proposal).count() == 1
    assert (
        AuditEvent.objects.filter(object_id=str(proposal.pk), action="proposal.endorsed").count()
        == 1
    )
    assert Proposal.objects.get(pk=proposal.pk).state == ProposalState.SUBMITTED
