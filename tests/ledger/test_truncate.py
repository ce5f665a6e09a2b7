"""TRUNCATE is refused on the ledger tables: by privilege to the app, by trigger to the owner."""

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from fundapp.ledger.models import Account, Entry
from fundapp.ledger.models import Transaction as LedgerTransaction
from fundapp.ledger.services import ledger_post

pytestmark = pytest.mark.django_db(transaction=True)

TABLES = ["ledger_account", "ledger_transaction", "ledger_entry"]


@pytest.fixture
def posted():
    return ledger_post(
        kind="contribution",
        currency="JPY",
        legs=[("agency:JP", -1_000), ("fund:JP:pool", 1_000)],
        reference="contribution:1",
    )


def counts():
    return Account.objects.count(), LedgerTransaction.objects.count(), Entry.objects.count()


@pytest.mark.parametrize("table", TABLES)
def test_the_application_role_may_not_truncate(posted, table):
    with (
        pytest.raises(DatabaseError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"TRUNCATE {table} CASCADE")

    assert counts() == (2, 1, 2)


@pytest.mark.parametrize("table", TABLES)
def test_the_owner_is_refused_by_the_trigger(posted, owner_cursor, table):
    # CASCADE empties the referencing ledger tables too: each one's trigger refuses.
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="TRUNCATE is refused"),
        owner_cursor() as cursor,
    ):
        cursor.execute(f"TRUNCATE {table} CASCADE")

    assert counts() == (2, 1, 2)
