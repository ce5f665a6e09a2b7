"""The API of every two-person decision (§2, §14): withdraw and decline under each resource,
the one decision block (``two_person``), problem+json refusals that change nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.kernel.test_approvals import CASES, Case

pytestmark = pytest.mark.django_db

URLS: dict[str, Callable[[Any, str], str]] = {
    "award": lambda d, verb: f"/api/v1/award-decisions/{d.pk}/{verb}/",
    "gate_decision": lambda d, verb: f"/api/v1/gates/{d.gate_id}/decisions/{d.pk}/{verb}/",
    "gate_override": lambda d, verb: f"/api/v1/gates/{d.gate_id}/decisions/{d.pk}/{verb}/",
    "licence_approval": lambda d, verb: f"/api/v1/licences/{d.licence_id}/approval/{verb}/",
    "allocation_change": lambda d, verb: f"/api/v1/allocation-changes/{d.pk}/{verb}/",
}
MISSING: dict[str, Callable[[Any, str], str]] = {
    "award": lambda d, verb: f"/api/v1/award-decisions/{d.pk + 999}/{verb}/",
    "gate_decision": lambda d, verb: f"/api/v1/gates/{d.gate_id}/decisions/{d.pk + 999}/{verb}/",
    "gate_override": lambda d, verb: f"/api/v1/gates/{d.gate_id + 999}/decisions/{d.pk}/{verb}/",
    "licence_approval": lambda d, verb: f"/api/v1/licences/{d.licence_id + 999}/approval/{verb}/",
    "allocation_change": lambda d, verb: f"/api/v1/allocation-changes/{d.pk + 999}/{verb}/",
}


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture(params=list(CASES))
def kind(request) -> str:
    return request.param


@pytest.fixture
def case(kind) -> Case:
    return CASES[kind]()


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    return response.json()


def test_decline_needs_a_reason_and_the_other_side(case, kind):
    decision = case.approve(case.jp)
    url = URLS[kind](decision, "decline")

    missing = problem(client_of(case.kr).post(url, {"reason": " "}, format="json"), 422)
    assert list(missing["errors"]) == ["reason"]
    own = problem(client_of(case.jp).post(url, {"reason": "No."}, format="json"), 403)
    assert own["code"] == "same_person"
    side = problem(client_of(case.jp2).post(url, {"reason": "No."}, format="json"), 403)
    assert side["code"] == "same_side"
    decision.refresh_from_db()
    assert decision.state == "pending"

    declined = client_of(case.kr).post(url, {"reason": "Not convincing."}, format="json")

    assert declined.status_code == 200, declined.content
    block = declined.json()["two_person"]
    assert (block["state"], block["declined_side"], block["decline_reason"]) == (
        "declined",
        "KR",
        "Not convincing.",
    )
    assert block["declined_by"] == case.kr.pk and block["needed_side"] == ""


def test_the_first_approver_withdraws(case, kind):
    decision = case.approve(case.jp)
    url = URLS[kind](decision, "withdraw")

    refused = problem(client_of(case.kr).post(url), 403)
    assert refused["detail"] == "Only the officer who approved first may withdraw this approval."

    withdrawn = client_of(case.jp).post(url)

    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["two_person"]["state"] == "withdrawn"
    assert withdrawn.json()["two_person"]["withdrawn_at"]
    problem(client_of(case.jp).post(url), 409)


def test_a_missing_decision_answers_404(case, kind):
    decision = case.approve(case.jp)

    for verb in ("withdraw", "decline"):
        problem(client_of(case.kr).post(MISSING[kind](decision, verb), {"reason": "x"}), 404)
    decision.refresh_from_db()
    assert decision.state == "pending"


def test_the_pending_block_says_what_is_still_needed(case, kind):
    decision = case.approve(case.jp)
    from fundapp.api.approvals import TwoPersonDecisionSerializer

    block = TwoPersonDecisionSerializer(decision).data
    assert (block["state"], block["first_side"], block["needed_side"]) == ("pending", "JP", "KR")
    assert block["first_officer"] == case.jp.pk


def test_a_licence_shows_its_latest_approval_to_fund_staff():
    case = CASES["licence_approval"]()
    decision = case.approve(case.jp)
    url = f"/api/v1/licences/{decision.licence_id}/approval/"

    shown = client_of(case.kr).get(url)

    assert shown.status_code == 200, shown.content
    assert shown.json()["two_person"]["needed_side"] == "KR"
    assert shown.json()["two_person"]["first_officer"] == case.jp.pk
    problem(client_of(case.kr).get(f"/api/v1/licences/{decision.licence_id + 999}/approval/"), 404)
