"""Demo data of multi-asset licences and royalty integrity (§20, §23): a licence of two
assets from two projects (each asset's part of a royalty split by its own project's
table), quarterly reports of which one quarter is missing (overdue, by the daily job) and
the latest is flagged (net sales far below the trailing mean), and a closed royalty audit
whose finding posted a correction with interest. Made through the services, once."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fundapp.accounts.models import Organisation, User
from ip_licensing.models import (
    Exclusivity,
    IPAsset,
    Licence,
    LicenceState,
    ReturnAllocationEntry,
    RoyaltyAudit,
)
from ip_licensing.rules import format_quarter
from ip_licensing.services import licences as licence_services
from ip_licensing.services import royalties as royalty_services
from ip_licensing.services.assets import asset_register
from ip_licensing.services.audits import royalty_audit_close, royalty_audit_open
from ip_licensing.services.royalty_integrity import royalty_overdue_run

OWNER = "JP-TKY-01"
LICENSEE = "KR-PUS-01"
SECOND_RESULT = {
    "title_en": "Thermal-aware placement tool for compute-in-memory tiles",
    "title_ja": "コンピュートインメモリ・タイル向け熱考慮配置ツール",
    "title_ko": "컴퓨트 인 메모리 타일용 열 인지 배치 도구",
}
SHARES = (6000, 4000)  # the edge-AI macro, then the second project's tool
NET_SALES = 20_000_000  # each reported quarter but the latest
LOW_NET_SALES = 6_000_000  # the latest: less than half the trailing mean, flagged
AUDIT_FINDING = 300_000  # underpaid in the audited quarter
AUDIT_NOTE = "Sales to a Busan subsidiary were left out of the report; invoices checked."


def _quarter_back(today: date, back: int) -> str:
    """The quarter ``back`` quarters before the current one (1: the last one ended)."""
    year, number = today.year, (today.month - 1) // 3 + 1
    for _step in range(back):
        number -= 1
        if number == 0:
            year, number = year - 1, 4
    return format_quarter(year, number)


def seed_royalty_integrity(
    report: Any, *, users: dict[str, User], first_asset: IPAsset, today: date
) -> None:
    owner = Organisation.objects.get(code=OWNER)
    if first_asset.project_id is None:
        return
    licensee = Organisation.objects.get(code=LICENSEE)
    table_row = (
        ReturnAllocationEntry.objects.filter(organisation=owner)
        .exclude(project_id=first_asset.project_id)
        .order_by("project_id")
        .first()
    )
    if table_row is None:
        return  # no second project of the owner with a return-allocation table
    second = IPAsset.objects.filter(title_en=SECOND_RESULT["title_en"], owner=owner).first()
    report.made("IP assets of a two-asset licence", second is None)
    if second is None:
        second = asset_register(
            actor=users["office_tokyo"],
            data={
                "kind": "software",
                **SECOND_RESULT,
                "owner": OWNER,
                "project": table_row.project_id,
                "inventors": ["田中 花子"],
                "research_area": "semiconductor.ai",
            },
        )
    licence = Licence.objects.filter(assets=second, licensee=licensee).order_by("pk").first()
    report.made("multi-asset licences", licence is None)
    if licence is not None:
        return
    start = today - timedelta(days=500)
    licence = licence_services.licence_create(
        actor=users["office_tokyo"],
        data={
            "assets": [first_asset.pk, second.pk],
            "asset_shares": list(SHARES),
            "licensee": LICENSEE,
            "fields_of_use": ["semiconductor.ai"],
            "purposes": ["development", "manufacturing", "sale"],
            "territories": ["KR"],
            "start_on": start.isoformat(),
            "end_on": (start + timedelta(days=3 * 365)).isoformat(),
            "exclusivity": Exclusivity.NON_EXCLUSIVE,
            "royalty_rate": "0.04",
            "minimum_annual_royalty": 0,
            "upfront_fee": 0,
            "currency": "JPY",
        },
    )
    licence_services.licence_accept(licence=licence, actor=users["office_tokyo"])
    licence = licence_services.licence_accept(licence=licence, actor=users["office_busan"])
    licence = licence_services.licence_approve(licence=licence, actor=users["officer_jp"])
    licence = licence_services.licence_approve(licence=licence, actor=users["officer_kr"])
    if licence.state != LicenceState.ACTIVE:
        raise RuntimeError(f"demo licence {licence.reference} is {licence.state}, not active")
    office = users["office_busan"]
    # Three quarters reported in full, the one after them missing, the latest low.
    for back in (5, 4, 3):
        royalty_services.royalty_report_submit(
            licence=licence, actor=office, quarter=_quarter_back(today, back), net_sales=NET_SALES
        )
        report.created["royalty reports (two assets)"] += 1
    royalty_services.royalty_report_submit(
        licence=licence, actor=office, quarter=_quarter_back(today, 1), net_sales=LOW_NET_SALES
    )
    report.created["royalty reports (two assets)"] += 1
    overdue = royalty_overdue_run(today=today)
    report.created["overdue royalty reports"] += len(overdue["45"])
    audited = _quarter_back(today, 4)
    audit = royalty_audit_open(
        licence=licence,
        actor=users["officer_jp"],
        quarter=audited,
        scope="Invoices and shipping records of the quarter.",
    )
    royalty_audit_close(
        audit=audit, actor=users["officer_kr"], finding_amount=AUDIT_FINDING, note=AUDIT_NOTE
    )
    report.created["royalty audits"] += RoyaltyAudit.objects.filter(licence=licence).count()
    report.notes.append(
        f"Licence {licence.reference} of two assets ({OWNER} → {LICENSEE}): "
        f"{_quarter_back(today, 2)} overdue, {_quarter_back(today, 1)} flagged, "
        f"{audited} audited"
    )
