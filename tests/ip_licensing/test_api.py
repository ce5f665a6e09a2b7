"""The licensing API (§14, §21): assets, licences and their actions, royalty reports with
an Idempotency-Key, and who may do what (a matrix of parties × actions)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from fundapp.ledger.selectors import account_balance
from ip_licensing.models import Licence, RoyaltyReport
from tests.factories import member_of
from tests.factories.licensing import (
    ALL_SCOPES,
    World,
    days,
    key_client,
    make_licence,
    terms,
    user_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]
PROBLEM_FIELDS = {"type", "title", "status", "detail"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= PROBLEM_FIELDS
    return body


def current_quarter() -> str:
    today = days(0)
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


# --------------------------------------------------------------------------- assets


def test_assets_are_listed_and_read_with_licences_read(world):
    client = key_client(world.unrelated, ["licences:read"])
    listed = client.get("/api/v1/ip-assets/", {"owner": world.licensor.code})
    assert listed.status_code == 200
    assert {row["id"] for row in listed.json()["results"]} == {world.asset.pk, world.asset2.pk}
    row = client.get(f"/api/v1/ip-assets/{world.asset.pk}/").json()
    assert row["owner_code"] == world.licensor.code and row["is_background"] is True
    assert client.get("/api/v1/ip-assets/999999999/").status_code == 404
    assert (
        key_client(world.unrelated, ["licences:check"]).get("/api/v1/ip-assets/").status_code == 403
    )


def test_a_member_registers_an_asset_and_co_ownership_is_refused(world):
    client = user_client(world.office_licensor)
    body = {
        "kind": "dataset",
        "title_en": "Wafer images",
        "owner": world.licensor.code,
        "is_background": True,
    }
    created = client.post("/api/v1/ip-assets/", body, format="json")
    assert created.status_code == 201, created.content
    assert created["Location"].endswith(f"/api/v1/ip-assets/{created.json()['id']}/")
    refused = client.post(
        "/api/v1/ip-assets/",
        {**body, "owner": None, "owners": [world.licensor.code, world.licensee.code]},
        format="json",
    )
    assert "co-owned" in assert_problem(refused, 422)["errors"]["owners"][0]
    key = key_client(world.licensor, ALL_SCOPES)
    assert key.post("/api/v1/ip-assets/", body, format="json").status_code == 403


# --------------------------------------------------------------------------- licences


def test_a_licence_goes_from_proposal_to_active_through_the_api(world):
    licensor = user_client(world.office_licensor)
    body = {**terms(), "licensee": world.licensee.code, "assets": [world.asset.pk]}
    created = licensor.post("/api/v1/licences/", body, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["state"] == "draft"
    assert created.json()["assets"] == [world.asset.pk]
    assert licensor.post(f"/api/v1/licences/{pk}/accept/").status_code == 200
    accepted = user_client(world.office_licensee).post(f"/api/v1/licences/{pk}/accept/")
    assert accepted.json()["state"] == "pending"
    assert user_client(world.jp).post(f"/api/v1/licences/{pk}/approve/").status_code == 200
    approved = user_client(world.kr).post(f"/api/v1/licences/{pk}/approve/")
    assert approved.status_code == 200
    assert approved.json()["state"] == "active"
    suspended = user_client(world.jp).post(
        f"/api/v1/licences/{pk}/suspend/", {"reason": "Overdue."}, format="json"
    )
    assert suspended.json()["state"] == "suspended"
    resumed = user_client(world.kr).post(
        f"/api/v1/licences/{pk}/resume/", {"reason": "Paid."}, format="json"
    )
    assert resumed.json()["state"] == "active"
    renewal = licensor.post(f"/api/v1/licences/{pk}/renew/", {}, format="json")
    assert renewal.status_code == 201, renewal.content
    assert renewal.json()["renewal_of"] == pk and renewal.json()["state"] == "draft"
    ended = user_client(world.jp).post(
        f"/api/v1/licences/{pk}/terminate/", {"reason": "Breach."}, format="json"
    )
    assert ended.json()["state"] == "terminated"


def test_bad_licence_terms_are_field_errors(world):
    body = {
        **terms(end_on=days(-40).isoformat()),
        "licensee": world.licensee.code,
        "assets": [world.asset.pk],
    }
    response = user_client(world.office_licensor).post("/api/v1/licences/", body, format="json")
    assert "end_on" in assert_problem(response, 422)["errors"]


def test_licence_lists_are_filtered_and_constant_in_queries(world, django_assert_max_num_queries):
    for _ in range(3):
        make_licence(world, state="draft")
    make_licence(world, state="draft", licensee=world.other)
    key = key_client(world.licensee, ["licences:read"])
    with django_assert_max_num_queries(5):
        rows = key.get("/api/v1/licences/").json()["results"]
    assert len(rows) == 3
    assert {row["licensee_code"] for row in rows} == {world.licensee.code}
    officer_rows = user_client(world.jp).get("/api/v1/licences/", {"licensee": world.other.code})
    assert len(officer_rows.json()["results"]) == 1
    by_asset = user_client(world.jp).get("/api/v1/licences/", {"asset": world.asset2.pk})
    assert by_asset.json()["results"] == []


# --------------------------------------------------------------------------- royalties


@pytest.fixture
def active(world):
    return make_licence(world, start_on=days(-200).isoformat())


def post_report(client, licence: Licence, net_sales: int | str, key: str = "r-1", **extra):
    body = {"licence": licence.pk, "quarter": current_quarter(), "net_sales": net_sales, **extra}
    return client.post("/api/v1/royalty-reports/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_royalty_reports_need_an_idempotency_key(world, active):
    client = key_client(world.licensee, ["royalties:write"])
    response = client.post(
        "/api/v1/royalty-reports/",
        {"licence": active.pk, "quarter": current_quarter(), "net_sales": 1},
        format="json",
    )
    assert "Idempotency-Key" in assert_problem(response, 400)["errors"]
    assert not RoyaltyReport.objects.exists()


def test_the_same_key_and_body_report_once(world, active):
    client = key_client(world.licensee, ["royalties:write", "licences:read"])
    first = post_report(client, active, 10_000_000)
    assert first.status_code == 201, first.content
    assert first.json()["royalty_due"] == 350_000
    assert first.json()["currency"] == "JPY"
    again = post_report(client, active, 10_000_000)
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert RoyaltyReport.objects.count() == 1
    assert account_balance(f"licensee:{world.licensee.pk}:JPY") == -350_000
    other = post_report(client, active, 12_000_000)
    assert_problem(other, 422)
    assert RoyaltyReport.objects.count() == 1
    # A new key is a new report: a correction of the quarter.
    corrected = post_report(client, active, 12_000_000, key="r-2")
    assert corrected.status_code == 201
    assert corrected.json()["supersedes"] == first.json()["id"]
    assert corrected.json()["posted_amount"] == 70_000
    listed = client.get("/api/v1/royalty-reports/", {"licence": active.pk, "current": "true"})
    assert [row["id"] for row in listed.json()["results"]] == [corrected.json()["id"]]
    first_row = client.get(f"/api/v1/royalty-reports/{first.json()['id']}/").json()
    assert first_row["superseded_by"] == corrected.json()["id"]


def test_bad_royalty_bodies(world, active):
    client = key_client(world.licensee, ["royalties:write"])
    assert_problem(post_report(client, active, 1, quarter="2026-Q9", key="a"), 422)
    assert_problem(post_report(client, active, -5, key="b"), 422)
    assert_problem(post_report(client, active, "lots", key="c"), 400)
    assert not RoyaltyReport.objects.exists()


def test_the_currency_rule_answers_409(world):
    krw = make_licence(world, currency="KRW", start_on=days(-200).isoformat())
    client = key_client(world.licensee, ["royalties:write"])
    body = assert_problem(post_report(client, krw, 10**6), 409)
    assert body["code"] == "royalty_currency_mismatch"


# --------------------------------------------------------------------------- the matrix

ROLES = ("licensor", "licensee", "unrelated", "officer")


def person(world: World, role: str):
    return {
        "licensor": world.office_licensor,
        "licensee": world.office_licensee,
        "unrelated": world.outsider,
        "officer": world.jp,
    }[role]


def key_of(world: World, role: str) -> APIClient:
    org = {"licensor": world.licensor, "licensee": world.licensee, "unrelated": world.unrelated}
    return key_client(org[role], ALL_SCOPES)


PERSON_MATRIX = {
    # role: (read licence, accept, approve, check, report royalty)
    "licensor": (200, 200, 403, 200, 403),
    "licensee": (200, 200, 403, 200, 201),
    "unrelated": (404, 404, 404, 403, 422),
    "officer": (200, 403, 200, 200, 403),
}
KEY_MATRIX = {
    # No scope lets a key approve: 403 for a licence it sees, 404 for one it does not.
    "licensor": (200, 200, 403, 200, 403),
    "licensee": (200, 200, 403, 200, 201),
    "unrelated": (404, 404, 404, 403, 422),
}


def _statuses(world: World, client: APIClient) -> tuple[int, ...]:
    active = make_licence(world, start_on=days(-200).isoformat())
    draft = make_licence(world, state="draft")
    pending = make_licence(world, state="pending")
    check = {
        "asset": world.asset.pk,
        "licensee": world.licensee.code,
        "field": "semiconductor.ai",
        "purpose": "research",
        "territory": "JP",
        "on": days(0).isoformat(),
    }
    return (
        client.get(f"/api/v1/licences/{active.pk}/").status_code,
        client.post(f"/api/v1/licences/{draft.pk}/accept/").status_code,
        client.post(f"/api/v1/licences/{pending.pk}/approve/").status_code,
        client.post("/api/v1/licences/check/", check, format="json").status_code,
        post_report(client, active, 1_000_000).status_code,
    )


@pytest.mark.parametrize("role", ROLES)
def test_person_matrix(world, role):
    assert _statuses(world, user_client(person(world, role))) == PERSON_MATRIX[role]


@pytest.mark.parametrize("role", sorted(KEY_MATRIX))
def test_key_matrix(world, role):
    assert _statuses(world, key_of(world, role)) == KEY_MATRIX[role]


def test_a_plain_member_reads_but_does_not_accept(world):
    """Accepting binds the organisation: its research office or a PI (the licences
    engineer's rule); a plain member sees the licence and reports royalties."""
    member = member_of(world.licensee)
    client = user_client(member)
    draft = make_licence(world, state="draft")
    assert client.get(f"/api/v1/licences/{draft.pk}/").status_code == 200
    assert client.post(f"/api/v1/licences/{draft.pk}/accept/").status_code == 403
    active = make_licence(world, start_on=days(-200).isoformat())
    assert post_report(client, active, 1_000_000).status_code == 201


def test_keys_without_the_scope_are_refused(world, active):
    read_only = key_client(world.licensee, ["licences:read"])
    assert read_only.post(f"/api/v1/licences/{active.pk}/approve/").status_code == 403
    assert post_report(read_only, active, 1).status_code == 403
    check_only = key_client(world.licensee, ["licences:check"])
    assert check_only.get(f"/api/v1/licences/{active.pk}/").status_code == 403
    assert APIClient().get("/api/v1/licences/").status_code == 401
