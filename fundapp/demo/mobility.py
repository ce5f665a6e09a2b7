"""Demo talent exchange (§25, §20): one mobility call and four visits at different points.

- Daejeon → Tokyo (KR → JP), in progress: arrived 40 days ago, the travel sum and two
  monthly stipends paid by the JP side to the Tokyo host;
- Boston → Busan (US → KR): an endorsed application waiting for screening (a US
  organisation is involved, §11);
- Sapporo → Boston (JP → US): awarded, not yet arrived (the JP side pays Sapporo);
- Tokyo → Busan (JP → KR): two months, departed and closed with the visitor's report.

Every step goes through the services production uses, so the rows, the ledger
commitments, the audit events and the outbox are the ones a real visit leaves: the
visitor's wizard (``application_create``, ``application_update``, ``application_submit``),
the host office's endorsement, the review (opened by an officer, which opens the
screening case where §11 asks for one; a reviewer declares no conflict and scores), the
screening officer's clearance where required, the award approved by a JP and a KR fund
officer (``visit_award_approve``), then arrival, the daily stipend job on the days it would
have run, departure and the final report. Idempotent: a visit application that exists
(by its title) is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fundapp.accounts.models import Organisation, Role, User
from fundapp.kernel.calendar import today_in_tokyo
from fundapp.kernel.models import ResearchArea
from fundapp.screening.selectors import live_case
from fundapp.screening.services import screening_case_decide
from mobility.models import ApplicationState, VisitApplication
from mobility.rules import add_months
from mobility.services.applications import (
    application_create,
    application_submit,
    application_update,
)
from mobility.services.awards import visit_award_approve
from mobility.services.calls import MobilityTermsData, mobility_call_create
from mobility.services.endorsements import application_endorse
from mobility.services.reviews import (
    application_assignment_declare,
    application_review_submit,
    application_reviewer_assign,
    application_start_review,
)
from mobility.services.screening import SCREENING_SUBJECT, application_screening_open
from mobility.services.stipends import stipends_release
from mobility.services.visits import (
    visit_confirm_arrival,
    visit_confirm_departure,
    visit_final_report_submit,
)
from projects.models import Call, Fund, Recommendation, ReviewCriterion
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
        "visitor_boston",
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


# Who the services need beside the published demo people: the Boston visitor and the
# research office of the Boston host (not demo logins; their passwords are unusable).
BOSTON_PEOPLE = (
    ("visitor_boston", "Avery Chen", False),
    ("office_boston", "Jordan Lee", True),
)
BOSTON = "US-BOS-01"

# The wizard's later steps, the same for every demo visit but its dates and titles.
PLAN = "Joint measurements with the host's group; a seminar at the end."
EFFORT_PERCENT = 20
REVIEW_SCORES = (5, 4, 4)


def _call(
    fund: Fund, area: ResearchArea, officer: User, now: datetime, criteria: list[Any]
) -> Call:
    """The open mobility call (``mobility_call_create``, ``call_open``). It opened long
    enough ago for the visits under way to have applied to it."""
    call = Call.objects.filter(fund=fund, title_en=CALL_TITLE).first()
    if call is None:
        call = mobility_call_create(
            actor=officer,
            fund=fund,
            call=call_services.CallData(
                title_en=CALL_TITLE,
                title_ja="日米韓研究者交流 2027",
                title_ko="한미일 연구자 교류 2027",
                description_en="Visits of 1–12 months between Japan, Korea and the US.",
                description_ja="日本・韓国・米国の間の1〜12か月の研究訪問。",
                description_ko="한국·일본·미국 간 1~12개월의 연구 방문.",
                research_areas=[area],
                opens_at=now - timedelta(days=120),
                closes_at=now + timedelta(days=60),
                max_budget_jpy=0,
                max_budget_krw=0,
                max_project_months=12,
                criteria=criteria,
            ),
            terms=MobilityTermsData(
                stipend_month_jpy=300_000,
                stipend_month_krw=3_000_000,
                travel_jpy=200_000,
                travel_krw=2_000_000,
            ),
        )
        call = call_services.call_open(actor=officer, call=call, now=now)
    return call


def _boston_people(orgs: dict[str, Organisation]) -> dict[str, User]:
    """The Boston visitor and office, made as every demo person is (audited)."""
    from .seed import PersonSpec, _create_user

    people: dict[str, User] = {}
    for username, name, office in BOSTON_PEOPLE:
        user = User.objects.filter(username=username).first()
        if user is None:
            spec = PersonSpec(
                username,
                name,
                Role.RESEARCHER,
                "en",
                organisation=BOSTON,
                research_office=office,
            )
            user = _create_user(spec, orgs, with_logins=False)
        people[username] = user
    return people


def _host_office(host: Organisation, people: dict[str, User]) -> User:
    """The demo person who is the host organisation's research office (one query)."""
    office = (
        User.objects.filter(
            pk__in=[user.pk for user in people.values()],
            memberships__organisation=host,
            memberships__research_office=True,
        )
        .order_by("pk")
        .first()
    )
    if office is None:
        raise LookupError(f"no research office person of {host.code} in the demo")
    return office


