"""Who may do what in review and award (§2), through the browser pages.

Role × action → allowed / 404 (may not see it) / 403 (may see it, may not do it).
Actions: see the proposal, declare conflicts, score, approve an award decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse

from fundapp.accounts.models import Role, User
from projects.models import AssignmentState, AwardDecision, Proposal, ReviewerAssignment
from projects.services import reviews as svc
from tests.factories import UserFactory
from tests.factories.review import make_officers, proposal_under_review, reviewer, scores_for

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls"),
]

ALLOWED = 302  # the page redirects after a successful action


@dataclass
class World:
    proposal: Proposal
    people: dict[str, User]
    awaiting: ReviewerAssignment  # the assigned reviewer's, before declaring
    active: ReviewerAssignment  # the assigned reviewer's, declared conflict-free


def world() -> World:
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    assigned, second = reviewer(), reviewer()
    active = svc.reviewer_assign(proposal=proposal, reviewer=assigned, actor=officers.jp)
    active = svc.assignment_declare(assignment=active, actor=assigned, conflict=False)
    # A second proposal in review whose assignment of the same reviewer awaits declaration.
    other, _c2 = proposal_under_review(officers.jp)
    awaiting = svc.reviewer_assign(proposal=other, reviewer=assigned, actor=officers.jp)
    svc.reviewer_assign(proposal=proposal, reviewer=second, actor=officers.jp)
    return World(
        proposal=proposal,
        people={
            "researcher": c.pi_jp,
            "reviewer_assigned": assigned,
            "reviewer_unassigned": reviewer(),
            "officer_jp": officers.jp,
            "officer_kr": officers.kr,
            "finance_officer": UserFactory.create(role=Role.FINANCE_OFFICER, side="JP"),
        },
        awaiting=awaiting,
        active=active,
    )


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


MATRIX = {
    #  role:               (see, declare, score, award)
    "researcher": (200, 404, 404, 403),
    "reviewer_assigned": (200, ALLOWED, ALLOWED, 403),
    "reviewer_unassigned": (404, 404, 404, 404),
    "officer_jp": (200, 403, 403, ALLOWED),
    "officer_kr": (200, 403, 403, ALLOWED),
    # Finance officers work from tranches and disbursements; proposals are not theirs (§2).
    "finance_officer": (404, 404, 404, 404),
}


@pytest.mark.parametrize("role", list(MATRIX))
def test_see_the_proposal(role):
    w = world()
    response = client_for(w.people[role]).get(reverse("proposals:detail", args=[w.proposal.pk]))
    assert response.status_code == MATRIX[role][0]


@pytest.mark.parametrize("role", list(MATRIX))
def test_declare_conflicts(role):
    w = world()
    response = client_for(w.people[role]).post(
        reverse("reviews:declare", args=[w.awaiting.pk]), {"conflict": "no", "note": ""}
    )
    assert response.status_code == MATRIX[role][1]
    w.awaiting.refresh_from_db()
    expected = AssignmentState.ACTIVE if MATRIX[role][1] == ALLOWED else "awaiting_declaration"
    assert w.awaiting.state == expected


@pytest.mark.parametrize("role", list(MATRIX))
def test_score(role):
    w = world()
    data = {f"criterion_{k}": str(v) for k, v in scores_for(w.proposal.call, 4, 4, 3).items()}
    data.update(comment="Good.", recommendation="fund")
    response = client_for(w.people[role]).post(reverse("reviews:score", args=[w.active.pk]), data)
    assert response.status_code == MATRIX[role][2]
    w.active.refresh_from_db()
    submitted = w.active.state == AssignmentState.SUBMITTED
    assert submitted == (MATRIX[role][2] == ALLOWED)


@pytest.mark.parametrize("role", list(MATRIX))
def test_approve_an_award_decision(role):
    w = world()
    response = client_for(w.people[role]).post(
        reverse("reviews:award", args=[w.proposal.pk]), {"outcome": "reject", "reason": "Weak."}
    )
    assert response.status_code == MATRIX[role][3]
    made = AwardDecision.objects.filter(proposal=w.proposal).exists()
    assert made == (MATRIX[role][3] == ALLOWED)


@pytest.mark.parametrize("role", list(MATRIX))
def test_the_officer_review_panel(role):
    w = world()
    response = client_for(w.people[role]).get(reverse("reviews:proposal", args=[w.proposal.pk]))
    expected = {200: 403, 404: 404}[MATRIX[role][0]]
    if role.startswith("officer"):
        expected = 200
    assert response.status_code == expected
