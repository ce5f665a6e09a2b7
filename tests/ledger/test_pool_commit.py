"""ledger_pool_commit: a side's pool to a committed account, or 409 pool_insufficient."""

import pytest

from fundapp.errors import Conflict
from fundapp.ledger.models import TransactionKind
from fundapp.ledger.selectors import account_balance, transaction_legs
from fundapp.ledger.services import ledger_pool_commit, ledger_post

pytestmark = pytest.mark.django_db

REFUSAL = "The %(side)s pool holds %(held)s; this would commit %(needed)s."


def contribute(amount):
    ledger_post(
        kind=TransactionKind.CONTRIBUTION,
        currency="JPY",
        legs=[("agency:JP", -amount), ("fund:JP:pool", amount)],
        reference="contribution:1",
    )


def commit(total, reference="project:7:JP:commit"):
    return ledger_pool_commit(
        side="JP",
        currency="JPY",
        total=total,
        committed_account="project:7:JP:committed",
        reference=reference,
        memo="Award of project 7",
        refusal=REFUSAL,
    )


def test_a_covered_sum_moves_from_the_pool_to_the_committed_account():
    # given a pool of 1,000,000 yen
    contribute(1_000_000)

    # when 600,000 is committed
    posted = commit(600_000)

    # then it is one award commitment from the pool to the committed account
    assert posted.kind == TransactionKind.AWARD_COMMITMENT
    assert posted.reference == "project:7:JP:commit"
    assert transaction_legs(posted) == [
        ("fund:JP:pool", -600_000),
        ("project:7:JP:committed", 600_000),
    ]
    assert account_balance("fund:JP:pool") == 400_000


def test_a_sum_the_pool_cannot_cover_answers_409_with_the_callers_sentence():
    # given a pool of 100 yen
    contribute(100)

    # when 101 yen would be committed
    with pytest.raises(Conflict) as refused:
        commit(101)

    # then the refusal names the pool, what it holds and what was asked, on the budget field
    assert refused.value.code == "pool_insufficient"
    message = str(refused.value)
    assert message.startswith("The JP pool holds ") and "this would commit" in message
    assert refused.value.errors == {"budget": [message]}
    assert account_balance("fund:JP:pool") == 100
    assert account_balance("project:7:JP:committed") == 0
