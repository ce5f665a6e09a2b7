"""What the finance pages say of the ledger transactions of visits (§9, §25): the award's
commitment (``visit:{id}:commitment``), the travel sum (``visit:{id}:travel``), a month's
stipend (``visit:{id}:stipend:{month}``) and the return of the rest
(``visit:{id}:return``), in the reader's language with the visit's title. Registered with
the ledger by ``MobilityConfig.ready``; the describer reads its whole batch in one query."""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.utils.translation import gettext as _

from fundapp.ledger.models import Transaction
from mobility.models import Visit

_REFERENCE = re.compile(
    r"visit:(?P<visit>\d+):(?P<what>commitment|travel|stipend:(?P<month>\d+)|return)"
)


def describe_visits(transactions: Sequence[Transaction]) -> dict[int, str]:
    """A sentence per visit transaction, by transaction id (one query for the batch)."""
    matched = {
        txn.pk: match
        for txn in transactions
        if (match := _REFERENCE.fullmatch(txn.reference or "")) is not None
    }
    ids = sorted({int(m.group("visit")) for m in matched.values()})
    titles = {
        v.pk: v.application.title or f"#{v.pk}"
        for v in Visit.objects.filter(pk__in=ids)
        .select_related("application")
        .only("pk", "application__title_en", "application__title_ja", "application__title_ko")
    }
    described: dict[int, str] = {}
    for pk, match in matched.items():
        title = titles.get(int(match.group("visit")))
        if title is None:
            continue
        what = match.group("what")
        if what == "commitment":
            text = _("Visit “%(title)s”: stipends and travel committed")
        elif what == "travel":
            text = _("Visit “%(title)s”: travel lump sum released")
        elif what == "return":
            text = _("Visit “%(title)s”: unreleased rest returned to the pool")
        else:
            text = _("Visit “%(title)s”: stipend of month %(month)s released")
        described[pk] = text % {"title": title, "month": match.group("month")}
    return described


TRANSACTION_DESCRIBERS = {"visit": describe_visits}
