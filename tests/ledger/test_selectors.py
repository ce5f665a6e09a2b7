"""Reading the ledger: balances by code and prefix, statements, totals per kind."""

import pytest

from fundapp.ledger.selectors import (
    account_balance,
    account_balances,
    account_statement,
    balance_total,
    totals_by_kind,
    transaction_get_by_reference,
)
from fundapp.ledger.services import ledger_post

pytestmark = pytest.mark.django_db


def post(kind, legs, reference, currency="JPY"):
    return ledger_post(kind=kind, currency=currency, legs=legs, reference=reference)


@pytest.fixture
def ledger():
    post("contribution", [("agency:JP", -1_000), ("fund:JP:pool", 1_000)], "c:1")
    post("contribution", [("agency:JP", -500), ("fund:JP:pool", 500)], "c:2")
    post("award_commitment", [("fund:JP:pool", -700), ("project:1:JP:committed", 700)], "a:1")
    post("award_commitment", [("fund:JP:pool", -200), ("project:12:JP:committed", 200)], "a:12")
    post("contribution", [("agency:KR", -9_000), ("fund:KR:pool", 9_000)], "c:kr", "KRW")


def test_balances_by_code_and_prefix(ledger):
    assert account_balance("fund:JP:pool") == 600
    assert account_balance("fund:JP:reserve") == 0  # never used
    assert account_balances(prefix="project:1:") == {"project:1:JP:committed": 700}
    assert account_balances(prefix="fund:") == {"fund:JP:pool": 600, "fund:KR:pool": 9_000}
    assert account_balances(prefix="fund:", currency="KRW") == {"fund:KR:pool": 9_000}
    assert balance_total(prefix="project:", currency="JPY") == 900


def test_statement_has_running_balances_and_pages_by_cursor(ledger):
    lines = account_statement("fund:JP:pool")

    assert [(line.reference, line.amount, line.balance) for line in lines] == [
        ("c:1", 1_000, 1_000),
        ("c:2", 500, 1_500),
        ("a:1", -700, 800),
        ("a:12", -200, 600),
    ]
    first_page = account_statement("fund:JP:pool", limit=2)
    second_page = account_statement("fund:JP:pool", after_id=first_page[-1].entry_id, limit=2)
    assert first_page + second_page == lines
    assert account_statement("fund:JP:pool", after_id=lines[-1].entry_id) == []
    assert account_statement("no:such") == []


def test_totals_per_kind(ledger):
    assert totals_by_kind(currency="JPY") == {"award_commitment": 900, "contribution": 1_500}
    assert totals_by_kind() == {"award_commitment": 900, "contribution": 10_500}
    found = transaction_get_by_reference("a:1")
    assert found is not None and found.kind == "award_commitment"
    assert transaction_get_by_reference("missing") is None
