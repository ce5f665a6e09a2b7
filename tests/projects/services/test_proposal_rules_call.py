"""§4/§6 call timing: the server clock decides whether a call is open; a late submission is
refused with a message naming the deadline; a call that is not open takes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fundapp.audit.models import AuditEvent
from fundapp.errors import ValidationFailed
from projects.models import Call, CallState, ProposalState
from projects.services import proposals as svc
from tests.factories import CallFactory, ResearchAreaFactory
from tests.factories.proposals import complete_proposal, make_consortium
from tests.workflow_states import force_state

from .refusals import refused, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def deadline_text(call: Call) -> str:
    return timezone.localtime(call.closes_at).strftime("%Y-%m-%d %H:%M")


def test_a_submission_one_second_before_the_deadline_is_accepted():
    proposal, c = complete_proposal()
    now = c.call.closes_at - timedelta(seconds=1)
    submitted = submit(proposal, c.pi_jp, now=now)
    assert submitted.state == ProposalState.SUBMITTED and submitted.submitted_at == now


@pytest.mark.parametrize("late", [timedelta(0), timedelta(seconds=1), timedelta(days=3)])
def test_a_submission_at_or_after_the_deadline_is_refused_naming_it(late):
    proposal, c = complete_proposal()
    with refused(proposal, field="call", code="not_eligible") as info:
        submit(proposal, c.pi_jp, now=c.call.closes_at + late)
    [message] = info.value.errors["call"]
    assert message.startswith("The call closed on ")
    assert deadline_text(c.call) in message


def test_the_server_clock_decides_when_the_deadline_has_passed():
    proposal, c = complete_proposal()
    # The deadline passed while the team was still editing (the call job has not run yet).
    Call.objects.filter(pk=c.call.pk).update(closes_at=timezone.now() - timedelta(minutes=5))
    c.call.refresh_from_db()
    with refused(proposal, field="call") as info:
        submit(proposal, c.pi_jp)
    assert deadline_text(c.call) in info.value.errors["call"][0]


def test_a_call_that_is_not_open_refuses_submissions():
    proposal, c = complete_proposal()
    force_state(c.call, CallState.CLOSED)
    with refused(proposal, field="call", message="This call is not open for proposals."):
        submit(proposal, c.pi_jp)


def test_a_call_before_its_opening_time_refuses_submissions():
    proposal, c = complete_proposal()
    with refused(proposal, field="call", message="This call is not open for proposals."):
        submit(proposal, c.pi_jp, now=c.call.opens_at - timedelta(seconds=1))


@pytest.mark.parametrize(
    "call_kwargs",
    [
        {"state": CallState.DRAFT},
        {"state": CallState.CLOSED},
        {
            "closes_at": timezone.now() - timedelta(days=1),
            "opens_at": timezone.now() - timedelta(days=9),
        },
    ],
    ids=["draft call", "closed call", "open call past its deadline"],
)
def test_no_draft_can_be_started_in_a_call_that_is_not_open(call_kwargs):
    call = CallFactory.create(
        research_areas=[ResearchAreaFactory.create(code="semiconductor.ai")], **call_kwargs
    )
    c = make_consortium(call)
    audit_before = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as info:
        svc.proposal_create(actor=c.pi_jp, call=call)
    assert info.value.errors == {"call": ["This call is not open for proposals."]}
    assert not call.proposals.exists()
    assert AuditEvent.objects.count() == audit_before


def test_an_endorsement_after_the_deadline_is_refused():
    proposal, c = complete_proposal()
    proposal = submit(proposal, c.pi_jp)
    Call.objects.filter(pk=c.call.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    with refused(proposal, field="call", message="endorsements are no longer accepted"):
        svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
