"""manage.py check_ledger: silent about a sound ledger, names every breach otherwise."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fundapp.ledger.services import ledger_post, ledger_reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def posted():
    contribution = ledger_post(
        kind="contribution",
        currency="JPY",
        legs=[("agency:JP", -1_000), ("fund:JP:pool", 1_000)],
        reference="contribution:1",
    )
    commitment = ledger_post(
        kind="award_commitment",
        currency="JPY",
        legs=[("fund:JP:pool", -600), ("project:1:JP:committed", 600)],
        reference="award:1:commit",
    )
    return contribution, commitment


ACCOUNT_CHECKS = ("ledger_account_kind_known", "ledger_account_internal_not_negative")


@pytest.fixture
def tamper(owner_cursor):
    """Write as an attacker with table-owner rights would: with the triggers switched off.

    Runs over the owner's own connection, so the test's rows must be committed (these tests
    are transactional) and the tampering is committed too; the flush after the test empties
    the tables, and dropped account checks come back (NOT VALID: the rows left by the test
    break them) so later tests still have them.
    """
    dropped: list[tuple[str, str]] = []

    def tamper(*statements, drop_account_checks=False):
        with owner_cursor() as cursor:
            if drop_account_checks:
                cursor.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = 'ledger_account'::regclass AND conname = ANY(%s)",
                    [list(ACCOUNT_CHECKS)],
                )
                dropped.extend(cursor.fetchall())
                cursor.execute(
                    "ALTER TABLE ledger_account DROP CONSTRAINT ledger_account_kind_known, "
                    "DROP CONSTRAINT ledger_account_internal_not_negative"
                )
            # Foreign keys check at once: ALTER TABLE refuses a table with pending checks.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE ledger_account DISABLE TRIGGER USER")
            cursor.execute("ALTER TABLE ledger_entry DISABLE TRIGGER USER")
            cursor.execute("ALTER TABLE ledger_transaction DISABLE TRIGGER USER")
            for sql, params in statements:
                cursor.execute(sql, params)
            cursor.execute("ALTER TABLE ledger_account ENABLE TRIGGER USER")
            cursor.execute("ALTER TABLE ledger_entry ENABLE TRIGGER USER")
            cursor.execute("ALTER TABLE ledger_transaction ENABLE TRIGGER USER")

    yield tamper
    if dropped:
        with owner_cursor() as cursor:
            for name, definition in dropped:
                cursor.execute(
                    f'ALTER TABLE ledger_account ADD CONSTRAINT "{name}" {definition} NOT VALID'
                )


def test_a_sound_ledger_is_reported_consistent(posted):
    ledger_reverse(transaction=posted[1], reference="award:1:commit:reverse", actor=None)
    out = StringIO()

    call_command("check_ledger", stdout=out)

    assert out.getvalue().strip() == "Ledger is consistent: 3 transactions, 3 accounts."


@pytest.mark.django_db(transaction=True)
def test_a_corrupted_stored_balance_is_named(posted, tamper):
    tamper(("UPDATE ledger_account SET balance = 5 WHERE code = 'fund:JP:pool'", []))

    with pytest.raises(CommandError) as caught:
        call_command("check_ledger", stdout=StringIO())

    message = str(caught.value)
    assert "account fund:JP:pool stores balance 5 but its entries sum to 400" in message
    assert "project:1:JP:committed" not in message


@pytest.mark.django_db(transaction=True)
def test_an_unbalanced_transaction_and_a_negative_internal_account_are_named(posted, tamper):
    contribution, commitment = posted
    tamper(
        (
            "UPDATE ledger_entry SET amount = -1600 WHERE transaction_id = %s AND amount = -600",
            [commitment.pk],
        ),
        ("UPDATE ledger_account SET balance = -600 WHERE code = 'fund:JP:pool'", []),
        drop_account_checks=True,
    )

    with pytest.raises(CommandError) as caught:
        call_command("check_ledger", stdout=StringIO())

    message = str(caught.value)
    assert f"transaction #{commitment.pk} (award:1:commit) does not balance" in message
    assert "internal account fund:JP:pool is below zero" in message
    assert f"transaction #{contribution.pk}" not in message


@pytest.mark.django_db(transaction=True)
def test_mixed_currencies_wrong_kinds_and_bad_reversals_are_named(posted, tamper):
    contribution, commitment = posted
    tamper(
        (
            "UPDATE ledger_entry SET currency = 'KRW' WHERE transaction_id = %s AND amount > 0",
            [contribution.pk],
        ),
        ("UPDATE ledger_account SET kind = 'external' WHERE code = 'fund:JP:pool'", []),
        ("UPDATE ledger_account SET kind = 'bogus' WHERE code = 'agency:JP'", []),
        (
            "UPDATE ledger_transaction SET kind = 'reversal', reverses_id = %s WHERE id = %s",
            [contribution.pk, commitment.pk],
        ),
        drop_account_checks=True,
    )

    with pytest.raises(CommandError) as caught:
        call_command("check_ledger", stdout=StringIO())

    message = str(caught.value)
    assert "entry #" in message and "is in KRW, the transaction in JPY" in message
    assert "account fund:JP:pool is external but its code makes it internal" in message
    assert "account agency:JP has unknown kind 'bogus'" in message
    assert f"reversal #{commitment.pk} (award:1:commit) is not the exact opposite" in message
