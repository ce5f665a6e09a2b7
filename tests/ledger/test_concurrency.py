"""Real threads against real PostgreSQL: a movement is posted at most once, never overdrawn."""

import pytest

from fundapp.errors import Conflict
from fundapp.ledger.models import Account, Transaction
from fundapp.ledger.selectors import account_balance, account_balances, ledger_verify
from fundapp.ledger.services import InsufficientFunds, ledger_post
from tests.concurrency import run_at_once as _run_at_once

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def run_at_once(work):
    return _run_at_once(work, threads=THREADS)


def test_same_reference_posted_by_eight_threads_exists_once():
    # The accounts do not exist yet: the threads also race to open them.
    def post(_index):
        return ledger_post(
            kind="contribution",
            currency="JPY",
            legs=[("agency:JP", -1_000), ("fund:JP:pool", 1_000)],
            reference="contribution:race",
        ).pk

    results, errors = run_at_once(post)

    assert errors == [None] * THREADS
    assert len(set(results)) == 1
    assert Transaction.objects.filter(reference="contribution:race").count() == 1
    assert Account.objects.count() == 2
    assert account_balance("fund:JP:pool") == 1_000
    assert ledger_verify().ok


def test_eight_withdrawals_of_sixty_from_a_hundred_only_one_succeeds():
    ledger_post(
        kind="contribution",
        currency="JPY",
        legs=[("agency:JP", -100), ("fund:JP:pool", 100)],
        reference="contribution:1",
    )

    def withdraw(index):
        return ledger_post(
            kind="award_commitment",
            currency="JPY",
            legs=[("fund:JP:pool", -60), (f"project:{index + 1}:JP:committed", 60)],
            reference=f"award:{index + 1}:commit",
        ).pk

    results, errors = run_at_once(withdraw)

    succeeded = [r for r in results if r is not None]
    assert len(succeeded) == 1
    assert sum(isinstance(e, InsufficientFunds) for e in errors) == THREADS - 1
    assert account_balance("fund:JP:pool") == 40
    assert ledger_verify().ok


def test_same_reference_with_different_legs_at_once_posts_one_and_refuses_the_rest():
    # Disjoint accounts: no account lock orders the threads, only the unique reference.
    def post(index):
        return ledger_post(
            kind="royalty",
            currency="JPY",
            legs=[(f"licensee:{index + 1}:JPY", -100), (f"org:{index + 1}:JPY:payable", 100)],
            reference="royalty:race",
        ).pk

    results, errors = run_at_once(post)

    assert len([r for r in results if r is not None]) == 1
    assert sum(isinstance(e, Conflict) for e in errors) == THREADS - 1
    assert Transaction.objects.filter(reference="royalty:race").count() == 1
    assert sum(account_balances(prefix="org:").values()) == 100
    assert ledger_verify().ok
