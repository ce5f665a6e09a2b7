"""The review pages (§15): queue, declaration, scoring form, officer panel, ranking."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from fundapp.accounts.models import Role
from projects.models import AssignmentState, AwardDecision, ProposalState, ReviewCriterion
from projects.services import awards as award_svc
from projects.services import reviews as svc
from tests.factories import member_of
from tests.factories.review import (
    active_assignment,
    eligible_proposal,
    make_officers,
    proposal_under_review,
    reviewer,
    scores_for,
    submit_review,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls"),
]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_queue_lists_assignments_with_their_state_and_only_title_and_call():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    expert = reviewer()
    assignment = svc.reviewer_assign(proposal=proposal, reviewer=expert, actor=officers.jp)
    client = client_for(expert)

    page = client.get(reverse("reviews:queue"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-assignment="{assignment.pk}"' in html
    assert 'data-state="awaiting_declaration"' in html
    assert proposal.call.title in html and proposal.title in html

    detail = client.get(reverse("reviews:assignment", args=[assignment.pk])).content.decode()
    assert "Low-power inference chips." not in detail  # the abstract stays hidden
    assert 'data-action="declare"' in detail and 'data-action="score"' not in detail


def test_declaring_a_conflict_without_a_note_shows_the_error_beside_the_field():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    expert = reviewer()
    assignment = svc.reviewer_assign(proposal=proposal, reviewer=expert, actor=officers.jp)
    client = client_for(expert)
    url = reverse("reviews:declare", args=[assignment.pk])

    refused = client.post(url, {"conflict": "yes", "note": ""})
    assert refused.status_code == 422
    assert "Describe the conflict of interest." in refused.content.decode()
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.AWAITING_DECLARATION

    done = client.post(url, {"conflict": "no", "note": ""})
    assert done.status_code == 302
    page = client.get(done["Location"]).content.decode()
    assert "Low-power inference chips." in page and 'data-action="score"' in page


def test_the_scoring_form_shows_per_field_errors_and_keeps_the_input():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    expert = reviewer()
    assignment = active_assignment(proposal, expert, officers.jp)
    first, second, third = ReviewCriterion.objects.filter(call=proposal.call)
    client = client_for(expert)
    url = reverse("reviews:score", args=[assignment.pk])

    page = client.get(reverse("reviews:assignment", args=[assignment.pk])).content.decode()
    assert page.count('type="radio"') >= 3 * 5
    assert first.name in page and "weight 2" in page

    refused = client.post(
        url,
        {f"criterion_{first.pk}": "4", f"criterion_{second.pk}": "9", "comment": "Careful work."},
    )
    assert refused.status_code == 422
    html = refused.content.decode()
    assert html.count("field-errors") >= 3  # second, third, recommendation
    assert "Careful work." in html
    assert f'data-criterion="{third.pk}"' in html

    done = client.post(
        url,
        {
            f"criterion_{first.pk}": "4",
            f"criterion_{second.pk}": "3",
            f"criterion_{third.pk}": "3",
            "comment": "Careful work.",
            "recommendation": "fund",
        },
    )
    assert done.status_code == 302
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.SUBMITTED
    assert assignment.review.weighted_score == 3.5
    again = client.post(url, {"comment": "x"})
    assert again.status_code == 409


def test_other_reviews_appear_only_after_submitting_ones_own():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    early, late = reviewer(), reviewer()
    submit_review(proposal, early, officers.jp, 5, 5, 5)
    assignment = active_assignment(proposal, late, officers.jp)
    client = client_for(late)
    page = client.get(reverse("reviews:assignment", args=[assignment.pk])).content.decode()
    assert "5.0000" not in page and 'id="other-reviews"' not in page

    svc.review_submit(
        assignment=assignment,
        actor=late,
        scores=scores_for(proposal.call, 1, 1, 1),
        comment="Weak.",
        recommendation="do_not_fund",
    )
    page = client.get(reverse("reviews:assignment", args=[assignment.pk])).content.decode()
    assert "5.0000" in page and 'id="other-reviews"' in page
    assert str(early) not in page  # other reviewers stay anonymous to a reviewer


def test_officers_assign_reviewers_and_see_exclusions_with_reasons():
    officers = make_officers()
    proposal, c = eligible_proposal()
    outsider = reviewer(username="outsider")
    insider = member_of(c.jp, role=Role.REVIEWER, username="insider")
    client = client_for(officers.jp)

    client.post(reverse("reviews:start", args=[proposal.pk]))
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.UNDER_REVIEW

    response = client.post(
        reverse("reviews:assign", args=[proposal.pk]), {"reviewers": [outsider.pk, insider.pk]}
    )
    assert response.status_code == 302
    page = client.get(reverse("reviews:proposal", args=[proposal.pk])).content.decode()
    assert 'data-reviewer="outsider" data-state="awaiting_declaration"' in page
    assert 'data-reviewer="insider" data-state="excluded"' in page
    assert f"a member of {c.jp.name}" in page

    empty = client.post(reverse("reviews:assign", args=[proposal.pk]), {})
    assert empty.status_code == 422 and "Choose at least one reviewer." in empty.content.decode()


def test_the_award_panel_shows_who_approved_what_is_needed_and_screening():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp, dual_use=True)
    award_svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")

    page = client_for(officers.kr).get(reverse("reviews:proposal", args=[proposal.pk]))
    html = page.content.decode()
    assert str(officers.jp) in html and 'data-first-side="JP"' in html
    assert "Waiting for a fund officer of the Korea side" in html
    assert 'data-screening="open"' in html
    assert 'data-action="award"' in html and 'data-action="reject"' not in html

    own = client_for(officers.jp).get(reverse("reviews:proposal", args=[proposal.pk]))
    assert 'data-action="award"' not in own.content.decode()
    assert 'data-action="withdraw-decision"' in own.content.decode()

    refused = client_for(officers.kr).post(
        reverse("reviews:award", args=[proposal.pk]), {"outcome": "award", "reason": "Agreed."}
    )
    assert refused.status_code == 409
    assert "waits for screening clearance" in refused.content.decode()
    assert AwardDecision.objects.get(proposal=proposal).state == "pending"

    same_side = client_for(officers.jp2).post(
        reverse("reviews:award", args=[proposal.pk]), {"outcome": "award", "reason": "Agreed."}
    )
    assert same_side.status_code == 403
    assert "The second approval must come from the other side" in same_side.content.decode()

    decision = AwardDecision.objects.get(proposal=proposal)
    cancel = client_for(officers.jp).post(reverse("reviews:award_cancel", args=[decision.pk]))
    assert cancel.status_code == 302
    decision.refresh_from_db()
    assert decision.state == "withdrawn"


def test_the_ranking_page_lists_proposals_best_first_with_filters():
    officers = make_officers()
    low, c = proposal_under_review(officers.jp)
    from tests.factories.proposals import make_consortium

    high, _ = proposal_under_review(officers.jp, make_consortium(c.call))
    submit_review(low, reviewer(), officers.jp, 2, 2, 2)
    submit_review(high, reviewer(), officers.jp, 5, 4, 4)
    client = client_for(officers.kr)

    html = client.get(reverse("reviews:ranking", args=[c.call.pk])).content.decode()
    assert html.index(f'data-proposal="{high.pk}"') < html.index(f'data-proposal="{low.pk}"')
    assert "4.5000" in html and "2.0000" in html

    decided = client.get(reverse("reviews:ranking", args=[c.call.pk]), {"state": "decided"})
    assert f'data-proposal="{high.pk}"' not in decided.content.decode()
    queue = client.get(reverse("reviews:queue")).content.decode()
    assert f'data-call="{c.call.pk}"' in queue

    assert (
        client_for(reviewer()).get(reverse("reviews:ranking", args=[c.call.pk])).status_code == 403
    )
