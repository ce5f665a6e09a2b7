"""Every sequence of money movements keeps the §9 invariants (Hypothesis, real PostgreSQL).

A plain-Python model of the balances predicts which postings must be refused for want of
funds; after each sequence the stored balances equal the model and check_ledger is clean.
"""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fundapp.errors import Conflict
from fundapp.ledger import rules
from fundapp.ledger.models import Transaction
from fundapp.ledger.selectors import account_balances, transaction_legs
from fundapp.ledger.services import InsufficientFunds, ledger_post, ledger_reverse

pytestmark = pytest.mark.django_db

amounts = st.integers(min_value=1, max_value=1_000)
projects = st.sampled_from([1, 2])
orgs = st.sampled_from([1, 2])

operations = st.one_of(
    st.tuples(st.just("contribute"), st.sampled_from(["pool", "reserve"]), amounts),
    st.tuples(st.just("commit"), projects, amounts),
    st.tuples(st.just("release"), projects, orgs, amounts, st.integers(0, 200)),
    st.tuples(st.just("pay"), orgs, amounts),
    st.tuples(st.just("terminate"), projects, amounts),
    st.tuples(st.just("contribute_krw"), amounts),
    st.tuples(st.just("reverse"), st.integers(0, 40)),
    st.tuples(st.just("replay"), st.integers(0, 40)),
)


def legs_for(operation):
    """(kind, currency, legs) of one generated operation (not reverse / replay)."""
    name, *args = operation
    if name == "contribute":
        target, amount = args
        return "contribution", "JPY", [("agency:JP", -amount), (f"fund:JP:{target}", amount)]
    if name == "contribute_krw":
        (amount,) = args
        return "contribution", "KRW", [("agency:KR", -amount), ("fund:KR:pool", amount)]
    if name == "commit":
        project, amount = args
        return (
            "award_commitment",
            "JPY",
            [("fund:JP:pool", -amount), (f"project:{project}:JP:committed", amount)],
        )
    if name == "release":
        project, org, amount, bonus = args
        legs = [(f"project:{project}:JP:committed", -amount), (f"org:{org}:JPY:payable", amount)]
        if bonus:
            legs += [("fund:JP:reserve", -bonus), (f"org:{org}:JPY:payable", bonus)]
        return "tranche_release", "JPY", legs
    if name == "pay":
        org, amount = args
        return (
            "payment_confirmation",
            "JPY",
            [(f"org:{org}:JPY:payable", -amount), (f"org:{org}:JPY:paid", amount)],
        )
    if name == "terminate":
        project, amount = args
        return (
            "termination",
            "JPY",
            [(f"project:{project}:JP:committed", -amount), ("fund:JP:pool", amount)],
        )
    raise AssertionError(name)


class Model:
    def __init__(self):
        self.balances: dict[str, int] = {}

    def affordable(self, legs):
        moved: dict[str, int] = {}
        for code, amount in legs:
            moved[code] = moved.get(code, 0) + amount
        return all(
            rules.account_kind(code) == rules.EXTERNAL or self.balances.get(code, 0) + delta >= 0
            for code, delta in moved.items()
        )

    def apply(self, legs):
        for code, amount in legs:
            self.balances[code] = self.balances.get(code, 0) + amount


def run(sequence):
    model = Model()
    posted: list[tuple[Transaction, str, str, list[tuple[str, int]]]] = []
    reversed_ids = set()
    for step, operation in enumerate(sequence):
        reference = f"step:{step}"
        if operation[0] == "replay":
            if not posted:
                continue
            txn, kind, currency, legs = posted[operation[1] % len(posted)]
            if kind == "reversal":
                continue
            again = ledger_post(kind=kind, currency=currency, legs=legs, reference=txn.reference)
            assert again.pk == txn.pk
            continue
        if operation[0] == "reverse":
            if not posted:
                continue
            txn, _kind, currency, legs = posted[operation[1] % len(posted)]
            opposite = [(code, -amount) for code, amount in transaction_legs(txn)]
            if txn.pk in reversed_ids:
                with pytest.raises(Conflict):
                    ledger_reverse(transaction=txn, reference=reference, actor=None)
                continue
            if not model.affordable(opposite):
                with pytest.raises(InsufficientFunds):
                    ledger_reverse(transaction=txn, reference=reference, actor=None)
                continue
            reversal = ledger_reverse(transaction=txn, reference=reference, actor=None)
            reversed_ids.add(txn.pk)
            model.apply(opposite)
            posted.append((reversal, "reversal", currency, opposite))
            continue
        kind, currency, legs = legs_for(operation)
        if not model.affordable(legs):
            with pytest.raises(InsufficientFunds):
                ledger_post(kind=kind, currency=currency, legs=legs, reference=reference)
            continue
        txn = ledger_post(kind=kind, currency=currency, legs=legs, reference=reference)
        model.apply(legs)
        posted.append((txn, kind, currency, legs))
    return model


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(operations, max_size=25))
def test_every_sequence_of_movements_keeps_the_ledger_consistent(sequence):
    with transaction.atomic():
        model = run(sequence)

        stored = account_balances()
        assert {code: stored.get(code, 0) for code in model.balances} == model.balances
        assert all(
            balance >= 0
            for code, balance in stored.items()
            if rules.account_kind(code) == rules.INTERNAL
        )
        out = StringIO()
        call_command("check_ledger", stdout=out)
        assert out.getvalue().startswith("Ledger is consistent")
        transaction.set_rollback(True)
