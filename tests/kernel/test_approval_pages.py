"""Every page with a two-person decision shows it with the one partial (§2, §15): who
approved, for which side, what is still needed; the first approver withdraws, an officer of
the other side declines with a reason; a refused or invalid request changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.kernel.test_approvals import CASES, Case

pytestmark = pytest.mark.django_db

# The cases with a browser page (return-allocation changes are API only).
PAGES: dict[str, Callable[[Any], str]] = {
    "award": lambda d: reverse("reviews:proposal", args=[d.proposal_id]),
    "gate_decision": lambda d: reverse("projects:gate", args=[d.gate_id]),
    "gate_override": lambda d: reverse("projects:gate", args=[d.gate_id]),
    "licence_approval": lambda d: reverse("ip:licence", args=[d.licence_id]),
}
ACTIONS: dict[str, Callable[[Any, str], str]] = {
    "award": lambda d, verb: reverse(f"reviews:award_{verb}", args=[d.pk]),
    "gate_decision": lambda d, verb: reverse(f"projects:gate_decision_{verb}", args=[d.pk]),
    "gate_override": lambda d, verb: reverse(f"projects:gate_decision_{verb}", args=[d.pk]),
    "licence_approval": lambda d, verb: reverse(
        "ip:licence_act", args=[d.licence_id, f"{verb}_approval"]
    ),
}


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture(params=list(PAGES))
def kind(request) -> str:
    return request.param


@pytest.fixture
def case(kind) -> Case:
    return CASES[kind]()


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_who_approved_and_what_is_still_needed(case, kind):
    decision = case.approve(case.jp)
    page = PAGES[kind](decision)

    own = browser(case.jp).get(page).content.decode()
    other = browser(case.kr).get(page).content.decode()

    marker = f'data-two-person="{decision.pk}" data-state="pending"'
    assert marker in own and marker in other
    assert 'data-first-side="JP" data-needed-side="KR"' in own
    assert str(case.jp) in own and "data-still-needed" in own
    assert 'data-action="withdraw-decision"' in own and "data-decline-form" not in own
    assert "data-decline-form" in other and 'data-action="withdraw-decision"' not in other
    same_side = browser(case.jp2).get(page).content.decode()
    assert "data-decline-form" not in same_side
    assert 'data-action="withdraw-decision"' not in same_side


def test_decline_from_the_page_needs_a_reason_and_shows_it(case, kind):
    decision = case.approve(case.jp)
    url = ACTIONS[kind](decision, "decline")

    empty = browser(case.kr).post(url, {"reason": ""})
    assert empty.status_code == 422
    assert "data-decline-form" in empty.content.decode()
    refused = browser(case.jp2).post(url, {"reason": "No."})
    assert refused.status_code == 403
    decision.refresh_from_db()
    assert decision.state == "pending"

    done = browser(case.kr).post(url, {"reason": "The figures do not add up."})

    assert done.status_code == 302
    decision.refresh_from_db()
    assert decision.state == "declined"
    page = browser(case.jp).get(PAGES[kind](decision)).content.decode()
    assert "data-declined" in page and "The figures do not add up." in page


def test_withdraw_from_the_page(case, kind):
    decision = case.approve(case.jp)
    url = ACTIONS[kind](decision, "withdraw")

    refused = browser(case.kr).post(url)
    assert refused.status_code == 403
    decision.refresh_from_db()
    assert decision.state == "pending"

    done = browser(case.jp).post(url)

    assert done.status_code == 302
    decision.refresh_from_db()
    assert decision.state == "withdrawn"
