"""What the finance pages call each ledger account (§9, §15): in the reader's language, with
the organisation's name and the project's title as the reader reads them."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext as _

from fundapp.accounts.models import Organisation, Side
from fundapp.ledger.rules import AccountCode, parse_account_code
from projects.models import Project


def _side(side: str | None) -> str:
    return str(Side(side).label) if side in Side.values else str(side or "")


def _label(parsed: AccountCode, organisations: dict[int, str], projects: dict[int, str]) -> str:
    owner = parsed.owner_id or 0
    values = {
        "side": _side(parsed.side),
        "currency": parsed.currency or "",
        "organisation": organisations.get(owner, f"#{owner}"),
        "project": projects.get(owner, f"#{owner}"),
    }
    if parsed.family == "agency":
        return _("Funding agency, %(side)s") % values
    if parsed.family == "fund_pool":
        return _("Fund pool, %(side)s") % values
    if parsed.family == "fund_reserve":
        return _("Performance reserve, %(side)s") % values
    if parsed.family == "project_committed":
        return _("“%(project)s”: committed budget, %(side)s") % values
    if parsed.family == "org_payable":
        return _("%(organisation)s: payable (%(currency)s)") % values
    if parsed.family == "org_paid":
        return _("%(organisation)s: paid (%(currency)s)") % values
    if parsed.family == "licensee":
        return _("%(organisation)s: royalties paid in (%(currency)s)") % values
    return parsed.code


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
