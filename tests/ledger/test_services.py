"""ledger_post / ledger_reverse / account_get_or_create: what they guarantee."""

from datetime import datetime

import pytest

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, ValidationFailed
from fundapp.ledger.models import Account, Entry, Transaction, TransactionKind
from fundapp.ledger.selectors import account_balance, transaction_legs
from fundapp.ledger.services import (
    InsufficientFunds,
    account_get_or_create,
    ledger_post,
    ledger_reverse,
)

pytestmark = pytest.mark.django_db


def contribute(amount, reference="contribution:1", account="fund:JP:pool"):
    return ledger_post(
        kind=TransactionKind.CONTRIBUTION,
        currency="JPY",
        legs=[("agency:JP", -amount), (account, amount)],
        reference=reference,
    )


def commit(amount, reference="award:1:commit", project=1):
    return ledger_post(
        kind=TransactionKind.AWARD_COMMITMENT,
        currency="JPY",
        legs=[("fund:JP:pool", -amount), (f"project:{project}:JP:committed", amount)],
        reference=reference,
    )


def test_posting_balanced_legs_moves_balances_and_writes_audit():
    txn = contribute(1_000_000)

    assert txn.pk and txn.kind == "contribution" and txn.currency == "JPY"
    assert isinstance(txn.created_at, datetime)
    assert account_balance("agency:JP") == -1_000_000
    assert account_balance("fund:JP:pool") == 1_000_000
    assert transaction_legs(txn) == [("agency:JP", -1_000_000), ("fund:JP:pool", 1_000_000)]
    pool = Account.objects.get(code="fund:JP:pool")
    assert (pool.kind, pool.currency) == ("internal", "JPY")
    assert Account.objects.get(code="agency:JP").kind == "external"
    event = AuditEvent.objects.get(action="ledger.posted")
    assert event.object_type == "ledger.transaction" and event.object_id == str(txn.pk)
    assert event.after is not None
    assert event.after["legs"] == [["agency:JP", -1_000_000], ["fund:JP:pool", 1_000_000]]
    assert event.after["reference"] == "contribution:1"


def test_unbalanced_legs_are_refused_and_nothing_is_saved():
    with pytest.raises(ValidationFailed) as caught:
        ledger_post(
            kind="contribution",
            currency="JPY",
            legs=[("agency:JP", -100), ("fund:JP:pool", 99)],
            reference="contribution:bad",
        )

    assert "legs" in caught.value.errors
    assert not Transaction.objects.exists()
    assert not Account.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "gift"}, "kind"),
        ({"reference": ""}, "reference"),
        ({"reference": "x" * 201}, "reference"),
        ({"currency": "USD"}, "currency"),
        ({"legs": [("agency:JP", -1.5), ("fund:JP:pool", 1.5)]}, "legs"),
        ({"legs": [("agency:JP", -(10**15 + 1)), ("fund:JP:pool", 10**15 + 1)]}, "legs"),
        ({"legs": [("agency:JP", -100), ("fund:US:pool", 100)]}, "legs"),
        ({"kind": "reversal"}, "reverses"),
    ],
)
def test_bad_postings_are_refused(overrides, field):
    arguments = {
        "kind": "contribution",
        "currency": "JPY",
        "legs": [("agency:JP", -100), ("fund:JP:pool", 100)],
        "reference": "contribution:1",
        **overrides,
    }

    with pytest.raises(ValidationFailed) as caught:
        ledger_post(**arguments)

    assert field in caught.value.errors
    assert not Transaction.objects.exists()


def test_an_account_keeps_its_currency():
    contribute(100)

    with pytest.raises(ValidationFailed, match="holds JPY"):
        ledger_post(
            kind="contribution",
            currency="KRW",
            legs=[("agency:KR", -100), ("fund:JP:pool", 100)],
            reference="contribution:krw",
        )
    assert Transaction.objects.count() == 1


def test_legs_on_the_same_account_are_merged():
    contribute(1_000, account="fund:JP:reserve", reference="c:reserve")
    contribute(5_000)
    commit(5_000)

    txn = ledger_post(
        kind="tranche_release",
        currency="JPY",
        legs=[
            ("project:1:JP:committed", -5_000),
            ("org:1:JPY:payable", 5_000),
            ("fund:JP:reserve", -500),
            ("org:1:JPY:payable", 500),
        ],
        reference="tranche:1:release",
    )

    assert sorted(transaction_legs(txn)) == [
        ("fund:JP:reserve", -500),
        ("org:1:JPY:payable", 5_500),
        ("project:1:JP:committed", -5_000),
    ]
    assert account_balance("org:1:JPY:payable") == 5_500


