"""Who may do what in the browser (§2): role × action → status.

Not visible answers 404 (no existence leak), visible but not allowed 403 with the reason,
anonymous is sent to sign in. "edit step" and "submit" act on a complete draft, "view
detail" and "endorse" on a submitted proposal.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects.models import Endorsement, ProposalState
from projects.services import proposals as svc
from tests.factories import jp_org, member_of, officer
from tests.factories.proposals import complete_changes, make_consortium, pdf_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media", "axes_off")]

ROLES = [
    "pi_lead",
    "co_investigator",
    "office_lead",
    "researcher_unrelated",
    "office_unrelated",
    "fund_officer",
    "anonymous",
]

EXPECTED = {
    #                      view  edit  submit endorse
    "pi_lead": (200, 200, 302, 403),
    "co_investigator": (200, 403, 403, 403),
    "office_lead": (200, 404, 404, 302),
    "researcher_unrelated": (404, 404, 404, 404),
    "office_unrelated": (404, 404, 404, 404),
    "fund_officer": (200, 403, 403, 403),
    "anonymous": (302, 302, 302, 302),
}
ACTIONS = ["view", "edit", "submit", "endorse"]


@pytest.fixture
def world():
    c = make_consortium()
    co_investigator = member_of(c.jp)
    changes = complete_changes(c)
    changes["consortium"]["people"].append(
        {
            "user": co_investigator.pk,
            "organisation": c.jp.code,
            "role": "co_investigator",
            "effort_percent": 10,
        }
    )
    proposal = svc.proposal_create(actor=c.pi_jp, call=c.call)
    proposal = svc.proposal_update(
        proposal=proposal, actor=c.pi_jp, expected_version=proposal.version, changes=changes
    )
    svc.attachment_add(proposal=proposal, actor=c.pi_jp, upload=pdf_upload(), kind="research_plan")
    unrelated = jp_org()
    return {
        "c": c,
        "proposal": proposal,
        "users": {
            "pi_lead": c.pi_jp,
            "co_investigator": co_investigator,
            "office_lead": c.office_jp,
            "researcher_unrelated": member_of(unrelated),
            "office_unrelated": member_of(unrelated, research_office=True),
            "fund_officer": officer(),
            "anonymous": None,
        },
    }


def _act(client, action: str, proposal):
    if action == "view":
        return client.get(reverse("proposals:detail", args=[proposal.pk]))
    if action == "edit":
        return client.get(reverse("proposals:step", args=[proposal.pk, "basics"]))
    if action == "submit":
        return client.post(reverse("proposals:submit", args=[proposal.pk]))
    return client.post(reverse("proposals:endorse", args=[proposal.pk]))


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(client, world, role, action):
    proposal = world["proposal"]
    c = world["c"]
    if action in ("view", "endorse"):
        proposal = svc.proposal_submit(proposal=proposal, actor=c.pi_jp)
    user = world["users"][role]
    if user is not None:
        client.force_login(user)
    state_before = proposal.state

    response = _act(client, action, proposal)

    expected = EXPECTED[role][ACTIONS.index(action)]
    assert response.status_code == expected
    proposal.refresh_from_db()
    if role == "anonymous":
        assert response["Location"].startswith(reverse("accounts:login"))
    if expected == 302 and role != "anonymous":
        assert response["Location"] == reverse("proposals:detail", args=[proposal.pk])
        if action == "submit":
            assert proposal.state == ProposalState.SUBMITTED
        if action == "endorse":
            assert Endorsement.objects.filter(proposal=proposal, organisation=c.jp).exists()
    else:
        assert proposal.state == state_before
        assert not Endorsement.objects.filter(proposal=proposal).exists()
    if expected == 403:
        assert "data-reason" in response.content.decode()
