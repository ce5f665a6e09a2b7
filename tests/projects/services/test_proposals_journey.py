"""The happy path: draft → submit → both endorsements → eligible, with audit and a frozen version."""

import pytest

from fundapp.audit.models import AuditEvent
from projects.models import ProposalState
from projects.selectors.proposals import proposals_visible_to
from projects.services import proposals as svc
from tests.factories.proposals import complete_proposal, submitted_proposal

pytestmark = pytest.mark.django_db


def test_complete_proposal_submits_and_becomes_eligible_after_both_endorsements(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    proposal, c = submitted_proposal()
    assert proposal.state == ProposalState.SUBMITTED
    assert proposal.versions.get().content["stages"][1]["planned"] == {
        "JPY": 60_000_000,
        "KRW": 600_000_000,
    }

    svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.SUBMITTED
    svc.proposal_endorse(proposal=proposal, actor=c.office_kr)
    proposal.refresh_from_db()

    assert proposal.state == ProposalState.ELIGIBLE, proposal.eligibility_reasons
    actions = list(
        AuditEvent.objects.filter(object_id=str(proposal.pk)).values_list("action", flat=True)
    )
    assert actions[-3:] == ["proposal.endorsed", "proposal.endorsed", "proposal.eligible"]


def test_named_people_see_the_proposal_and_others_do_not(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    proposal, c = complete_proposal()
    assert proposals_visible_to(c.pi_kr).filter(pk=proposal.pk).exists()
    assert (
        not proposals_visible_to(c.office_kr).filter(pk=proposal.pk).exists()
    )  # draft: offices wait
    svc.proposal_submit(proposal=proposal, actor=c.pi_jp)
    assert proposals_visible_to(c.office_kr).filter(pk=proposal.pk).exists()