def test_overdraft_of_an_internal_account_is_refused_and_nothing_is_saved():
    contribute(100)
    events = AuditEvent.objects.count()

    with pytest.raises(InsufficientFunds) as caught:
        commit(101)

    assert caught.value.status == 409 and caught.value.code == "insufficient_funds"
    assert "fund:JP:pool" in str(caught.value)
    assert account_balance("fund:JP:pool") == 100
    assert account_balance("project:1:JP:committed") == 0
    assert not Transaction.objects.filter(reference="award:1:commit").exists()
    assert AuditEvent.objects.count() == events


def test_external_accounts_may_go_negative():
    contribute(10**15)
    contribute(10**15, reference="contribution:2")

    assert account_balance("agency:JP") == -2 * 10**15


def test_same_reference_and_legs_return_the_same_transaction():
    first = contribute(100)
    again = ledger_post(
        kind="contribution",
        currency="JPY",
        legs=[("fund:JP:pool", 100), ("agency:JP", -100)],  # order does not matter
        reference="contribution:1",
        memo="a retry",
    )

    assert again.pk == first.pk
    assert Transaction.objects.count() == 1
    assert Entry.objects.count() == 2
    assert account_balance("fund:JP:pool") == 100
    assert AuditEvent.objects.filter(action="ledger.posted").count() == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"legs": [("agency:JP", -101), ("fund:JP:pool", 101)]},
        {"legs": [("agency:JP", -100), ("fund:JP:reserve", 100)]},
        {"kind": "adjustment"},
    ],
)
def test_same_reference_with_another_movement_is_a_conflict(overrides):
    contribute(100)
    arguments = {
        "kind": "contribution",
        "currency": "JPY",
        "legs": [("agency:JP", -100), ("fund:JP:pool", 100)],
        "reference": "contribution:1",
        **overrides,
    }

    with pytest.raises(Conflict) as caught:
        ledger_post(**arguments)

    assert caught.value.status == 409 and "reference" in caught.value.errors
    assert Transaction.objects.count() == 1
    assert account_balance("fund:JP:pool") == 100


def test_reverse_posts_the_opposite_once():
    contribute(1_000)
    committed = commit(400)

    reversal = ledger_reverse(transaction=committed, reference="award:1:commit:reverse", actor=None)

    assert reversal.kind == "reversal" and reversal.reverses_id == committed.pk
    assert sorted(transaction_legs(reversal)) == [
        ("fund:JP:pool", 400),
        ("project:1:JP:committed", -400),
    ]
    assert account_balance("fund:JP:pool") == 1_000
    assert account_balance("project:1:JP:committed") == 0
    # The same reversal again is idempotent; another one is a conflict.
    again = ledger_reverse(transaction=committed, reference="award:1:commit:reverse", actor=None)
    assert again.pk == reversal.pk
    with pytest.raises(Conflict, match="already reversed"):
        ledger_reverse(transaction=committed, reference="award:1:commit:reverse-2", actor=None)
    assert Transaction.objects.filter(reverses=committed).count() == 1


def test_reversal_cannot_take_money_that_has_moved_on():
    contribution = contribute(1_000)
    commit(700)

    with pytest.raises(InsufficientFunds):
        ledger_reverse(transaction=contribution, reference="contribution:1:reverse", actor=None)
    assert account_balance("fund:JP:pool") == 300


def test_account_get_or_create_opens_once_and_keeps_currency():
    account = account_get_or_create("org:3:KRW:payable", "KRW")
    again = account_get_or_create("org:3:KRW:payable", "KRW")

    assert again.pk == account.pk and account.kind == "internal" and account.balance == 0
    with pytest.raises(ValidationFailed):
        account_get_or_create("org:3:KRW:payable", "JPY")
    with pytest.raises(ValidationFailed):
        account_get_or_create("fund:JP:pool:x", "JPY")
    account_get_or_create("fund:KR:pool", "KRW")
    with pytest.raises(ValidationFailed):
        account_get_or_create("fund:KR:pool", "JPY")


def test_database_check_backs_up_the_funds_check(monkeypatch):
    contribute(100)
    # Skip the service's own check: the CHECK constraint on the balance still refuses.
    monkeypatch.setattr("fundapp.ledger.services._check_funds", lambda accounts, legs: None)

    with pytest.raises(InsufficientFunds):
        commit(101)

    assert account_balance("fund:JP:pool") == 100
    assert not Transaction.objects.filter(reference="award:1:commit").exists()
