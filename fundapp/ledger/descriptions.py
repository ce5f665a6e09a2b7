"""What a person reads for each ledger transaction (§9, §15): a sentence in the reader's
language, from the transaction's reference.

The ledger knows nothing of projects or licences, so each domain registers, from its
``AppConfig.ready``, a *describer* for the reference kinds it posts (the reference's first
part: ``tranche`` for ``tranche:12:release``, ``royalty`` for ``royalty:7``). A describer
is a batch function: given the transactions of one page (or one batch of an export) it
answers a sentence per transaction it can describe, in the active language, in a fixed
number of queries whatever the number of transactions.

``transaction_descriptions`` asks each kind's describer once, so a page costs at most one
describer's queries per kind present, plus one query for the transactions reversals
reverse. A reversal reads "Reversal of …" naming what it reverses. A transaction nobody
describes (an unknown kind, or a describer that found nothing) keeps the memo it was
posted with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from django.utils.translation import gettext as _

from .models import Transaction, TransactionKind

Describer = Callable[[Sequence[Transaction]], Mapping[int, str]]

_describers: dict[str, Describer] = {}


def reference_kind(reference: str) -> str:
    """The kind of a reference: its part before the first colon (``tranche``)."""
    return (reference or "").split(":", 1)[0]


def transaction_describer_register(kind: str, describer: Describer) -> None:
    """Register the describer of a reference kind. Registering another one for the same
    kind is a programming error (two domains would be posting one kind)."""
    existing = _describers.get(kind)
    if existing is not None and existing is not describer:
        raise ValueError(f"reference kind {kind!r} already has a describer")
    _describers[kind] = describer


def transaction_describer_unregister(kind: str) -> None:
    _describers.pop(kind, None)


def transaction_describers() -> dict[str, Describer]:
    """The registered describers, by reference kind."""
    return dict(_describers)


def _describe(rows: Sequence[Transaction]) -> dict[int, str]:
    by_kind: dict[str, list[Transaction]] = {}
    for txn in rows:
        by_kind.setdefault(reference_kind(txn.reference), []).append(txn)
    described: dict[int, str] = {}
    for kind in sorted(by_kind):
        describer = _describers.get(kind)
        if describer is not None:
            described.update({pk: text for pk, text in describer(by_kind[kind]).items() if text})
    return described


def transaction_descriptions(transactions: Iterable[Transaction]) -> dict[int, str]:
    """Each transaction's description for the reader, by id, in the active language.

    Reversals name what they reverse ("Reversal of: …", the reversed transaction described
    the same way, one more query for those); anything no describer answers for keeps its
    memo. Queries: one describer's fixed number per reference kind on the page.
    """
    rows = list(transactions)
    reversals = [t for t in rows if t.kind == TransactionKind.REVERSAL and t.reverses_id]
    plain = [t for t in rows if t not in reversals]
    reversed_rows: list[Transaction] = []
    if reversals:
        wanted = sorted({t.reverses_id for t in reversals if t.reverses_id is not None})
        reversed_rows = list(Transaction.objects.filter(pk__in=wanted))
    described = _describe(plain + [t for t in reversed_rows if t.pk not in {p.pk for p in plain}])
    memo_of = {t.pk: t.memo for t in [*rows, *reversed_rows]}
    result: dict[int, str] = {}
    for txn in rows:
        if txn in reversals:
            target = txn.reverses_id
            what = described.get(target or 0) or memo_of.get(target or 0) or f"#{target}"
            result[txn.pk] = _("Reversal of: %(what)s") % {"what": what}
        else:
            result[txn.pk] = described.get(txn.pk) or txn.memo
    return result


__all__ = [
    "Describer",
    "reference_kind",
    "transaction_describer_register",
    "transaction_describer_unregister",
    "transaction_describers",
    "transaction_descriptions",
]
