"""How a person reads the talent exchange's ledger transactions (§9, §15): the describer of
the reference kind ``visit``, registered with the ledger by ``MobilityConfig.ready``."""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.utils.translation import gettext as _

from fundapp.ledger.models import Transaction
from mobility.models import VisitApplication

_VISIT_REFERENCE = re.compile(
    r"visit:(?P<visit>\d+):(?P<what>commitment|travel|return|stipend:(?P<month>\d+))$"
)
_TITLES = ("visit__id", "title_en", "title_ja", "title_ko")


def describe_visit_transactions(transactions: Sequence[Transaction]) -> dict[int, str]:
    """The award's commitment, the travel sum, each month's stipend and the return of the
    rest, naming the visit by its application's title (one query)."""
    matches = {t.pk: m for t in transactions if (m := _VISIT_REFERENCE.match(t.reference or ""))}
    ids = sorted({int(m.group("visit")) for m in matches.values()})
    titles = {
        a.visit.pk: a.title
        for a in VisitApplication.objects.filter(visit__id__in=ids)
        .select_related("visit")
        .only("visit__id", "title_en", "title_ja", "title_ko")
    }
    described: dict[int, str] = {}
    for pk, match in matches.items():
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


# The reference kinds the talent exchange posts (§9), each with its describer.
TRANSACTION_DESCRIBERS = {"visit": describe_visit_transactions}
