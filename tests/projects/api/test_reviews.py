"""Reviews, assignments and award decisions over the API (§14): session only, problem+json."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from fundapp.accounts.models import ApiKey, Role, hash_secret
from projects.models import AwardDecision, ReviewCriterion
from tests.factories import UserFactory, member_of
from tests.factories.review import (
    active_assignment,
    make_officers,
    proposal_under_review,
    reviewer,
    submit_review,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls"),
]

PROBLEM_FIELDS = {"type", "title", "status", "detail"}


def user_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def key_client(org, scopes=("proposals:read", "proposals:write")) -> APIClient:
    key_id, secret, full_key = ApiKey.generate()
    ApiKey.objects.create(
        organisation=org,
        name="partner system",
        key_id=key_id,
        secret_hash=hash_secret(secret),
        scopes=list(scopes),
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")
    return client


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= PROBLEM_FIELDS and body["status"] == status
    return body


def test_officers_assign_reviewers_idempotently_and_others_may_not():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    expert = reviewer()
    body = {"proposal": proposal.pk, "reviewer": expert.pk}

    created = user_client(officers.jp).post("/api/v1/review-assignments/", body, format="json")
    again = user_client(officers.kr).post("/api/v1/review-assignments/", body, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["state"] == "awaiting_declaration"
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert_problem(
        user_client(expert).post("/api/v1/review-assignments/", body, format="json"), 403
    )
    assert_problem(key_client(c.jp).post("/api/v1/review-assignments/", body, format="json"), 403)
    unknown = user_client(officers.jp).post(
        "/api/v1/review-assignments/", {"proposal": 10**9, "reviewer": expert.pk}, format="json"
    )
    assert "proposal" in assert_problem(unknown, 422)["errors"]
    not_reviewer = user_client(officers.jp).post(
        "/api/v1/review-assignments/",
        {"proposal": proposal.pk, "reviewer": c.pi_kr.pk},
        format="json",
    )
    assert "reviewer" in assert_problem(not_reviewer, 422)["errors"]


def test_an_excluded_assignment_carries_its_reason():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    insider = member_of(c.kr, role=Role.REVIEWER)
    response = user_client(officers.jp).post(
        "/api/v1/review-assignments/",
        {"proposal": proposal.pk, "reviewer": insider.pk},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["state"] == "excluded"
    assert c.kr.name in response.json()["exclusion_reason"]


def test_a_reviewer_declares_and_submits_through_the_api():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    expert = reviewer()
    client = user_client(expert)
    assignment_id = (
        user_client(officers.jp)
        .post(
            "/api/v1/review-assignments/",
            {"proposal": proposal.pk, "reviewer": expert.pk},
            format="json",
        )
        .json()["id"]
    )

    mine = client.get("/api/v1/review-assignments/").json()
    assert [a["id"] for a in mine["results"]] == [assignment_id]
    assert_problem(
        user_client(reviewer()).post(
            f"/api/v1/review-assignments/{assignment_id}/declare/", {"conflict": False}
        ),
        404,
    )
    declared = client.post(
        f"/api/v1/review-assignments/{assignment_id}/declare/",
        {"conflict": False, "note": ""},
        format="json",
    )
    assert declared.status_code == 200 and declared.json()["state"] == "active"

    first, second, third = ReviewCriterion.objects.filter(call=proposal.call)
    invalid = client.post(
        f"/api/v1/review-assignments/{assignment_id}/review/",
        {"scores": {str(first.pk): 7}, "comment": "", "recommendation": "fund"},
        format="json",
    )
    errors = assert_problem(invalid, 422)["errors"]
    assert {f"scores.{first.pk}", f"scores.{second.pk}", f"scores.{third.pk}", "comment"} <= set(
        errors
    )

    submitted = client.post(
        f"/api/v1/review-assignments/{assignment_id}/review/",
        {
            "scores": [
                {"criterion": first.pk, "score": 4},
                {"criterion": second.pk, "score": 3},
                {"criterion": third.pk, "score": 3},
            ],
            "comment": "Convincing.",
            "recommendation": "fund",
        },
        format="json",
    )
    assert submitted.status_code == 201, submitted.content
    assert submitted.json()["weighted_score"] == "3.5000"
    assert len(submitted.json()["scores"]) == 3
    twice = client.post(
        f"/api/v1/review-assignments/{assignment_id}/review/",
        {"scores": {}, "comment": "x", "recommendation": "fund"},
        format="json",
    )
    assert_problem(twice, 409)


def test_the_reviews_list_is_blind_for_reviewers(django_assert_max_num_queries):
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    early, late = reviewer(), reviewer()
    submit_review(proposal, early, officers.jp, 5, 5, 5)
    submit_review(proposal, reviewer(), officers.jp, 3, 3, 3)
    active_assignment(proposal, late, officers.jp)

    assert user_client(late).get("/api/v1/reviews/").json()["results"] == []
    own = user_client(early).get("/api/v1/reviews/", {"proposal": proposal.pk}).json()["results"]
    assert len(own) == 2
    assert {r["reviewer"] for r in own} == {early.pk, None}  # others stay anonymous

    client = user_client(officers.kr)
    with django_assert_max_num_queries(8):
        everything = client.get("/api/v1/reviews/").json()
    assert everything["count"] == 2 and all(r["reviewer"] for r in everything["results"])
    assert_problem(key_client(c.jp).get("/api/v1/reviews/"), 403)


def test_award_decisions_over_the_api_follow_the_two_person_rule():
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    body = {"proposal": proposal.pk, "outcome": "reject", "reason": "Weak reviews."}

    first = user_client(officers.jp).post("/api/v1/award-decisions/", body, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["state"] == "pending" and first.json()["first_side"] == "JP"

    same = user_client(officers.jp).post("/api/v1/award-decisions/", body, format="json")
    assert assert_problem(same, 403)["detail"] == (
        "You have already approved this decision; a fund officer of the other side must complete it."
    )
    side = user_client(officers.jp2).post("/api/v1/award-decisions/", body, format="json")
    assert "other side" in assert_problem(side, 403)["detail"]
    other = user_client(officers.kr).post(
        "/api/v1/award-decisions/", {**body, "outcome": "award"}, format="json"
    )
    assert assert_problem(other, 409)["code"] == "outcome_differs"
    missing = user_client(officers.kr).post(
        "/api/v1/award-decisions/", {**body, "reason": ""}, format="json"
    )
    assert "reason" in assert_problem(missing, 422)["errors"]

    done = user_client(officers.kr).post("/api/v1/award-decisions/", body, format="json")
    assert done.status_code == 200 and done.json()["state"] == "completed"

    listed = user_client(officers.kr).get("/api/v1/award-decisions/", {"proposal": proposal.pk})
    assert [d["id"] for d in listed.json()["results"]] == [first.json()["id"]]
    assert_problem(user_client(c.pi_jp).get("/api/v1/award-decisions/"), 403)
    assert_problem(key_client(c.jp).post("/api/v1/award-decisions/", body, format="json"), 403)
    assert_problem(
        user_client(UserFactory.create(role=Role.FINANCE_OFFICER, side="JP")).post(
            "/api/v1/award-decisions/", body, format="json"
        ),
        403,
    )


def test_the_first_officer_cancels_through_the_api():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    decision = (
        user_client(officers.kr)
        .post(
            "/api/v1/award-decisions/",
            {"proposal": proposal.pk, "outcome": "reject", "reason": "Weak."},
            format="json",
        )
        .json()
    )
    assert_problem(
        user_client(officers.jp).post(f"/api/v1/award-decisions/{decision['id']}/cancel/"), 403
    )
    cancelled = user_client(officers.kr).post(f"/api/v1/award-decisions/{decision['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "withdrawn"
    assert AwardDecision.objects.get(pk=decision["id"]).state == "withdrawn"


def test_the_ranking_endpoint():
    officers = make_officers()
    proposal, _c = proposal_under_review(officers.jp)
    submit_review(proposal, reviewer(), officers.jp, 4, 3, 3)
    client = user_client(officers.jp)

    rows = client.get("/api/v1/review-rankings/", {"call": proposal.call_id}).json()
    assert rows == [
        {
            "id": proposal.pk,
            "title": proposal.title,
            "state": "under_review",
            "research_area": "semiconductor.ai",
            "review_count": 1,
            "mean_score": "3.5000",
        }
    ]
    assert_problem(client.get("/api/v1/review-rankings/"), 400)
    assert_problem(client.get("/api/v1/review-rankings/", {"call": 10**9}), 404)
    assert_problem(user_client(reviewer()).get("/api/v1/review-rankings/"), 403)


def test_the_schema_documents_the_review_endpoints():
    response = user_client(UserFactory.create()).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/reviews/",
        "/api/v1/review-assignments/",
        "/api/v1/review-assignments/{id}/declare/",
        "/api/v1/review-assignments/{id}/review/",
        "/api/v1/award-decisions/",
        "/api/v1/award-decisions/{id}/cancel/",
        "/api/v1/review-rankings/",
    ):
        assert path in paths, path
