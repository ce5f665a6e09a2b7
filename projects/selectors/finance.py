"""What the finance pages call each ledger account (§9, §15): in the reader's language, with
the organisation's name and the project's title as the reader reads them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fundapp.accounts.models import Organisation, Role, Side, User
from fundapp.actors import is_fund_officer
from fundapp.ledger.models import Entry, Transaction
from fundapp.ledger.rules import SIDE_CURRENCY, AccountCode, parse_account_code
from projects.models import Amendment, Disbursement, Project, Tranche

TOKYO = ZoneInfo("Asia/Tokyo")
CURRENCIES = ("JPY", "KRW")


def finance_currencies(user: User) -> tuple[str, ...]:
    """The currencies a person may see on the finance pages; empty: none (404).

    Fund officers see both; a finance officer sees their side's currency only.
    """
    if is_fund_officer(user):
        return CURRENCIES
    if user.is_active and user.role == Role.FINANCE_OFFICER and user.side in SIDE_CURRENCY:
        return (SIDE_CURRENCY[user.side],)
    return ()


def _tokyo_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=TOKYO)


def transaction_filter(data: Mapping[str, Any], currencies: tuple[str, ...]) -> Q:
    """The filter on transactions of the finance pages: kind, currency and Asia/Tokyo days
    (both ends included), within the currencies the reader may see."""
    query = Q(currency__in=currencies)
    if data.get("kind"):
        query &= Q(kind=data["kind"])
    if data.get("currency"):
        query &= Q(currency=data["currency"])
    if data.get("date_from"):
        query &= Q(created_at__gte=_tokyo_start(data["date_from"]))
    if data.get("date_to"):
        query &= Q(created_at__lt=_tokyo_start(data["date_to"] + timedelta(days=1)))
    return query


def transaction_entries(data: Mapping[str, Any], currencies: tuple[str, ...]) -> QuerySet[Entry]:
    """The entries of the filtered transactions (one row each in the CSV)."""
    # The same filter, seen from the entry: every condition is on its transaction.
    return Entry.objects.filter(
        transaction__in=Transaction.objects.filter(transaction_filter(data, currencies)).values(
            "id"
        ),
        currency__in=currencies,
    )


def _side(side: str | None) -> str:
    return str(Side(side).label) if side in Side.values else str(side or "")


# Each §9 account family's name; the values are filled in by ``_label``.
_FAMILY_LABELS = {
    "agency": gettext_lazy("Funding agency, %(side)s"),
    "fund_pool": gettext_lazy("Fund pool, %(side)s"),
    "fund_reserve": gettext_lazy("Performance reserve, %(side)s"),
    "project_committed": gettext_lazy("“%(project)s”: committed budget, %(side)s"),
    # A talent-exchange visit (§25); named by its number, the ledger pages know no visits.
    "visit_committed": gettext_lazy("Visit #%(owner)s: committed, %(side)s"),
    "org_payable": gettext_lazy("%(organisation)s: payable (%(currency)s)"),
    "org_paid": gettext_lazy("%(organisation)s: paid (%(currency)s)"),
    "licensee": gettext_lazy("%(organisation)s: royalties paid in (%(currency)s)"),
}


def _label(parsed: AccountCode, organisations: dict[int, str], projects: dict[int, str]) -> str:
    owner = parsed.owner_id or 0
    values = {
        "side": _side(parsed.side),
        "currency": parsed.currency or "",
        "organisation": organisations.get(owner, f"#{owner}"),
        "project": projects.get(owner, f"#{owner}"),
        "owner": owner,
    }
    message = _FAMILY_LABELS.get(parsed.family)
    return str(message) % values if message is not None else parsed.code


def account_labels(codes: Iterable[str]) -> dict[str, str]:
    """Each account's name for the reader, by code, in the active language: two queries
    whatever the number of accounts (the organisations, the projects). A code that is not
    one of the §9 families keeps its code."""
    wanted = set(codes)
    parsed: dict[str, AccountCode] = {}
    for code in wanted:
        try:
            parsed[code] = parse_account_code(code)
        except ValueError:
            continue
    organisation_ids = {
        p.owner_id
        for p in parsed.values()
        if p.owner_id and p.family in ("org_payable", "org_paid", "licensee")
    }
    project_ids = {
        p.owner_id for p in parsed.values() if p.owner_id and p.family == "project_committed"
    }
    organisations = {
        o.pk: o.name
        for o in Organisation.objects.filter(pk__in=sorted(organisation_ids)).only(
            "pk", "name_en", "name_ja", "name_ko"
        )
    }
    projects = {
        p.pk: p.title
        for p in Project.objects.filter(pk__in=sorted(project_ids)).only(
            "pk", "title_en", "title_ja", "title_ko"
        )
    }
    labels = {code: _label(p, organisations, projects) for code, p in parsed.items()}
    return {code: labels.get(code, code) for code in wanted}


_PROJECT_REFERENCE = re.compile(
    r"project:(?P<project>\d+):(?P<side>[A-Z]{2}):(?P<action>commit|terminate)"
)
_TRANCHE_REFERENCE = re.compile(r"tranche:(?P<tranche>\d+):release")
_DISBURSEMENT_REFERENCE = re.compile(r"disbursement:(?P<disbursement>\d+):confirm")


def _matches(
    pattern: re.Pattern[str], transactions: Sequence[Transaction], group: str
) -> tuple[dict[int, re.Match[str]], list[int]]:
    matches = {
        t.pk: match
        for t in transactions
        if (match := pattern.fullmatch(t.reference or "")) is not None
    }
    return matches, sorted({int(m.group(group)) for m in matches.values()})


def describe_project_transactions(transactions: Sequence[Transaction]) -> dict[int, str]:
    """An award's commitment and a termination, with the project's title (one query)."""
    matches, ids = _matches(_PROJECT_REFERENCE, transactions, "project")
    titles = {
        p.pk: p.title
        for p in Project.objects.filter(pk__in=ids).only("pk", "title_en", "title_ja", "title_ko")
    }
    described: dict[int, str] = {}
    for pk, match in matches.items():
        title = titles.get(int(match.group("project")))
        if not title:
            continue
        values = {"project": title, "side": _side(match.group("side"))}
        described[pk] = (
            _("Award of “%(project)s”: budget committed, %(side)s")
            if match.group("action") == "commit"
            else _("Termination of “%(project)s”: budget returned, %(side)s")
        ) % values
    return described


def describe_tranche_transactions(transactions: Sequence[Transaction]) -> dict[int, str]:
    """A tranche's release, with the project's title and the stage (one query)."""
    matches, ids = _matches(_TRANCHE_REFERENCE, transactions, "tranche")
    tranches = {
        t.pk: t
        for t in Tranche.objects.filter(pk__in=ids)
        .select_related("project", "stage")
        .only(
            "pk",
            "side",
            "stage__number",
            "project__title_en",
            "project__title_ja",
            "project__title_ko",
        )
    }
    described: dict[int, str] = {}
    for pk, match in matches.items():
        tranche = tranches.get(int(match.group("tranche")))
        if tranche is not None:
            described[pk] = _("“%(project)s”, stage %(stage)d: tranche released, %(side)s") % {
                "project": tranche.project.title,
                "stage": tranche.stage.number,
                "side": _side(tranche.side),
            }
    return described


def describe_disbursement_transactions(transactions: Sequence[Transaction]) -> dict[int, str]:
    """A confirmed payment, with the organisation's name (one query)."""
    matches, ids = _matches(_DISBURSEMENT_REFERENCE, transactions, "disbursement")
    payees = {
        d.pk: d.organisation.name
        for d in Disbursement.objects.filter(pk__in=ids)
        .select_related("organisation")
        .only("pk", "organisation__name_en", "organisation__name_ja", "organisation__name_ko")
    }
    described: dict[int, str] = {}
    for pk, match in matches.items():
        organisation = payees.get(int(match.group("disbursement")))
        if organisation:
            described[pk] = _("Payment to %(organisation)s confirmed") % {
                "organisation": organisation
            }
    return described


