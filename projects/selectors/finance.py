"""What the finance pages call each ledger account (§9, §15): in the reader's language, with
the organisation's name and the project's title as the reader reads them."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fundapp.accounts.models import Organisation, Side
from fundapp.ledger.models import Transaction
from fundapp.ledger.rules import AccountCode, parse_account_code
from projects.models import Disbursement, Project, Tranche


def _side(side: str | None) -> str:
    return str(Side(side).label) if side in Side.values else str(side or "")


# Each §9 account family's name; the values are filled in by ``_label``.
_FAMILY_LABELS = {
    "agency": gettext_lazy("Funding agency, %(side)s"),
    "fund_pool": gettext_lazy("Fund pool, %(side)s"),
    "fund_reserve": gettext_lazy("Performance reserve, %(side)s"),
    "project_committed": gettext_lazy("“%(project)s”: committed budget, %(side)s"),
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


_REFERENCE = re.compile(
    r"(?:project:(?P<project>\d+):(?P<side>[A-Z]{2}):(?P<action>commit|terminate)"
    r"|tranche:(?P<tranche>\d+):release"
    r"|disbursement:(?P<disbursement>\d+):confirm)"
)


def transaction_descriptions(transactions: Iterable[Transaction]) -> dict[int, str]:
    """Each transaction's description for the reader, by id, in the active language, from
    its reference (an award's commitment, a termination, a tranche's release, a confirmed
    payment) with the project's title and the organisation's name as the reader reads
    them; any other keeps the memo it was posted with. Three queries at most, whatever the
    number of transactions."""
    rows = list(transactions)
    matches = {t.pk: _REFERENCE.fullmatch(t.reference or "") for t in rows}
    wanted: dict[str, set[int]] = {"project": set(), "tranche": set(), "disbursement": set()}
    for match in matches.values():
        if match is None:
            continue
        for group in wanted:
            if match.group(group):
                wanted[group].add(int(match.group(group)))
    tranches = {
        t.pk: t
        for t in Tranche.objects.filter(pk__in=sorted(wanted["tranche"]))
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
    projects = {
        p.pk: p.title
        for p in Project.objects.filter(pk__in=sorted(wanted["project"])).only(
            "pk", "title_en", "title_ja", "title_ko"
        )
    }
    payments = {
        d.pk: d.organisation.name
        for d in Disbursement.objects.filter(pk__in=sorted(wanted["disbursement"]))
        .select_related("organisation")
        .only("pk", "organisation__name_en", "organisation__name_ja", "organisation__name_ko")
    }
    described: dict[int, str] = {}
    for t in rows:
        match = matches[t.pk]
        text = ""
        if match is not None and match.group("project"):
            values = {
                "project": projects.get(int(match.group("project")), ""),
                "side": _side(match.group("side")),
            }
            if values["project"]:
                text = (
                    _("Award of “%(project)s”: budget committed, %(side)s")
                    if match.group("action") == "commit"
                    else _("Termination of “%(project)s”: budget returned, %(side)s")
                ) % values
        elif match is not None and match.group("tranche"):
            tranche = tranches.get(int(match.group("tranche")))
            if tranche is not None:
                text = _("“%(project)s”, stage %(stage)d: tranche released, %(side)s") % {
                    "project": tranche.project.title,
                    "stage": tranche.stage.number,
                    "side": _side(tranche.side),
                }
        elif match is not None and match.group("disbursement"):
            organisation = payments.get(int(match.group("disbursement")))
            if organisation:
                text = _("Payment to %(organisation)s confirmed") % {"organisation": organisation}
        described[t.pk] = text or t.memo
    return described
