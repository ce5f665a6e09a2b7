"""Demo talent exchange (§25, §20): one mobility call and four visits at different points.

- Daejeon → Tokyo (KR → JP), in progress: arrived 40 days ago, the travel sum and two
  monthly stipends paid by the JP side to the Tokyo host;
- Boston → Busan (US → KR): an endorsed application waiting for screening (a US
  organisation is involved, §11);
- Sapporo → Boston (JP → US): awarded, not yet arrived (the JP side pays Sapporo);
- Tokyo → Busan (JP → KR): two months, departed and closed with the visitor's report.

The award of a visit application is not part of this demo's services yet: the demo writes
what an award writes (the visit, and the commitment ``visit:{id}:commitment`` from the
paying side's pool); everything after it goes through the visit services. Idempotent: a
visit that exists (by its application's title) is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fundapp.accounts.models import Organisation, User
from fundapp.kernel.calendar import today_in_tokyo
from fundapp.kernel.models import ResearchArea
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import TransactionKind
from fundapp.ledger.services import ledger_post
from fundapp.screening.services import screening_case_open
from mobility.models import ApplicationState, MobilityTerms, Visit, VisitApplication
from mobility.rules import add_months, paying_side
from mobility.services.stipends import stipends_release
from mobility.services.visits import (
    visit_confirm_arrival,
    visit_confirm_departure,
    visit_final_report_submit,
)
from projects.models import Call, CallKind, Fund
from projects.services import calls as call_services

if TYPE_CHECKING:
    from .seed import SeedReport

CALL_TITLE = "Japan–US–Korea researcher exchange 2027"


@dataclass(frozen=True)
class VisitSpec:
    title_en: str
    title_ja: str
    title_ko: str
    visitor: str
    home: str
    host: str
    months: int
    state: str  # endorsed, awarded, active, closed
    arrived_days_ago: int = 0


VISITS = (
    VisitSpec(
        "Cryogenic probe measurements in Tokyo",
        "東京での極低温プローブ測定",
        "도쿄 극저온 프로브 측정",
        "pi_daejeon",
        "KR-DJN-01",
        "JP-TKY-01",
        6,
        "active",
        arrived_days_ago=40,
    ),
    VisitSpec(
        "Trapped-ion links at Busan",
        "釜山でのイオントラップ結合",
        "부산 이온 트랩 연결 연구",
        "",
        "US-BOS-01",
        "KR-PUS-01",
        4,
        "endorsed",
    ),
    VisitSpec(
        "Quantum key distribution field trial in Boston",
        "ボストンでの量子鍵配送実地試験",
        "보스턴 양자 키 분배 현장 시험",
        "pi_sapporo",
        "JP-SPR-01",
        "US-BOS-01",
        3,
        "awarded",
    ),
    VisitSpec(
        "Edge-AI accelerator bring-up in Busan",
        "釜山でのエッジAIアクセラレータ立ち上げ",
        "부산 엣지 AI 가속기 구동",
        "pi_tokyo",
        "JP-TKY-01",
        "KR-PUS-01",
        2,
        "closed",
        arrived_days_ago=75,
    ),
)


def _call(
    fund: Fund, area: ResearchArea, officer: User, now: datetime, criteria: list[Any]
) -> Call:
    call = Call.objects.filter(fund=fund, title_en=CALL_TITLE).first()
    if call is None:
        call = call_services.call_create(
            actor=officer,
            fund=fund,
            data=call_services.CallData(
                title_en=CALL_TITLE,
                title_ja="日米韓研究者交流 2027",
                title_ko="한미일 연구자 교류 2027",
                description_en="Visits of 1–12 months between Japan, Korea and the US.",
                description_ja="日本・韓国・米国の間の1〜12か月の研究訪問。",
                description_ko="한국·일본·미국 간 1~12개월의 연구 방문.",
                research_areas=[area],
                opens_at=now - timedelta(days=30),
                closes_at=now + timedelta(days=60),
                max_budget_jpy=10_000_000,
                max_budget_krw=100_000_000,
                max_project_months=12,
                criteria=criteria,
            ),
        )
        call = call_services.call_open(actor=officer, call=call, now=now)
        Call.objects.filter(pk=call.pk).update(kind=CallKind.MOBILITY)
        call.kind = CallKind.MOBILITY
        MobilityTerms.objects.create(
            call=call,
            stipend_month_jpy=300_000,
            stipend_month_krw=3_000_000,
            travel_jpy=200_000,
            travel_krw=2_000_000,
        )
    return call


def _visitor(spec: VisitSpec, users: dict[str, User], home: Organisation) -> User:
    if spec.visitor:
        return users[spec.visitor]
    user, _created = User.objects.get_or_create(
        username="visitor_boston",
        defaults={"first_name": "Avery", "last_name": "Chen", "preferred_language": "en"},
    )
    if _created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.memberships.create(organisation=home)
    return user


def _award(application: VisitApplication) -> Visit:
    """What the award writes (§25): the visit and the commitment from the pool."""
    home, host = application.home_organisation, application.host_organisation
    rule = paying_side(home.country, host.country)
    terms = application.call.mobility_terms
    assert application.months is not None and application.planned_start is not None
    visit = Visit.objects.create(
        application=application,
        paying_side=rule.side,
        currency=rule.currency,
        payee=host if rule.payee_is_host else home,
        stipend_month_amount=terms.stipend_month(rule.currency),
        travel_amount=terms.travel(rule.currency),
        months=application.months,
        planned_start=application.planned_start,
    )
    amount = visit.committed_amount
    ledger_post(
        kind=TransactionKind.AWARD_COMMITMENT,
        currency=visit.currency,
        legs=[
            (ledger_rules.account_code_fund_pool(visit.paying_side), -amount),
            (ledger_rules.account_code_visit_committed(visit.pk, visit.paying_side), amount),
        ],
        reference=f"visit:{visit.pk}:commitment",
        memo=f"Visit {visit.pk}, award commitment",
    )
    return visit


def seed_mobility(
    report: SeedReport,
    *,
    fund: Fund,
    area: ResearchArea,
    users: dict[str, User],
    orgs: dict[str, Organisation],
    now: datetime,
    criteria: list[Any],
) -> None:
    """The mobility call (reviewed on the demo's criteria) and its four visits (see the
    module docstring)."""
    call = _call(fund, area, users["officer_jp"], now, criteria)
    today = today_in_tokyo()
    officer = users["officer_kr"]
    for spec in VISITS:
        existing = VisitApplication.objects.filter(call=call, title_en=spec.title_en).first()
        report.made("visit applications", existing is None)
        if existing is not None:
            continue
        home, host = orgs[spec.home], orgs[spec.host]
        visitor = _visitor(spec, users, home)
        arrival = today - timedelta(days=spec.arrived_days_ago)
        submitted = spec.state != "draft"
        application = VisitApplication.objects.create(
            call=call,
            visitor=visitor,
            created_by=visitor,
            home_organisation=home,
            host_organisation=host,
            research_area=area,
            planned_start=arrival if spec.arrived_days_ago else today + timedelta(days=45),
            months=spec.months,
            title_en=spec.title_en,
            title_ja=spec.title_ja,
            title_ko=spec.title_ko,
            plan_en="Joint measurements with the host's group; a seminar at the end.",
            host_supervisor_name="Host supervisor",
            host_supervisor_email=f"supervisor@{host.code.lower()}.example",
            effort_percent=80,
            state=ApplicationState.ENDORSED if spec.state == "endorsed" else "awarded",
            submitted_at=now - timedelta(days=90) if submitted else None,
            endorsed_at=now - timedelta(days=85),
            endorsed_by_user=officer,
        )
        if spec.state == "endorsed":
            screening_case_open(
                subject_type="visit_application",
                subject_id=application.pk,
                subject_label=spec.title_en,
                reasons=[{"code": "partner_outside_jp_kr", "detail": home.code}],
                parties=[
                    {"organisation_id": o.pk, "name": o.name_en, "country": o.country}
                    for o in (home, host)
                ],
                actor=officer,
            )
            continue
        visit = _award(application)
        if spec.state == "awarded":
            continue
        visit = visit_confirm_arrival(visit=visit, actor=officer, arrived_on=arrival)
        if spec.state == "active":
            stipends_release(today=today, visit_ids=[visit.pk])
            continue
        last_day = min(add_months(arrival, spec.months) - timedelta(days=1), today)
        visit = visit_confirm_departure(visit=visit, actor=officer, ended_on=last_day)
        visit_final_report_submit(
            visit=visit,
            actor=visitor,
            report={
                "en": "The accelerator runs on the host's boards; the joint paper is in review.",
                "ja": "受入機関のボードでアクセラレータが動作し、共著論文を投稿中です。",
            },
        )


def demo_visit_dates(today: date) -> dict[str, date]:
    """The arrival days the demo uses, for the tests."""
    return {s.title_en: today - timedelta(days=s.arrived_days_ago) for s in VISITS}