def describe_contribution_transactions(transactions: Sequence[Transaction]) -> dict[int, str]:
    """A side's agency contributing to the pool or the reserve, read from the account the
    money went into (one query for the transactions' entries)."""
    ids = [t.pk for t in transactions if t.reference.startswith("contribution:")]
    targets = {
        txn_id: parse_account_code(code)
        for txn_id, code in Entry.objects.filter(transaction_id__in=ids, amount__gt=0)
        .order_by("id")
        .values_list("transaction_id", "account__code")
    }
    described: dict[int, str] = {}
    for txn_id, target in targets.items():
        if target.family == "fund_pool":
            described[txn_id] = _("Contribution of the %(side)s agency to the fund pool") % {
                "side": _side(target.side)
            }
        elif target.family == "fund_reserve":
            described[txn_id] = _(
                "Contribution of the %(side)s agency to the performance reserve"
            ) % {"side": _side(target.side)}
    return described


_AMENDMENT_REFERENCE = re.compile(r"amendment:(?P<amendment>\d+):(?P<side>[A-Z]{2}):recommit")


def describe_amendment_transactions(transactions: Sequence[Transaction]) -> dict[int, str]:
    """An amendment's re-commitment (§24), with the project's title and the plan version it
    made (one query)."""
    matches, ids = _matches(_AMENDMENT_REFERENCE, transactions, "amendment")
    amendments = {
        a.pk: a
        for a in Amendment.objects.filter(pk__in=ids)
        .select_related("project")
        .only(
            "pk",
            "plan_version",
            "project__title_en",
            "project__title_ja",
            "project__title_ko",
        )
    }
    described: dict[int, str] = {}
    for pk, match in matches.items():
        amendment = amendments.get(int(match.group("amendment")))
        if amendment is not None:
            described[pk] = _(
                "Amendment of “%(project)s” (plan version %(version)s): budget re-committed, "
                "%(side)s"
            ) % {
                "project": amendment.project.title,
                "version": amendment.plan_version,
                "side": _side(match.group("side")),
            }
    return described


# The reference kinds the projects domain posts (§9), each with its describer; registered
# with the ledger by ``ProjectsConfig.ready``.
TRANSACTION_DESCRIBERS = {
    "project": describe_project_transactions,
    "tranche": describe_tranche_transactions,
    "disbursement": describe_disbursement_transactions,
    "contribution": describe_contribution_transactions,
    "amendment": describe_amendment_transactions,
}
