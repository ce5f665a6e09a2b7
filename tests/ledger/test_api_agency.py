"""An agency's system reads its side's ledger with ``ledger:read`` (§14), nothing more."""

from __future__ import annotations

import pytest

from fundapp.accounts.models import Organisation
from fundapp.ledger.services import ledger_post
from tests.factories import jp_org, kr_org
from tests.factories.projects_api import assert_problem, key_client, ok

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/ledger/accounts/"
TRANSACTIONS = "/api/v1/ledger/transactions/"


def _contribute(side: str, amount: int, n: int) -> int:
    currency = "JPY" if side == "JP" else "KRW"
    return ledger_post(
        kind="contribution",
        currency=currency,
        legs=[(f"agency:{side}", -amount), (f"fund:{side}:pool", amount)],
        reference=f"test:agency:{side}:{n}",
    ).pk


def _agency(side: str) -> Organisation:
    make = jp_org if side == "JP" else kr_org
    return make(kind=Organisation.Kind.AGENCY)


def test_an_agency_key_with_ledger_read_reads_its_sides_accounts_and_transactions():
    jp_txn, kr_txn = _contribute("JP", 1_000, 1), _contribute("KR", 9_000, 2)
    client = key_client(_agency("KR"), ["ledger:read"])

    accounts = ok(client.get(ACCOUNTS))["results"]
    transactions = ok(client.get(TRANSACTIONS))["results"]

    assert {a["code"] for a in accounts} == {"agency:KR", "fund:KR:pool"}
    assert {a["currency"] for a in accounts} == {"KRW"}
    assert [t["id"] for t in transactions] == [kr_txn]
    assert ok(client.get(f"{TRANSACTIONS}{kr_txn}/"))["id"] == kr_txn
    # The other side's rows do not exist for it.
    assert_problem(client.get(f"{TRANSACTIONS}{jp_txn}/"), 404)
    assert_problem(client.get(f"{ACCOUNTS}fund:JP:pool/"), 404)


@pytest.mark.parametrize(
    ("kind", "scopes"),
    [
        (Organisation.Kind.AGENCY, ["projects:read", "payments:write"]),
        (Organisation.Kind.UNIVERSITY, ["ledger:read"]),
    ],
    ids=["agency without the scope", "university with the scope"],
)
def test_other_keys_may_not_read_the_ledger(kind, scopes):
    _contribute("JP", 1_000, 1)
    client = key_client(jp_org(kind=kind), scopes)

    for url in (ACCOUNTS, TRANSACTIONS):
        assert_problem(client.get(url), 403)
