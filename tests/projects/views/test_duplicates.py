"""The duplicate-funding pages and /api/v1/duplicate-flags/ (§22): fund officers only,
with both items side by side; everyone else gets 404 on a flag (403 on the API's list)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from fundapp.accounts.models import Role, Scope, User
from fundapp.audit.models import AuditEvent
from projects.models import DuplicateFlagState, DuplicateFundingFlag
from projects.services import awards as award_svc
from tests.factories import UserFactory, jp_org, member_of, officer
from tests.factories.duplicates import (
    BATTERIES_JA,
    BATTERIES_JA_AGAIN,
    flagged_pair,
    same_person,
)
from tests.factories.proposals import Consortium, make_consortium, submitted_proposal
from tests.factories.proposals_api import key_client
from tests.factories.review import fund_pools, make_officers, proposal_under_review

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls"),
]

LIST = "/api/v1/duplicate-flags/"


@dataclass
class World:
    flag: DuplicateFundingFlag
    first: Consortium  # the pending proposal matched against
    second: Consortium  # the flagged proposal


@pytest.fixture
def world() -> World:
    flag, first, second = flagged_pair()
    return World(flag, first, second)


# Who asks, by name: role × the flagged proposal's organisation, the matched one's, another.
PEOPLE: dict[str, Callable[[World], User]] = {
    "fund_officer_jp": lambda w: officer("JP"),
    "fund_officer_kr": lambda w: officer("KR"),
    "admin": lambda w: UserFactory.create(role=Role.ADMIN),
    "researcher_own": lambda w: w.second.pi_jp,
    "research_office_own": lambda w: w.second.office_kr,
    "researcher_matched": lambda w: w.first.pi_kr,
    "researcher_other": lambda w: member_of(jp_org()),
    "reviewer": lambda w: UserFactory.create(role=Role.REVIEWER),
    "finance_officer": lambda w: UserFactory.create(role=Role.FINANCE_OFFICER, side="JP"),
    "screening_officer": lambda w: UserFactory.create(role=Role.SCREENING_OFFICER),
}
OFFICERS = {"fund_officer_jp", "fund_officer_kr", "admin"}


# --------------------------------------------------------------------------- pages


@pytest.mark.parametrize("who", sorted(PEOPLE))
def test_pages_answer_fund_officers_and_404_everyone_else(client: Client, world: World, who):
    client.force_login(PEOPLE[who](world))

    listed = client.get(reverse("duplicates:list"))
    one = client.get(reverse("duplicates:detail", args=[world.flag.pk]))
    resolved = client.post(
        reverse("duplicates:detail", args=[world.flag.pk]),
        {"resolution": "not_duplicate", "note": "Different work."},
    )

    if who in OFFICERS:
        assert (listed.status_code, one.status_code, resolved.status_code) == (200, 200, 302)
    else:
        assert (listed.status_code, one.status_code, resolved.status_code) == (404, 404, 404)
    world.flag.refresh_from_db()
    assert world.flag.state == (
        DuplicateFlagState.RESOLVED if who in OFFICERS else DuplicateFlagState.OPEN
    )


def test_a_missing_flag_is_404_like_a_hidden_one(client: Client, world: World):
    client.force_login(officer("JP"))
    assert client.get(reverse("duplicates:detail", args=[world.flag.pk + 1000])).status_code == 404


def test_anonymous_is_sent_to_login(client: Client, world: World):
    response = client.get(reverse("duplicates:list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_flag_shows_both_items_side_by_side_and_is_resolved_with_a_reason(
    client: Client, world: World
):
    who = officer("KR")
    client.force_login(who)
    url = reverse("duplicates:detail", args=[world.flag.pk])

    page = client.get(url).content.decode()

    assert "全固体電池の高性能化と量産技術に関する研究開発" in page  # the flagged proposal
    assert "全固体電池の高性能化と量産技術に関する研究</td>" in page  # the matched one
    assert 'data-identifier="erad"' in page and "60011111" in page
    assert 'data-field="title_ja"' in page and world.flag.similarity["title_ja"] in page
    assert str(world.second.pi_jp) in page and str(world.first.pi_jp) in page
    assert 'id="resolution-form"' in page

    missing = client.post(url, {"resolution": "refuse", "note": ""})
    assert missing.status_code == 422
    world.flag.refresh_from_db()
    assert world.flag.state == DuplicateFlagState.OPEN

    done = client.post(url, {"resolution": "refuse", "note": "The same work twice."})
    assert done.status_code == 302
    world.flag.refresh_from_db()
    assert world.flag.resolution == "refuse" and world.flag.resolved_by_id == who.pk
    after = client.get(url).content.decode()
    assert 'data-resolution="refuse"' in after and 'id="resolution-form"' not in after
    assert 'data-action="duplicate_flag.resolved"' in after


def test_the_list_shows_open_flags_and_filters_by_state(client: Client, world: World):
    client.force_login(officer("JP"))

    open_page = client.get(reverse("duplicates:list")).content.decode()
    resolved_page = client.get(reverse("duplicates:list"), {"state": "resolved"}).content.decode()

    assert f'data-flag="{world.flag.pk}"' in open_page
    assert f'data-flag="{world.flag.pk}"' not in resolved_page


@pytest.mark.parametrize("lang", ["ja", "ko"])
def test_the_pages_read_in_japanese_and_korean(client: Client, world: World, lang):
    user = officer("JP")
    user.preferred_language = lang
    user.save(update_fields=["preferred_language"])
    client.force_login(user)
    with translation.override(lang):
        expected = [translation.gettext("Duplicate funding"), translation.gettext("Side by side")]
    listed = client.get(reverse("duplicates:list"), HTTP_ACCEPT_LANGUAGE=lang)
    one = client.get(reverse("duplicates:detail", args=[world.flag.pk]), HTTP_ACCEPT_LANGUAGE=lang)
    assert expected[0] in listed.content.decode()
    assert expected[1] in one.content.decode()
    assert expected[0] != "Duplicate funding"


@pytest.mark.parametrize("size", [2, 6])
def test_the_list_page_reads_in_a_fixed_number_of_queries(
    client: Client, django_assert_max_num_queries, size
):
    for number in range(size):
        flagged_pair(erad_number=f"6002{number:04d}")
    client.force_login(officer("JP"))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("duplicates:list"))
    assert response.content.decode().count("data-flag=") == size


# --------------------------------------------------------------------------- API


def _api(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("who", sorted(PEOPLE))
def test_the_api_answers_fund_officers_and_no_one_else(world: World, who):
    api = _api(PEOPLE[who](world))
    detail = f"{LIST}{world.flag.pk}/"

    listed = api.get(LIST)
    one = api.get(detail)
    resolved = api.post(
        f"{detail}resolve/", {"resolution": "not_duplicate", "note": "Fine."}, format="json"
    )

    if who in OFFICERS:
        assert (listed.status_code, one.status_code, resolved.status_code) == (200, 200, 200)
        assert [f["id"] for f in listed.json()["results"]] == [world.flag.pk]
    else:
        assert (listed.status_code, one.status_code, resolved.status_code) == (403, 404, 404)
        assert one["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("org", ["own", "other"])
def test_api_keys_with_every_scope_get_nothing(world: World, org):
    organisation = world.second.jp if org == "own" else jp_org()
    api = key_client(organisation, tuple(Scope.values))
    detail = f"{LIST}{world.flag.pk}/"

    assert api.get(LIST).status_code == 403
    assert api.get(detail).status_code == 404
    assert api.post(f"{detail}resolve/", {"resolution": "refuse", "note": "x"}).status_code == 404


def test_the_api_shows_the_match_and_resolves_once(world: World):
    who = officer("JP")
    api = _api(who)
    detail = f"{LIST}{world.flag.pk}/"

    body: dict[str, Any] = api.get(detail).json()

    assert body["proposal"] == world.flag.proposal_id
    assert body["matched_proposal"] == world.flag.matched_proposal_id
    assert body["matched_project"] is None
    assert body["identifiers"][0]["kind"] == "erad"
    assert body["identifiers"][0]["value"] == "60011111"
    assert set(body["similarity"]) == {"title_ja"}
    assert body["state"] == "open" and body["raised_during"] == "submission"
    assert api.get(LIST, {"state": "resolved"}).json()["results"] == []

    missing = api.post(f"{detail}resolve/", {"resolution": "refuse", "note": ""}, format="json")
    assert missing.status_code == 422
    done = api.post(
        f"{detail}resolve/",
        {"resolution": "reduce_effort", "note": "Effort cut to 10%."},
        format="json",
    )
    assert done.status_code == 200
    assert done.json()["state"] == "resolved" and done.json()["resolved_by"] == who.pk
    again = api.post(
        f"{detail}resolve/", {"resolution": "refuse", "note": "Changed my mind."}, format="json"
    )
    assert again.status_code == 409
    assert AuditEvent.objects.filter(action="duplicate_flag.resolved").count() == 1


@pytest.mark.parametrize("size", [2, 6])
def test_the_api_list_reads_in_a_fixed_number_of_queries(django_assert_max_num_queries, size):
    for number in range(size):
        flagged_pair(erad_number=f"6002{number:04d}")
    api = _api(officer("JP"))
    with django_assert_max_num_queries(8):
        response = api.get(LIST)
    assert response.json()["count"] == size


# --------------------------------------------------------------------------- the award page


@pytest.mark.parametrize("lang", ["en", "ja", "ko"])
def test_the_award_page_names_the_flag_and_refuses_the_award_with_a_translated_message(lang):
    officers = make_officers()
    c = make_consortium()
    submitted_proposal(c, basics=BATTERIES_JA)
    other = same_person(c, erad_number="60011111")
    proposal, _o = proposal_under_review(officers.jp, other, basics=BATTERIES_JA_AGAIN)
    fund_pools(other.call, officers.jp)
    [flag] = DuplicateFundingFlag.objects.filter(proposal=proposal)
    award_svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")
    officers.kr.preferred_language = lang
    officers.kr.save(update_fields=["preferred_language"])
    client = Client()
    client.force_login(officers.kr)

    page = client.get(reverse("reviews:proposal", args=[proposal.pk]), HTTP_ACCEPT_LANGUAGE=lang)
    refused = client.post(
        reverse("reviews:award", args=[proposal.pk]),
        {"outcome": "award", "reason": "Agreed."},
        HTTP_ACCEPT_LANGUAGE=lang,
    )

    assert f'data-flag="{flag.pk}" data-state="open"' in page.content.decode()
    assert refused.status_code == 409
    with translation.override(lang):
        message = translation.gettext(
            "A possible duplicate funding of this proposal awaits a fund officer's "
            "resolution; the award cannot complete until it is resolved. The decision "
            "stays pending."
        )
    assert message in refused.content.decode().replace("&#x27;", "'")
    proposal.refresh_from_db()
    assert proposal.state == "under_review"
