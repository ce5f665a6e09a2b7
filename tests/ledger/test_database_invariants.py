"""The database itself refuses what the services would refuse: raw SQL cannot break §9."""

from contextlib import contextmanager

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from fundapp.ledger.models import Account, Entry, Transaction
from fundapp.ledger.selectors import account_balance, ledger_verify
from fundapp.ledger.services import ledger_post


@contextmanager
def atomic_sql():
    """A cursor inside one atomic block: its statements commit together or not at all."""
    with transaction.atomic(), connection.cursor() as cursor:
        yield cursor


def fund_pool(amount, reference="contribution:1"):
    return ledger_post(
        kind="contribution",
        currency="JPY",
        legs=[("agency:JP", -amount), ("fund:JP:pool", amount)],
        reference=reference,
    )


def account_id(code):
    return Account.objects.get(code=code).pk


def raw_transaction(cursor, reference, currency="JPY", kind="adjustment"):
    cursor.execute(
        "INSERT INTO ledger_transaction (kind, currency, reference, memo) "
        "VALUES (%s, %s, %s, '') RETURNING id",
        [kind, currency, reference],
    )
    return cursor.fetchone()[0]


def raw_entry(cursor, transaction_id, code, amount, currency="JPY"):
    cursor.execute(
        "INSERT INTO ledger_entry (transaction_id, account_id, currency, amount) "
        "VALUES (%s, %s, %s, %s)",
        [transaction_id, account_id(code), currency, amount],
    )


@pytest.mark.django_db(transaction=True)
def test_commit_of_an_unbalanced_transaction_fails():
    fund_pool(1_000)

    with pytest.raises(IntegrityError, match="does not balance"), atomic_sql() as cursor:
        txn = raw_transaction(cursor, "raw:unbalanced")
        raw_entry(cursor, txn, "fund:JP:pool", -100)
        raw_entry(cursor, txn, "agency:JP", 50)

    assert not Transaction.objects.filter(reference="raw:unbalanced").exists()
    assert account_balance("fund:JP:pool") == 1_000
    assert ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_commit_of_a_transaction_without_entries_fails():
    with pytest.raises(IntegrityError, match="has no entries"), atomic_sql() as cursor:
        raw_transaction(cursor, "raw:empty")

    assert not Transaction.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_balanced_raw_sql_commits_and_keeps_the_stored_balance_right():
    fund_pool(1_000)

    with atomic_sql() as cursor:
        txn = raw_transaction(cursor, "raw:balanced")
        raw_entry(cursor, txn, "fund:JP:pool", -300)
        raw_entry(cursor, txn, "agency:JP", 300)

    assert account_balance("fund:JP:pool") == 700
    assert account_balance("agency:JP") == -700
    assert ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_entries_cannot_join_a_transaction_posted_earlier():
    txn = fund_pool(1_000)

    # Balanced, so only the "closed transaction" rule can refuse it.
    with pytest.raises(IntegrityError, match="is closed"), atomic_sql() as cursor:
        raw_entry(cursor, txn.pk, "fund:JP:pool", -10)

    assert Entry.objects.filter(transaction=txn).count() == 2


@pytest.mark.django_db
def test_unbalanced_entries_fail_as_soon_as_constraints_are_checked():
    fund_pool(1_000)

    with pytest.raises(IntegrityError, match="does not balance"), atomic_sql() as cursor:
        txn = raw_transaction(cursor, "raw:unbalanced")
        raw_entry(cursor, txn, "fund:JP:pool", -100)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db
def test_mixed_currencies_are_refused():
    fund_pool(1_000)
    ledger_post(
        kind="contribution",
        currency="KRW",
        legs=[("agency:KR", -5_000), ("fund:KR:pool", 5_000)],
        reference="contribution:kr",
    )

    # An entry in KRW on a JPY transaction.
    with pytest.raises(IntegrityError, match="does not match"), atomic_sql() as cursor:
        txn = raw_transaction(cursor, "raw:mixed-1")
        raw_entry(cursor, txn, "fund:JP:pool", -100, currency="KRW")
    # A JPY entry on a KRW account.
    with pytest.raises(IntegrityError, match="does not match"), atomic_sql() as cursor:
        txn = raw_transaction(cursor, "raw:mixed-2")
        raw_entry(cursor, txn, "fund:KR:pool", -100, currency="JPY")
    assert account_balance("fund:KR:pool") == 5_000


@pytest.mark.django_db
def test_entries_and_transactions_cannot_be_updated_or_deleted():
    txn = fund_pool(1_000)
    entry = Entry.objects.filter(transaction=txn).first()
    assert entry is not None

    for sql, pk in (
        ("UPDATE ledger_entry SET amount = 5 WHERE id = %s", entry.pk),
        ("DELETE FROM ledger_entry WHERE id = %s", entry.pk),
        ("UPDATE ledger_transaction SET memo = 'tampered' WHERE id = %s", txn.pk),
        ("DELETE FROM ledger_transaction WHERE id = %s", txn.pk),
    ):
        with (
            pytest.raises(DatabaseError, match="Cannot update or delete"),
            atomic_sql() as cursor,
        ):
            cursor.execute(sql, [pk])
    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        Entry.objects.filter(pk=entry.pk).update(amount=5)

    assert Entry.objects.get(pk=entry.pk).amount == entry.amount
    assert Transaction.objects.get(pk=txn.pk).memo == ""


@pytest.mark.django_db
def test_accounts_keep_identity_and_balances_move_only_by_entries():
    fund_pool(1_000)
    pool = Account.objects.get(code="fund:JP:pool")

    with pytest.raises(IntegrityError, match="changes only by posting"), transaction.atomic():
        Account.objects.filter(pk=pool.pk).update(balance=5_000)
    with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
        Account.objects.filter(pk=pool.pk).update(kind="external")
    with pytest.raises(DatabaseError, match="Cannot delete"), atomic_sql() as cursor:
        cursor.execute("DELETE FROM ledger_account WHERE id = %s", [pool.pk])
    with pytest.raises(IntegrityError, match="open with balance 0"), transaction.atomic():
        Account.objects.create(code="fund:KR:pool", currency="KRW", kind="internal", balance=9)
    # The name is only a label and may change.
    Account.objects.filter(pk=pool.pk).update(name="Pool")
    assert account_balance("fund:JP:pool") == 1_000


@pytest.mark.django_db
def test_database_refuses_an_overdraft_of_an_internal_account():
    fund_pool(100)

    with (
        pytest.raises(IntegrityError, match="ledger_account_internal_not_negative"),
        atomic_sql() as cursor,
    ):
        txn = raw_transaction(cursor, "raw:overdraft")
        raw_entry(cursor, txn, "agency:JP", 500)
        raw_entry(cursor, txn, "fund:JP:pool", -500)

    assert account_balance("fund:JP:pool") == 100


@pytest.mark.django_db
def test_database_refuses_a_reused_reference_and_a_second_reversal():
    txn = fund_pool(100)

    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        raw_transaction(cursor, "contribution:1")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transaction (kind, currency, reference, memo, reverses_id) "
            "VALUES ('reversal', 'JPY', 'raw:rev-1', '', %s)",
            [txn.pk],
        )
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute(
                "INSERT INTO ledger_transaction (kind, currency, reference, memo, reverses_id) "
                "VALUES ('reversal', 'JPY', 'raw:rev-2', '', %s)",
                [txn.pk],
            )
        transaction.set_rollback(True)
    # A reversal must name what it reverses, and nothing else may.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        raw_transaction(cursor, "raw:rev-3", kind="reversal")
