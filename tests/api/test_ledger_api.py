"""The ledger, read-only over the API (§9, §14): who reads, cursors, filters, queries."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from fundapp.accounts.models import Role, Scope
from fundapp.ledger.services import ledger_post
from tests.factories import UserFactory, jp_org, member_of, officer
from tests.factories.projects_api import assert_problem, key_client, ok, user_client

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/ledger/accounts/"
TRANSACTIONS = "/api/v1/ledger/transactions/"


def contribute(side: str, amount: int, n: int, to: str = "pool"):
    currency = "JPY" if side == "JP" else "KRW"
    return ledger_post(
        kind="contribution",
        currency=currency,
        legs=[(f"agency:{side}", -amount), (f"fund:{side}:{to}", amount)],
        reference=f"test:contribution:{side}:{n}",
        memo=f"Contribution {n}",
    )


def finance_client():
    return user_client(UserFactory.create(role=Role.FINANCE_OFFICER, side="KR"))


def follow(client: APIClient, url: str, **params) -> list[list[dict]]:
    pages = []
    next_url: str | None = url
    query = dict(params)
    while next_url:
        page = ok(client.get(next_url, query))
        assert "count" not in page
        pages.append(page["results"])
        query = {}
        if page["next"]:
            parsed = urlparse(page["next"])
            next_url = f"{parsed.path}?{parsed.query}"
        else:
            next_url = None
    return pages


def test_accounts_show_code_currency_kind_and_integer_balance():
    contribute("JP", 3_000_000_000, 1)
    contribute("JP", 500_000_000, 2, to="reserve")
    contribute("KR", 27_000_000_000, 3)

    rows = ok(finance_client().get(ACCOUNTS))["results"]

    by_code = {r["code"]: r for r in rows}
    assert list(by_code) == sorted(by_code)
    assert set(by_code["fund:JP:pool"]) >= {"code", "currency", "kind", "balance"}
    assert by_code["fund:JP:pool"]["balance"] == 3_000_000_000
    assert isinstance(by_code["fund:JP:pool"]["balance"], int)
    assert by_code["agency:JP"] == {
        **by_code["agency:JP"],
        "currency": "JPY",
        "kind": "external",
        "balance": -3_500_000_000,
    }
    assert by_code["fund:KR:pool"]["currency"] == "KRW"


def test_accounts_filter_by_prefix_and_currency_and_page_by_cursor():
    contribute("JP", 100, 1)
    contribute("JP", 50, 2, to="reserve")
    contribute("KR", 900, 3)
    client = finance_client()

    jp_fund = ok(client.get(ACCOUNTS, {"prefix": "fund:JP:"}))["results"]
    assert [r["code"] for r in jp_fund] == ["fund:JP:pool", "fund:JP:reserve"]
    krw = ok(client.get(ACCOUNTS, {"currency": "KRW"}))["results"]
    assert {r["code"] for r in krw} == {"agency:KR", "fund:KR:pool"}
    assert_problem(client.get(ACCOUNTS, {"currency": "USD"}), 400)

    pages = follow(client, ACCOUNTS, page_size=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    codes = [r["code"] for p in pages for r in p]
    assert codes == sorted(codes)
    assert ok(client.get(f"{ACCOUNTS}fund:JP:pool/"))["balance"] == 100
    assert_problem(client.get(f"{ACCOUNTS}fund:XX:pool/"), 404)


def test_transactions_newest_first_with_entries_by_cursor():
    made = [contribute("JP", 100 + n, n) for n in range(5)]
    client = user_client(officer("JP"))

    pages = follow(client, TRANSACTIONS, page_size=2)

    assert [len(p) for p in pages] == [2, 2, 1]
    rows = [r for p in pages for r in p]
    assert [r["id"] for r in rows] == [t.pk for t in reversed(made)]
    newest = rows[0]
    assert set(newest) >= {"id", "kind", "currency", "reference", "memo", "created_at", "entries"}
    assert newest["kind"] == "contribution"
    assert newest["reference"] == "test:contribution:JP:4"
    assert newest["entries"] == [
        {"account": "agency:JP", "amount": -104},
        {"account": "fund:JP:pool", "amount": 104},
    ]
    assert ok(client.get(f"{TRANSACTIONS}{made[0].pk}/"))["memo"] == "Contribution 0"


def test_transactions_filter_by_account_currency_kind_and_reference():
    contribute("JP", 100, 1)
    reserve = contribute("JP", 50, 2, to="reserve")
    kr = contribute("KR", 900, 3)
    client = finance_client()

    def ids(**params):
        return [r["id"] for r in ok(client.get(TRANSACTIONS, params))["results"]]

    assert ids(account="fund:JP:reserve") == [reserve.pk]
    assert ids(currency="KRW") == [kr.pk]
    assert ids(reference="test:contribution:JP:2") == [reserve.pk]
    assert len(ids(kind="contribution")) == 3
    assert ids(kind="royalty") == []


def test_only_fund_and_finance_officers_read_the_ledger():
    contribute("JP", 100, 1)
    every_scope = [s.value for s in Scope]
    org = jp_org()

    for url in (ACCOUNTS, TRANSACTIONS):
        assert ok(finance_client().get(url))["results"]
        assert ok(user_client(officer("KR")).get(url))["results"]
        assert ok(user_client(UserFactory.create(role=Role.ADMIN)).get(url))["results"]
        assert_problem(key_client(org, every_scope).get(url), 403)
        assert_problem(user_client(member_of(org)).get(url), 403)
        assert_problem(user_client(UserFactory.create(role=Role.SCREENING_OFFICER)).get(url), 403)
        assert_problem(user_client(UserFactory.create(role=Role.REVIEWER)).get(url), 403)
        assert_problem(APIClient().get(url), 401)
        assert_problem(finance_client().post(url, {}, format="json"), 405)


def test_ledger_lists_have_constant_queries():
    client = finance_client()
    contribute("JP", 1, 0)
    with CaptureQueriesContext(connection) as small_t:
        ok(client.get(TRANSACTIONS))
    with CaptureQueriesContext(connection) as small_a:
        ok(client.get(ACCOUNTS))
    for n in range(1, 8):
        contribute("KR" if n % 2 else "JP", n, n, to="reserve" if n % 3 else "pool")
    with CaptureQueriesContext(connection) as large_t:
        assert len(ok(client.get(TRANSACTIONS))["results"]) == 8
    with CaptureQueriesContext(connection) as large_a:
        assert len(ok(client.get(ACCOUNTS))["results"]) == 6
    assert len(large_t) == len(small_t)
    assert len(large_a) == len(small_a)
