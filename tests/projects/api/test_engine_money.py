"""Tranches and disbursements over the API; confirming a payment (§8, §9, §14, §21)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fundapp.accounts.models import Organisation, Role
from fundapp.api.models import IdempotencyRecord
from fundapp.ledger.selectors import account_balance
from projects.models import Disbursement
from tests.factories import OrganisationFactory, UserFactory, jp_org, member_of, officer
from tests.factories.projects_api import (
    assert_problem,
    key_client,
    make_project,
    ok,
    release,
    user_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

TRANCHES = "/api/v1/tranches/"
DISBURSEMENTS = "/api/v1/disbursements/"
TRANCHE_FIELDS = {
    "id",
    "project",
    "stage_number",
    "side",
    "currency",
    "planned",
    "released",
    "from_reserve",
    "state",
    "released_at",
}


def finance(side: str = "JP"):
    return UserFactory.create(role=Role.FINANCE_OFFICER, side=side)


def agency(country: str = "JP") -> Organisation:
    return OrganisationFactory.create(
        code=f"{country}-AGENCY", country=country, kind=Organisation.Kind.AGENCY
    )


def confirm(client, disbursement, body=None, key: str | None = "pay-1"):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    body = body or {"paid_on": timezone.localdate().isoformat(), "reference": "JST-2026-17"}
    return client.post(f"{DISBURSEMENTS}{disbursement.pk}/confirm/", body, format="json", **headers)


# --------------------------------------------------------------------------- tranches


def test_tranches_of_a_project_in_the_published_shape():
    built, other = make_project(), make_project()
    release(built, 1, "JP")

    rows = ok(key_client(built.c.kr).get(TRANCHES, {"project": built.project.pk}))["results"]

    assert [(r["stage_number"], r["side"]) for r in rows] == [
        (1, "JP"),
        (1, "KR"),
        (2, "JP"),
        (2, "KR"),
    ]
    for row in rows:
        assert set(row) >= TRANCHE_FIELDS
        assert row["project"] == built.project.pk
    released, planned = rows[0], rows[1]
    assert released == {
        **released,
        "currency": "JPY",
        "planned": 40_000_000,
        "released": 40_000_000,
        "from_reserve": 0,
        "state": "released",
    }
    assert released["released_at"] is not None
    assert planned == {
        **planned,
        "currency": "KRW",
        "planned": 400_000_000,
        "released": None,
        "state": "planned",
        "released_at": None,
    }
    # the caller's other projects only; others' tranches are invisible
    assert ok(key_client(built.c.kr).get(TRANCHES, {"project": other.project.pk}))["results"] == []
    hidden = other.tranches[(1, "JP")]
    assert_problem(key_client(built.c.kr).get(f"{TRANCHES}{hidden.pk}/"), 404)
    assert_problem(key_client(built.c.kr, ["kpi:write"]).get(TRANCHES), 403)


def test_tranche_and_disbursement_lists_have_constant_queries():
    client = user_client(officer())
    built = make_project()
    release(built, 1, "JP")
    with CaptureQueriesContext(connection) as small_t:
        ok(client.get(TRANCHES))
    with CaptureQueriesContext(connection) as small_d:
        ok(client.get(DISBURSEMENTS))
    for _ in range(3):
        more = make_project()
        release(more, 1, "JP")
        release(more, 1, "KR")
    with CaptureQueriesContext(connection) as large_t:
        assert len(ok(client.get(TRANCHES))["results"]) == 16
    with CaptureQueriesContext(connection) as large_d:
        assert len(ok(client.get(DISBURSEMENTS))["results"]) == 7
    assert len(large_t) == len(small_t)
    assert len(large_d) == len(small_d)


# --------------------------------------------------------------------------- disbursements


def test_disbursements_list_and_filter():
    built = make_project()
    (jp_part,) = release(built, 1, "JP")
    (kr_part,) = release(built, 1, "KR")
    client = user_client(finance())

    rows = ok(client.get(DISBURSEMENTS, {"project": built.project.pk}))["results"]
    assert {r["id"] for r in rows} == {jp_part.pk, kr_part.pk}
    row = next(r for r in rows if r["id"] == jp_part.pk)
    assert row == {
        **row,
        "tranche": built.tranches[(1, "JP")].pk,
        "project": built.project.pk,
        "stage_number": 1,
        "side": "JP",
        "organisation": built.c.jp.pk,
        "organisation_code": built.c.jp.code,
        "currency": "JPY",
        "amount": 40_000_000,
        "state": "payable",
        "paid_on": None,
    }
    by_code = ok(client.get(DISBURSEMENTS, {"organisation": built.c.kr.code}))["results"]
    assert [r["id"] for r in by_code] == [kr_part.pk]
    by_id = ok(client.get(DISBURSEMENTS, {"organisation": str(built.c.jp.pk)}))["results"]
    assert [r["id"] for r in by_id] == [jp_part.pk]
    assert ok(client.get(DISBURSEMENTS, {"state": "paid"}))["results"] == []
    # a consortium member's system sees them; a stranger's does not
    assert len(ok(key_client(built.c.jp).get(DISBURSEMENTS))["results"]) == 2
    assert ok(key_client(jp_org()).get(DISBURSEMENTS))["results"] == []
    # the side's agency system sees its side's payments
    agency_rows = ok(key_client(agency("KR"), ["projects:read"]).get(DISBURSEMENTS))["results"]
    assert [r["id"] for r in agency_rows] == [kr_part.pk]


def test_a_finance_officer_confirms_a_payment_once():
    built = make_project()
    (part,) = release(built, 1, "JP")
    client = user_client(finance("JP"))
    payable = f"org:{built.c.jp.pk}:JPY:payable"
    paid = f"org:{built.c.jp.pk}:JPY:paid"

    first = confirm(client, part)
    again = confirm(client, part)

    body = ok(first)
    assert body["state"] == "paid"
    assert body["paid_on"] == timezone.localdate().isoformat()
    assert body["reference"] == "JST-2026-17"
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert account_balance(payable) == 0
    assert account_balance(paid) == 40_000_000
    assert IdempotencyRecord.objects.count() == 1

    other_body = {"paid_on": timezone.localdate().isoformat(), "reference": "OTHER"}
    assert "Idempotency-Key" in assert_problem(confirm(client, part, other_body), 422)["errors"]
    # a new key for a conflicting confirmation: the service refuses it
    assert_problem(confirm(client, part, other_body, key="pay-2"), 409)
    assert account_balance(paid) == 40_000_000


def test_confirming_needs_a_key_the_scope_and_the_right_payer():
    built = make_project()
    (part,) = release(built, 1, "JP")
    today = timezone.localdate().isoformat()

    assert list(assert_problem(confirm(user_client(finance()), part, key=None), 400)["errors"]) == [
        "Idempotency-Key"
    ]
    long_key = "k" * 201
    assert_problem(confirm(user_client(finance()), part, key=long_key), 400)
    assert_problem(confirm(key_client(agency("JP"), ["projects:read"]), part), 403)
    # a consortium member's system may read but not confirm: agencies pay
    assert_problem(confirm(key_client(built.c.jp, ["payments:write", "projects:read"]), part), 403)
    assert_problem(confirm(user_client(finance("KR")), part), 403)
    assert_problem(confirm(user_client(built.c.pi_jp), part), 403)
    assert_problem(confirm(key_client(agency("KR"), ["payments:write"]), part), 404)
    assert_problem(confirm(key_client(jp_org(), ["payments:write"]), part), 404)
    assert_problem(confirm(user_client(member_of(jp_org())), part), 404)
    future = {"paid_on": "2999-01-01", "reference": "X"}
    assert "paid_on" in assert_problem(confirm(user_client(finance()), part, future), 422)["errors"]
    assert (
        "paid_on"
        in assert_problem(
            confirm(user_client(finance()), part, {"paid_on": "soon", "reference": "X"}), 400
        )["errors"]
    )
    part.refresh_from_db()
    assert part.state == "payable"
    assert not IdempotencyRecord.objects.exists()

    body = ok(
        confirm(
            key_client(agency("JP"), ["payments:write"]),
            part,
            {"paid_on": today, "reference": "R-1"},
        )
    )
    assert body["state"] == "paid"
    assert Disbursement.objects.get(pk=part.pk).confirmed_by_api_key is not None
