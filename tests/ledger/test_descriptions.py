"""The ledger's registry of transaction describers (issue 10): each reference kind is
described by the domain that posts it, in one batch; a reversal names what it reverses;
anything nobody describes keeps its memo."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from fundapp.ledger.descriptions import (
    transaction_describer_register,
    transaction_describer_unregister,
    transaction_describers,
    transaction_descriptions,
)
from fundapp.ledger.models import Transaction
from fundapp.ledger.services import ledger_post, ledger_reverse

pytestmark = pytest.mark.django_db


def _gift(reference: str, amount: int = 100, memo: str = "Gift from the agency") -> Transaction:
    return ledger_post(
        kind="adjustment",
        currency="JPY",
        legs=[("agency:JP", -amount), ("fund:JP:pool", amount)],
        reference=reference,
        memo=memo,
    )


@pytest.fixture
def gift_describer() -> Iterator[list[int]]:
    """A describer for ``gift:`` references that counts its calls and queries once."""
    calls: list[int] = []

    def describe(transactions: Sequence[Transaction]) -> dict[int, str]:
        calls.append(len(transactions))
        list(Transaction.objects.filter(pk__in=[t.pk for t in transactions]))
        return {t.pk: translation.gettext("Japan") + f" {t.reference}" for t in transactions}

    transaction_describer_register("gift", describe)
    try:
        yield calls
    finally:
        transaction_describer_unregister("gift")


def test_each_domain_registers_its_reference_kinds():
    assert {"project", "tranche", "disbursement", "contribution", "royalty", "licence"} <= set(
        transaction_describers()
    )


def test_a_kind_has_one_describer():
    with pytest.raises(ValueError, match="already has a describer"):
        transaction_describer_register("tranche", lambda transactions: {})


def test_a_kind_is_described_in_one_batch_in_the_readers_language(gift_describer):
    gifts = [_gift(f"gift:{n}") for n in range(3)]
    with translation.override("ja"), CaptureQueriesContext(connection) as queries:
        described = transaction_descriptions(gifts)
    assert described == {g.pk: f"日本 {g.reference}" for g in gifts}
    assert gift_describer == [3]
    assert len(queries) == 1


def test_an_unknown_kind_keeps_its_memo():
    txn = _gift("partner-adjustment-1", memo="Bank fee, March")
    assert transaction_descriptions([txn]) == {txn.pk: "Bank fee, March"}


def test_a_reversal_names_what_it_reverses(gift_describer):
    gift = _gift("gift:9")
    unknown = _gift("manual-7", memo="Manual entry")
    reversal = ledger_reverse(transaction=gift, reference="gift-9-reversal")
    other = ledger_reverse(transaction=unknown, reference="manual-7-reversal")
    with translation.override("ko"):
        described = transaction_descriptions([reversal, other])
    assert described[reversal.pk] == "취소: 일본 gift:9"
    assert described[other.pk] == "취소: Manual entry"
    with translation.override("en"):
        assert transaction_descriptions([reversal])[reversal.pk] == "Reversal of: Japan gift:9"


def test_queries_do_not_grow_with_the_page(gift_describer):
    def count(n: int) -> int:
        rows = [_gift(f"gift:{n}-{k}") for k in range(n)]
        rows += [ledger_reverse(transaction=rows[0], reference=f"gift:{n}-rev")]
        with CaptureQueriesContext(connection) as queries:
            transaction_descriptions(rows)
        return len(queries)

    assert count(2) == count(12) == 2  # the describer's one, the reversed transactions
