"""What the finance pages say of the ledger transactions this domain posts (§9, §10.5): a
royalty (``royalty:{report id}``), its correction, and a licence's upfront fee
(``licence:{id}:upfront``), in the reader's language with the licensee's name and the
licensed assets' titles as the reader reads them. Registered with the ledger by
``IpLicensingConfig.ready``; each describer reads its whole batch in two queries."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from django.utils.translation import gettext as _

from fundapp.ledger.models import Transaction
from ip_licensing.models import Licence, LicenceAsset, RoyaltyAudit, RoyaltyReport

# Assets named in a description; a licence of more reads "…, and 2 more".
ASSETS_NAMED = 2

_ROYALTY_REFERENCE = re.compile(r"royalty:(?P<report>\d+)")
_UPFRONT_REFERENCE = re.compile(r"licence:(?P<licence>\d+):upfront")
_QUARTER = re.compile(r"(?P<year>\d{4})-Q(?P<quarter>[1-4])")


def quarter_label(quarter: str) -> str:
    """``2026-Q3`` as the reader writes it."""
    match = _QUARTER.fullmatch(quarter or "")
    if match is None:
        return quarter
    return _("%(year)s Q%(quarter)s") % {
        "year": match.group("year"),
        "quarter": match.group("quarter"),
    }


def _asset_titles(licence_ids: Iterable[int]) -> dict[int, str]:
    """Each licence's assets, titled in the reader's language (one query)."""
    titles: dict[int, list[str]] = {}
    links = (
        LicenceAsset.objects.filter(licence_id__in=sorted(set(licence_ids)))
        .select_related("asset")
        .only("licence_id", "asset__title_en", "asset__title_ja", "asset__title_ko")
        .order_by("licence_id", "asset_id")
    )
    for link in links:
        titles.setdefault(link.licence_id, []).append(link.asset.title)
    named: dict[int, str] = {}
    for licence_id, names in titles.items():
        text = ", ".join(f"“{name}”" for name in names[:ASSETS_NAMED])
        if len(names) > ASSETS_NAMED:
            text = _("%(assets)s and %(n)d more") % {
                "assets": text,
                "n": len(names) - ASSETS_NAMED,
            }
        named[licence_id] = text
    return named


def _licence_values(licence: Licence, assets: dict[int, str]) -> dict[str, str]:
    return {
        "licensee": licence.licensee.name,
        "licence": licence.reference,
        "assets": assets.get(licence.pk, "—"),
    }


def describe_royalty_transactions(transactions: Sequence[Transaction]) -> dict[int, str]:
    """A royalty report's posting, or its correction's (two queries)."""
    matches = {
        t.pk: int(m.group("report"))
        for t in transactions
        if (m := _ROYALTY_REFERENCE.fullmatch(t.reference or "")) is not None
    }
    reports = {
        r.pk: r
        for r in RoyaltyReport.objects.filter(pk__in=sorted(set(matches.values())))
        .select_related("licence__licensee")
        .only(
            "pk",
            "quarter",
            "supersedes_id",
            "licence__reference",
            "licence__licensee__name_en",
            "licence__licensee__name_ja",
            "licence__licensee__name_ko",
        )
    }
    assets = _asset_titles(r.licence_id for r in reports.values())
    described: dict[int, str] = {}
    for pk, report_id in matches.items():
        report = reports.get(report_id)
        if report is None:
            continue
        values = {
            **_licence_values(report.licence, assets),
            "quarter": quarter_label(report.quarter),
        }
        described[pk] = (
            _(
                "Royalty correction for %(quarter)s from %(licensee)s, licence %(licence)s (%(assets)s)"
            )
            if report.supersedes_id is not None
            else _("Royalty for %(quarter)s from %(licensee)s, licence %(licence)s (%(assets)s)")
        ) % values
    return described


def describe_licence_transactions(transactions: Sequence[Transaction]) -> dict[int, str]:
    """A licence's upfront fee (two queries)."""
    matches = {
        t.pk: int(m.group("licence"))
        for t in transactions
        if (m := _UPFRONT_REFERENCE.fullmatch(t.reference or "")) is not None
    }
    licences = {
        licence.pk: licence
        for licence in Licence.objects.filter(pk__in=sorted(set(matches.values())))
        .select_related("licensee")
        .only("pk", "reference", "licensee__name_en", "licensee__name_ja", "licensee__name_ko")
    }
    assets = _asset_titles(licences)
    described: dict[int, str] = {}
    for pk, licence_id in matches.items():
        licence = licences.get(licence_id)
        if licence is not None:
            described[pk] = _(
                "Upfront fee from %(licensee)s, licence %(licence)s (%(assets)s)"
            ) % _licence_values(licence, assets)
    return described


_INTEREST_REFERENCE = re.compile(r"royalty-interest:(?P<report>\d+)")
_AUDIT_REFERENCE = re.compile(r"royalty-audit:(?P<audit>\d+)")


def describe_interest_transactions(transactions: Sequence[Transaction]) -> dict[int, str]:
    """Late interest posted with a royalty report (two queries)."""
    matches = {
        t.pk: int(m.group("report"))
        for t in transactions
        if (m := _INTEREST_REFERENCE.fullmatch(t.reference or "")) is not None
    }
    reports = {
        r.pk: r
        for r in RoyaltyReport.objects.filter(pk__in=sorted(set(matches.values())))
        .select_related("licence__licensee")
        .only(
            "pk",
            "quarter",
            "late_days",
            "licence__reference",
            "licence__licensee__name_en",
            "licence__licensee__name_ja",
            "licence__licensee__name_ko",
        )
    }
    assets = _asset_titles(r.licence_id for r in reports.values())
    described: dict[int, str] = {}
    for pk, report_id in matches.items():
        report = reports.get(report_id)
        if report is not None:
            described[pk] = _(
                "Late interest (%(days)d days) on the royalty for %(quarter)s from "
                "%(licensee)s, licence %(licence)s (%(assets)s)"
            ) % {
                **_licence_values(report.licence, assets),
                "quarter": quarter_label(report.quarter),
                "days": report.late_days,
            }
    return described


def describe_audit_transactions(transactions: Sequence[Transaction]) -> dict[int, str]:
    """A royalty audit's correction (two queries)."""
    matches = {
        t.pk: int(m.group("audit"))
        for t in transactions
        if (m := _AUDIT_REFERENCE.fullmatch(t.reference or "")) is not None
    }
    audits = {
        a.pk: a
        for a in RoyaltyAudit.objects.filter(pk__in=sorted(set(matches.values())))
        .select_related("licence__licensee")
        .only(
            "pk",
            "quarter",
            "licence__reference",
            "licence__licensee__name_en",
            "licence__licensee__name_ja",
            "licence__licensee__name_ko",
        )
    }
    assets = _asset_titles(a.licence_id for a in audits.values())
    described: dict[int, str] = {}
    for pk, audit_id in matches.items():
        audit = audits.get(audit_id)
        if audit is not None:
            described[pk] = _(
                "Royalty audit correction for %(quarter)s from %(licensee)s, licence "
                "%(licence)s (%(assets)s)"
            ) % {**_licence_values(audit.licence, assets), "quarter": quarter_label(audit.quarter)}
    return described


# The reference kinds this domain posts, with their describers.
TRANSACTION_DESCRIBERS = {
    "royalty": describe_royalty_transactions,
    "licence": describe_licence_transactions,
    "royalty-interest": describe_interest_transactions,
    "royalty-audit": describe_audit_transactions,
}