def _apply(
    call: Call,
    spec: VisitSpec,
    *,
    visitor: User,
    home: Organisation,
    host: Organisation,
    area: ResearchArea,
    planned_start: date,
    submitted_at: datetime,
) -> VisitApplication:
    """The visitor's wizard, step by step, and the submission on ``submitted_at``."""
    application = application_create(
        actor=visitor,
        call=call,
        data={"home_organisation": home.pk, "host_organisation": host.pk},
    )
    application = application_update(
        application=application,
        actor=visitor,
        data={
            "research_area": area.pk,
            "planned_start": planned_start.isoformat(),
            "months": spec.months,
            "effort_percent": EFFORT_PERCENT,
            "title_en": spec.title_en,
            "title_ja": spec.title_ja,
            "title_ko": spec.title_ko,
            "plan_en": PLAN,
        },
        expected_version=application.version,
    )
    application = application_update(
        application=application,
        actor=visitor,
        data={
            "host_supervisor_name": "Host supervisor",
            "host_supervisor_email": f"supervisor@{host.code.lower()}.example",
        },
        expected_version=application.version,
    )
    return application_submit(application=application, actor=visitor, now=submitted_at)


def _review(
    application: VisitApplication, *, officer: User, reviewer: User, screening: User
) -> VisitApplication:
    """The officer opens the review (and the screening case §11 asks for); the reviewer
    declares no conflict and scores; the screening officer clears an open case."""
    application = application_start_review(application=application, actor=officer)
    assignment = application_reviewer_assign(
        application=application, reviewer=reviewer, actor=officer
    )
    assignment = application_assignment_declare(
        assignment=assignment, actor=reviewer, conflict=False
    )
    criteria = ReviewCriterion.objects.filter(call_id=application.call_id).order_by("pk")
    application_review_submit(
        assignment=assignment,
        actor=reviewer,
        scores={c.pk: s for c, s in zip(criteria, REVIEW_SCORES, strict=True)},
        comment="A well-prepared visit with a clear plan and an experienced host group.",
        recommendation=Recommendation.FUND,
    )
    case = live_case(subject_type=SCREENING_SUBJECT, subject_id=application.pk)
    if case is not None and case.state == "open":
        screening_case_decide(
            case=case,
            actor=screening,
            decision="clear",
            reason="Open fundamental research; no restricted party, no controlled technology.",
        )
    return application


def _award(application: VisitApplication, users: dict[str, User]) -> Any:
    """The two-person award: the JP officer approves, the KR officer completes it."""
    for officer, reason in (
        ("officer_jp", "Strong reviews; the host group's facilities match the plan."),
        ("officer_kr", "Agreed: award the visit."),
    ):
        application.refresh_from_db()
        visit_award_approve(
            application=application, actor=users[officer], outcome="award", reason=reason
        )
    application.refresh_from_db()
    return application.visit


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
    people = {**users, **_boston_people(orgs)}
    today = today_in_tokyo()
    for spec in VISITS:
        existing = VisitApplication.objects.filter(call=call, title_en=spec.title_en).first()
        report.made("visit applications", existing is None)
        if existing is not None:
            continue
        home, host = orgs[spec.home], orgs[spec.host]
        visitor = people[spec.visitor]
        arrival = today - timedelta(days=spec.arrived_days_ago)
        application = _apply(
            call,
            spec,
            visitor=visitor,
            home=home,
            host=host,
            area=area,
            planned_start=arrival if spec.arrived_days_ago else today + timedelta(days=45),
            submitted_at=now - timedelta(days=90),
        )
        application = application_endorse(
            application=application,
            actor=_host_office(host, people),
            comment="The host group expects the visitor.",
            now=now - timedelta(days=85),
        )
        if spec.state == ApplicationState.ENDORSED:
            # Waiting for the screening officer before the review (§11: a US organisation).
            application_screening_open(application=application, actor=users["officer_jp"])
            continue
        application = _review(
            application,
            officer=users["officer_jp"],
            reviewer=users["reviewer1"],
            screening=users["screening"],
        )
        visit = _award(application, users)
        if spec.state == "awarded":
            continue
        officer = users["officer_kr"]
        visit = visit_confirm_arrival(visit=visit, actor=officer, arrived_on=arrival)
        # The daily job on the first day of each visit-month gone by (two at most here).
        for month in range(min(spec.months, 2)):
            stipends_release(today=add_months(arrival, month), visit_ids=[visit.pk])
        if spec.state == "active":
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
