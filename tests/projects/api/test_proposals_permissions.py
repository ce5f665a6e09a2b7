"""Who may do what through the API (§2, §14): a matrix of actors × actions, and key scopes.

Not visible answers 404 (never 403); visible but not allowed answers 403.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from projects.services import proposals as svc
from tests.factories import jp_org, member_of, officer
from tests.factories.proposals_api import (
    READ,
    WRITE,
    Team,
    assert_problem,
    detail_url,
    key_client,
    team_proposal,
    user_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

ACTORS: dict[str, Callable[[Team], APIClient]] = {
    "pi_of_lead_org": lambda t: user_client(t.c.pi_jp),
    "co_investigator": lambda t: user_client(t.co_investigator),
    "research_office_of_lead_org": lambda t: user_client(t.c.office_jp),
    "researcher_of_unrelated_org": lambda t: user_client(member_of(jp_org())),
    "fund_officer_jp": lambda t: user_client(officer("JP")),
    "key_of_lead_org_rw": lambda t: key_client(t.c.jp, scopes=[READ, WRITE]),
    "key_of_unrelated_org_rw": lambda t: key_client(jp_org(), scopes=[READ, WRITE]),
}


def _submitted(team: Team) -> Team:
    svc.proposal_submit(proposal=team.proposal, actor=team.c.pi_jp)
    team.proposal.refresh_from_db()
    return team


def _view(client: APIClient, team: Team):
    return client.get(detail_url(team.proposal))


def _edit(client: APIClient, team: Team):
    return client.patch(
        detail_url(team.proposal),
        {"version": team.proposal.version, "basics": {"title_en": "Edited"}},
        format="json",
    )


def _submit(client: APIClient, team: Team):
    return client.post(f"{detail_url(team.proposal)}submit/")


def _endorse(client: APIClient, team: Team):
    return client.post(f"{detail_url(team.proposal)}endorse/", {}, format="json")


# action → (how to set the proposal up, the request)
ACTIONS = {
    "view": (_submitted, _view),
    "edit": (lambda t: t, _edit),
    "submit": (lambda t: t, _submit),
    "endorse": (_submitted, _endorse),
}

# Drafts are seen by their named people (and officers); research offices and partner
# systems see a proposal once it is submitted, unless the system created the draft itself.
EXPECTED = {
    "pi_of_lead_org": {"view": 200, "edit": 200, "submit": 200, "endorse": 403},
    "co_investigator": {"view": 200, "edit": 403, "submit": 403, "endorse": 403},
    "research_office_of_lead_org": {"view": 200, "edit": 404, "submit": 404, "endorse": 200},
    "researcher_of_unrelated_org": {"view": 404, "edit": 404, "submit": 404, "endorse": 404},
    "fund_officer_jp": {"view": 200, "edit": 403, "submit": 403, "endorse": 403},
    "key_of_lead_org_rw": {"view": 200, "edit": 404, "submit": 404, "endorse": 200},
    "key_of_unrelated_org_rw": {"view": 404, "edit": 404, "submit": 404, "endorse": 404},
}

CASES = [
    pytest.param(actor, action, EXPECTED[actor][action], id=f"{actor}-{action}")
    for actor in ACTORS
    for action in ACTIONS
]


@pytest.mark.parametrize(("actor", "action", "expected"), CASES)
def test_permission_matrix(actor, action, expected):
    setup, perform = ACTIONS[action]
    team = setup(team_proposal())
    client = ACTORS[actor](team)

    response = perform(client, team)

    if expected >= 400:
        assert_problem(response, expected)
    else:
        assert response.status_code == expected, response.content
        assert response.json()["id"] == team.proposal.pk


def test_a_key_created_draft_is_editable_by_its_system_only_with_the_write_scope():
    team = team_proposal()
    writer = key_client(team.c.jp, scopes=[READ, WRITE])
    created = writer.post("/api/v1/proposals/", {"call": team.c.call.pk}, format="json")
    assert created.status_code == 201, created.content
    draft = created.json()
    reader = key_client(team.c.jp, scopes=[READ])

    assert reader.get(detail_url(draft["id"])).status_code == 200
    assert_problem(
        reader.patch(detail_url(draft["id"]), {"version": draft["version"]}, format="json"), 403
    )
    assert_problem(reader.post(f"{detail_url(draft['id'])}submit/"), 403)
    assert_problem(reader.post("/api/v1/proposals/", {"call": team.c.call.pk}, format="json"), 403)
    edited = writer.patch(
        detail_url(draft["id"]),
        {"version": draft["version"], "basics": {"title_en": "By the system"}},
        format="json",
    )
    assert edited.status_code == 200, edited.content


def test_a_key_without_the_read_scope_reads_nothing():
    team = _submitted(team_proposal())
    writer_only = key_client(team.c.jp, scopes=[WRITE])
    assert_problem(writer_only.get("/api/v1/proposals/"), 403)
    assert_problem(writer_only.get(detail_url(team.proposal)), 403)


def test_a_key_with_other_scopes_only_is_refused_writes():
    team = _submitted(team_proposal())
    client = key_client(team.c.jp, scopes=[READ, "projects:read"])
    assert_problem(client.post(f"{detail_url(team.proposal)}endorse/"), 403)
    assert_problem(client.post(f"{detail_url(team.proposal)}withdraw/"), 403)
