"""§5 the e-Rad rule: a person's effort over pending proposals (and active projects) may not
exceed 100%. Drafts and withdrawn proposals claim nothing."""

import pytest

from projects.models import ProposalState
from projects.services import proposals as svc
from tests.factories.proposals import (
    complete_changes,
    complete_proposal,
    make_consortium,
    submitted_proposal,
)

from .refusals import refused, save, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def with_effort(proposal, c, jp_pi_effort):
    consortium = complete_changes(c)["consortium"]
    consortium["people"][0]["effort_percent"] = jp_pi_effort
    return save(proposal, c.pi_jp, consortium=consortium)


@pytest.fixture
def team():
    """One consortium; its JP PI is on a first proposal at 70%."""
    c = make_consortium()
    first, _ = complete_proposal(c)
    with_effort(first, c, 70)
    return c, first


def second_proposal(c, effort):
    proposal, _ = complete_proposal(c)
    with_effort(proposal, c, effort)
    return proposal


def test_seventy_percent_pending_plus_forty_is_refused_at_submit(team):
    c, first = team
    submit(first, c.pi_jp)
    second = second_proposal(c, 40)  # a draft may say so; the rule bites at submission

    with refused(second, field="people", code="not_eligible") as info:
        submit(second, c.pi_jp)
    [message] = info.value.errors["people"]
    assert str(c.pi_jp) in message and "110%" in message


def test_an_eligible_proposal_still_claims_its_effort(team):
    c, first = team
    submit(first, c.pi_jp)
    svc.proposal_endorse(proposal=first, actor=c.office_jp)
    assert svc.proposal_endorse(proposal=first, actor=c.office_kr).state == ProposalState.ELIGIBLE
    second = second_proposal(c, 40)
    with refused(second, field="people"):
        submit(second, c.pi_jp)


def test_exactly_one_hundred_percent_is_accepted(team):
    c, first = team
    submit(first, c.pi_jp)
    second = second_proposal(c, 30)
    assert submit(second, c.pi_jp).state == ProposalState.SUBMITTED


def test_a_withdrawn_proposal_claims_nothing(team):
    c, first = team
    submit(first, c.pi_jp)
    svc.proposal_withdraw(proposal=first, actor=c.pi_jp)
    second = second_proposal(c, 40)
    assert submit(second, c.pi_jp).state == ProposalState.SUBMITTED


def test_a_draft_claims_nothing(team):
    c, first = team  # never submitted
    second = second_proposal(c, 40)
    assert submit(second, c.pi_jp).state == ProposalState.SUBMITTED
    # …but the draft cannot then be submitted on top of it.
    with refused(first, field="people"):
        submit(first, c.pi_jp)


def test_the_rule_counts_every_pending_proposal_and_only_the_person_over_the_limit():
    c = make_consortium()
    for _ in range(2):
        proposal, _ = submitted_proposal(c)  # both PIs at 30% each time: 60% claimed
    third, _ = complete_proposal(c)
    consortium = complete_changes(c)["consortium"]
    consortium["people"][0]["effort_percent"] = 41  # JP PI: 101%
    consortium["people"][1]["effort_percent"] = 40  # KR PI: exactly 100%
    save(third, c.pi_jp, consortium=consortium)
    with refused(third, field="people") as info:
        submit(third, c.pi_jp)
    assert len(info.value.errors["people"]) == 1
    assert (
        str(c.pi_jp) in info.value.errors["people"][0] and "101%" in info.value.errors["people"][0]
    )
