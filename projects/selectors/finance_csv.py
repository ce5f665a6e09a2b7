"""The transactions CSV (§9, §15) in the reader's language: translated headers, the same
descriptions and account names as the transactions page, every code explained beside it
(kind, account kind, direction, currency), amounts as whole yen or won.

One row per ledger entry, in id order, read in batches by keyset on the id: each batch is
one query for its entries, one per reference kind for its descriptions and two for its
account names, whatever the number of rows. Used by the streaming download and by the
background export (``projects.services.transaction_exports``).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from fundapp.ledger.descriptions import transaction_descriptions
from fundapp.ledger.models import AccountKind, Currency, Entry, TransactionKind

from .finance import account_labels

TOKYO = ZoneInfo("Asia/Tokyo")
CSV_BATCH = 2000

CSV_INJECTION_LEADS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose ``write`` hands back what it is given (for csv.writer)."""

    def write(self, value: str) -> str:
        return value


def csv_cell(text: str) -> str:
    """Text a spreadsheet would run as a formula is prefixed with an apostrophe."""
    return f"'{text}" if text.startswith(CSV_INJECTION_LEADS) else text


def csv_header() -> list[str]:
    """The column names, in the active language."""
    return [
        _("Transaction"),
        _("Date and time (Japan)"),
        _("Kind"),
        _("Description"),
        _("Reference"),
        _("Account"),
        _("Account code"),
        _("Account kind"),
        pgettext("ledger entry", "Direction"),
        _("Amount"),
        _("Currency"),
        _("Currency name"),
    ]


def _label(choices: type[models.TextChoices], value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _direction(amount: int) -> str:
    return (
        pgettext("ledger entry", "Into the account")
        if amount > 0
        else pgettext("ledger entry", "Out of the account")
    )


def transaction_csv_batches(
    entries: QuerySet[Entry], *, batch: int | None = None
) -> Iterator[tuple[str, int]]:
    """The CSV in pieces, each with the number of entry rows it holds: first a UTF-8 BOM (so
    Excel reads the encoding) and the header, then one piece per batch of entries."""
    size = batch or CSV_BATCH
    writer = csv.writer(_Echo())
    yield codecs.BOM_UTF8.decode("utf-8") + writer.writerow(csv_header()), 0
    last = 0
    while True:
        rows = list(
            entries.filter(id__gt=last)
            .select_related("transaction", "account")
            .order_by("id")[:size]
        )
        if not rows:
            return
        transactions = {entry.transaction_id: entry.transaction for entry in rows}
        descriptions = transaction_descriptions(transactions.values())
        labels = account_labels({entry.account.code for entry in rows})
        lines = []
        for entry in rows:
            txn = entry.transaction
            lines.append(
                writer.writerow(
                    [
                        txn.pk,
                        txn.created_at.astimezone(TOKYO).isoformat(timespec="seconds"),
                        _label(TransactionKind, txn.kind),
                        csv_cell(descriptions.get(txn.pk, txn.memo)),
                        csv_cell(txn.reference),
                        csv_cell(labels.get(entry.account.code, entry.account.code)),
                        csv_cell(entry.account.code),
                        _label(AccountKind, entry.account.kind),
                        _direction(entry.amount),
                        entry.amount,
                        entry.currency,
                        _label(Currency, entry.currency),
                    ]
                )
            )
        last = rows[-1].pk
        yield "".join(lines), len(rows)
        if len(rows) < size:
            return


def transaction_csv_rows(entries: QuerySet[Entry], *, batch: int | None = None) -> Iterator[str]:
    """The CSV as text pieces (for a streaming response)."""
    for text, _count in transaction_csv_batches(entries, batch=batch):
        yield text
