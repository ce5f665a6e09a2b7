"""Demo data (§20): fictional organisations, people for every role, the fund, research areas,
three calls and proposals in every state reachable so far.

Everything is made through the services, so the data obeys the same rules as real data and
leaves the same audit trail. Where no service exists yet (people, the fund, research areas)
the row is written here together with its audit event.

Idempotent: each object has a stable key (username, organisation code, area code, call
title, proposal title); what already exists is left exactly as it is. ``seed_all`` runs
every step in one transaction, so a failed run leaves nothing half-made behind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from fundapp.accounts.models import Membership, Organisation, Role, Side, User
from fundapp.accounts.services import organisation_create, user_access_snapshot
from fundapp.audit.services import audit_record
from fundapp.demo import DEMO_PASSWORD
from projects.models import Attachment, Call, CallState, Fund, Proposal, ResearchArea, Sensitivity
from projects.services import calls as call_services
from projects.services import proposals as proposal_services

TOKYO = ZoneInfo("Asia/Tokyo")


# --------------------------------------------------------------------------- the report


@dataclass
class SeedReport:
    """What a run made, found already there or changed, for the command's summary."""

    created: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def made(self, kind: str, was_created: bool) -> None:
        (self.created if was_created else self.kept)[kind] += 1

    def lines(self) -> list[str]:
        kinds = list(dict.fromkeys([*self.created, *self.kept]))
        width = max((len(k) for k in [*kinds, *self.changed]), default=0)
        rows = [
            f"  {kind:<{width}}  {self.created[kind]} new, {self.kept[kind]} already there"
            for kind in kinds
        ]
        rows += [f"  {kind:<{width}}  {count}" for kind, count in self.changed.items()]
        return ["Demo data:", *rows, *self.notes]


# --------------------------------------------------------------------------- organisations


@dataclass(frozen=True)
class OrganisationSpec:
    code: str
    country: str
    kind: str
    name_en: str
    name_ja: str
    name_ko: str


# All fictional. The US institute joins consortia in kind only (§3) and triggers screening.
ORGANISATIONS = (
    OrganisationSpec(
        "JP-TKY-01",
        "JP",
        Organisation.Kind.UNIVERSITY,
        "Tokyo Kasumi University of Science",
        "東京霞科学大学",
        "도쿄 카스미 과학대학교",
    ),
    OrganisationSpec(
        "JP-OSK-01",
        "JP",
        Organisation.Kind.INSTITUTE,
        "Osaka Naniwa Institute for Materials Research",
        "大阪なにわ材料研究所",
        "오사카 나니와 소재연구소",
    ),
    OrganisationSpec(
        "JP-KWS-01",
        "JP",
        Organisation.Kind.COMPANY,
        "Hikari Hydrogen Systems Co., Ltd.",
        "ひかり水素システムズ株式会社",
        "히카리 수소시스템즈 주식회사",
    ),
    OrganisationSpec(
        "KR-DJN-01",
        "KR",
        Organisation.Kind.INSTITUTE,
        "Daejeon Institute of Frontier Technology",
        "大田先端技術研究院",
        "대전첨단기술연구원",
    ),
    OrganisationSpec(
        "KR-SEL-01",
        "KR",
        Organisation.Kind.UNIVERSITY,
        "Hangang University of Science and Technology",
        "漢江科学技術大学校",
        "한강과학기술대학교",
    ),
    OrganisationSpec(
        "KR-PGY-01",
        "KR",
        Organisation.Kind.COMPANY,
        "Saebyeok Semiconductor Co., Ltd.",
        "セビョク半導体株式会社",
        "새벽반도체 주식회사",
    ),
    OrganisationSpec(
        "US-BOS-01",
        "US",
        Organisation.Kind.INSTITUTE,
        "Back Bay Quantum Laboratory",
        "バックベイ量子研究所",
        "백베이 양자연구소",
    ),
)


def seed_organisations(report: SeedReport) -> dict[str, Organisation]:
    """The fictional organisations, by code (``organisation_create``, audited)."""
    codes = [spec.code for spec in ORGANISATIONS]
    existing = {o.code: o for o in Organisation.objects.filter(code__in=codes)}
    orgs: dict[str, Organisation] = {}
    for spec in ORGANISATIONS:
        org = existing.get(spec.code)
        if org is None:
            org = organisation_create(
                actor=None,
                code=spec.code,
                name_en=spec.name_en,
                name_ja=spec.name_ja,
                name_ko=spec.name_ko,
                country=spec.country,
                kind=spec.kind,
            )
        report.made("organisations", spec.code not in existing)
        orgs[spec.code] = org
    return orgs


# --------------------------------------------------------------------------- people


@dataclass(frozen=True)
class PersonSpec:
    username: str
    display_name: str
    role: str
    language: str
    side: str = ""
    organisation: str = ""
    research_office: bool = False
    erad_number: str = ""
    kr_researcher_number: str = ""
    superuser: bool = False


# The usernames are the published demo logins (fundapp.demo.DEMO_LOGINS). The reviewer
# belongs to KR-SEL-01, which no demo consortium includes, so no conflict blocks assigning
# them to any demo proposal.
PEOPLE = (
    PersonSpec(
        "pi_tokyo",
        "田中 花子",
        Role.RESEARCHER,
        "ja",
        organisation="JP-TKY-01",
        erad_number="60012345",
    ),
    PersonSpec(
        "pi_daejeon",
        "김민준",
        Role.RESEARCHER,
        "ko",
        organisation="KR-DJN-01",
        kr_researcher_number="11012345",
    ),
    PersonSpec(
        "office_tokyo",
        "佐藤 健一",
        Role.RESEARCHER,
        "ja",
        organisation="JP-TKY-01",
        research_office=True,
    ),
    PersonSpec(
        "office_daejeon",
        "이서연",
        Role.RESEARCHER,
        "ko",
        organisation="KR-DJN-01",
        research_office=True,
    ),
    PersonSpec("officer_jp", "鈴木 一郎", Role.FUND_OFFICER, "ja", side=Side.JP),
    PersonSpec("officer_kr", "박지훈", Role.FUND_OFFICER, "ko", side=Side.KR),
    PersonSpec("finance_jp", "高橋 美咲", Role.FINANCE_OFFICER, "ja", side=Side.JP),
    PersonSpec("finance_kr", "최유진", Role.FINANCE_OFFICER, "ko", side=Side.KR),
    PersonSpec("screening", "山本 誠", Role.SCREENING_OFFICER, "ja"),
    PersonSpec("reviewer1", "정하늘", Role.REVIEWER, "ko", organisation="KR-SEL-01"),
    PersonSpec("admin", "Administrator", Role.ADMIN, "en", superuser=True),
)


def seed_users(
    report: SeedReport, *, orgs: dict[str, Organisation], with_logins: bool
) -> dict[str, User]:
    """People for every role, by username.

    With ``with_logins`` they get the published demo password (§20: only for DEBUG or an
    explicit ``--with-logins``); otherwise their password is unusable. A later run in the
    other mode switches the demo password on or off, and changes nothing else.
    """
    existing = {
        u.username: u for u in User.objects.filter(username__in=[p.username for p in PEOPLE])
    }
    users: dict[str, User] = {}
    for spec in PEOPLE:
        user = existing.get(spec.username)
        if user is None:
            user = _create_user(spec, orgs, with_logins=with_logins)
        else:
            _align_demo_login(report, user, with_logins=with_logins)
        report.made("people", spec.username not in existing)
        users[spec.username] = user
    return users


def _create_user(spec: PersonSpec, orgs: dict[str, Organisation], *, with_logins: bool) -> User:
    with transaction.atomic():
        user = User(
            username=spec.username,
            email=f"{spec.username}@example.org",
            display_name=spec.display_name,
            role=spec.role,
            side=spec.side,
            preferred_language=spec.language,
            erad_number=spec.erad_number,
            kr_researcher_number=spec.kr_researcher_number,
            is_staff=spec.superuser,
            is_superuser=spec.superuser,
        )
        if with_logins:
            user.set_password(DEMO_PASSWORD)
        else:
            user.set_unusable_password()
        user.save()
        if spec.organisation:
            Membership.objects.create(
                user=user,
                organisation=orgs[spec.organisation],
                research_office=spec.research_office,
            )
        audit_record(
            actor=None,
            action="user.created",
            obj=user,
            after={
                **user_access_snapshot(user),
                "display_name": user.display_name,
                "demo_login": with_logins,
            },
        )
    return user


def _align_demo_login(report: SeedReport, user: User, *, with_logins: bool) -> None:
    if with_logins and not user.has_usable_password():
        user.set_password(DEMO_PASSWORD)
        action, change = "user.demo_login_enabled", "demo logins enabled"
    elif not with_logins and user.check_password(DEMO_PASSWORD):
        # The password is published: it must not outlive a switch to DEBUG off.
        user.set_unusable_password()
        action, change = "user.demo_login_disabled", "demo logins disabled"
    else:
        return
    with transaction.atomic():
        user.save(update_fields=["password"])
        audit_record(actor=None, action=action, obj=user)
    report.changed[change] += 1


# --------------------------------------------------------------------------- fund and areas

FUND_NAME_EN = "Japan–Korea Joint R&D Fund"


@dataclass(frozen=True)
class AreaSpec:
    code: str
    name_en: str
    name_ja: str
    name_ko: str
    sensitivity: str = Sensitivity.NORMAL


# Parents come before their children.
RESEARCH_AREAS = (
    AreaSpec("semiconductor", "Semiconductors", "半導体", "반도체"),
    AreaSpec("semiconductor.ai", "AI semiconductors", "AI半導体", "AI 반도체"),
    AreaSpec("semiconductor.ai.edge", "Edge AI chips", "エッジAIチップ", "엣지 AI 칩"),
    AreaSpec(
        "semiconductor.ai.datacenter",
        "Data-centre AI accelerators",
        "データセンター向けAIアクセラレータ",
        "데이터센터 AI 가속기",
    ),
    AreaSpec("quantum", "Quantum technology", "量子技術", "양자 기술"),
    AreaSpec(
        "quantum.communication",
        "Quantum communication",
        "量子通信",
        "양자 통신",
        Sensitivity.SENSITIVE,
    ),
    AreaSpec(
        "quantum.communication.qkd",
        "Quantum key distribution",
        "量子鍵配送",
        "양자 키 분배",
        Sensitivity.CONTROLLED,
    ),
    AreaSpec("green", "Green technology", "グリーン技術", "친환경 기술"),
    AreaSpec("green.hydrogen", "Hydrogen", "水素", "수소"),
    AreaSpec("green.batteries", "Batteries", "蓄電池", "이차전지"),
    AreaSpec("materials", "Advanced materials", "先端材料", "첨단 소재"),
    AreaSpec("materials.2d", "Two-dimensional materials", "二次元材料", "2차원 소재"),
)


def seed_fund_and_areas(report: SeedReport) -> tuple[Fund, dict[str, ResearchArea]]:
    """The one fund with both sides' agencies and the reference rate, and the area tree."""
    fund = Fund.objects.filter(name_en=FUND_NAME_EN).first()
    report.made("funds", fund is None)
    if fund is None:
        with transaction.atomic():
            fund = Fund.objects.create(
                name_en=FUND_NAME_EN,
                name_ja="日韓共同研究開発基金",
                name_ko="한일 공동 연구개발 기금",
                jp_agency="Japan Agency for Collaborative Research (fictional)",
                kr_agency="Korea Foundation for Joint Research (fictional)",
                reference_rate_krw_per_jpy=Decimal("9.0000"),
            )
            audit_record(
                actor=None,
                action="fund.created",
                obj=fund,
                after={
                    "name_en": fund.name_en,
                    "jp_agency": fund.jp_agency,
                    "kr_agency": fund.kr_agency,
                    "reference_rate_krw_per_jpy": fund.reference_rate_krw_per_jpy,
                    "fund_share_bp": fund.fund_share_bp,
                    "max_licence_years": fund.max_licence_years,
                },
            )

    areas = {
        a.code: a for a in ResearchArea.objects.filter(code__in=[s.code for s in RESEARCH_AREAS])
    }
    for spec in RESEARCH_AREAS:
        report.made("research areas", spec.code not in areas)
        if spec.code in areas:
            continue
        parent_code = spec.code.rpartition(".")[0]
        with transaction.atomic():
            area = ResearchArea.objects.create(
                code=spec.code,
                name_en=spec.name_en,
                name_ja=spec.name_ja,
                name_ko=spec.name_ko,
                sensitivity=spec.sensitivity,
                parent=areas[parent_code] if parent_code else None,
            )
            audit_record(
                actor=None,
                action="research_area.created",
                obj=area,
                after={"code": area.code, "parent": parent_code, "sensitivity": area.sensitivity},
            )
        areas[spec.code] = area
    return fund, areas


# --------------------------------------------------------------------------- calls

CRITERIA = (
    call_services.CriterionData(
        name_en="Scientific excellence",
        name_ja="科学的卓越性",
        name_ko="과학적 우수성",
        weight=Decimal("0.4"),
    ),
    call_services.CriterionData(
        name_en="Impact", name_ja="インパクト", name_ko="파급 효과", weight=Decimal("0.3")
    ),
    call_services.CriterionData(
        name_en="Consortium quality",
        name_ja="コンソーシアムの質",
        name_ko="컨소시엄 역량",
        weight=Decimal("0.3"),
    ),
)


@dataclass(frozen=True)
class CallSpec:
    key: str
    title_en: str
    title_ja: str
    title_ko: str
    description_en: str
    description_ja: str
    description_ko: str
    areas: tuple[str, ...]
    max_budget_jpy: int
    max_budget_krw: int
    max_project_months: int


CALLS = (
    CallSpec(
        key="ai",
        title_en="AI Semiconductors for the Edge and the Data Centre",
        title_ja="エッジ・データセンター向けAI半導体",
        title_ko="엣지 및 데이터센터용 AI 반도체",
        description_en=(
            "Joint Japanese–Korean projects on energy-efficient AI chips: in-memory and "
            "neuromorphic computing, chiplets and advanced packaging, from test chip to pilot."
        ),
        description_ja=(
            "省電力AIチップに関する日韓共同研究を公募します。インメモリ計算、"
            "ニューロモルフィック計算、チップレットと先端パッケージングを対象とし、"
            "試作チップから実証までを支援します。"
        ),
        description_ko=(
            "에너지 효율적인 AI 칩에 관한 한일 공동 연구를 공모합니다. 인메모리 연산, "
            "뉴로모픽 연산, 칩렛 및 첨단 패키징을 대상으로 시험 칩부터 실증까지 지원합니다."
        ),
        areas=("semiconductor.ai",),
        max_budget_jpy=300_000_000,
        max_budget_krw=3_000_000_000,
        max_project_months=48,
    ),
    CallSpec(
        key="quantum",
        title_en="Secure Quantum Communication Networks",
        title_ja="安全な量子通信ネットワーク",
        title_ko="안전한 양자 통신 네트워크",
        description_en=(
            "Quantum key distribution and quantum networking testbeds linking Japanese and "
            "Korean laboratories. Proposals in this call are always screened (§11)."
        ),
        description_ja=(
            "日韓の研究機関を結ぶ量子鍵配送および量子ネットワークのテストベッドを公募します。"
            "本公募の提案はすべて輸出管理審査の対象です。"
        ),
        description_ko=(
            "한일 연구기관을 잇는 양자키분배 및 양자 네트워크 테스트베드를 공모합니다. "
            "본 공모의 제안서는 모두 수출통제 심사 대상입니다."
        ),
        areas=("quantum.communication",),
        max_budget_jpy=200_000_000,
        max_budget_krw=2_000_000_000,
        max_project_months=48,
    ),
    CallSpec(
        key="green",
        title_en="Green Technology: Hydrogen and Batteries",
        title_ja="グリーン技術:水素と蓄電池",
        title_ko="친환경 기술: 수소와 이차전지",
        description_en=(
            "Low-cost electrolysers, hydrogen storage and next-generation batteries, "
            "demonstrated in real installations on both sides."
        ),
        description_ja=(
            "低コスト水電解装置、水素貯蔵、次世代蓄電池について、日韓双方の実設備での"
            "実証を含む共同研究を公募します。"
        ),
        description_ko=(
            "저비용 수전해 장치, 수소 저장, 차세대 이차전지에 관해 한일 양측의 실제 "
            "설비에서의 실증을 포함한 공동 연구를 공모합니다."
        ),
        areas=("green.hydrogen", "green.batteries"),
        max_budget_jpy=250_000_000,
        max_budget_krw=2_500_000_000,
        max_project_months=48,
    ),
)

# The calls whose deadline the demo shows as passed. They are opened like the others, so
# that proposals can be made in them, and closed by ``seed_closed_calls`` afterwards.
CLOSED_CALLS = ("green",)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=TOKYO)


def _call_window(key: str, now: datetime) -> tuple[datetime, datetime]:
    today = timezone.localtime(now, TOKYO).date()
    if key == "ai":
        return _at(today - timedelta(days=14), 10), _at(today + timedelta(days=60), 17)
    if key == "quantum":
        return _at(today - timedelta(days=30), 10), _at(today + timedelta(days=30), 17)
    # A proposal can only be started in a call open by the server clock, so the closed
    # call's deadline lies just ahead; the officers then close it early.
    deadline = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    return _at(today - timedelta(days=75), 10), deadline


def seed_calls(
    report: SeedReport,
    *,
    fund: Fund,
    areas: dict[str, ResearchArea],
    officer: User,
    now: datetime,
) -> dict[str, Call]:
    """Three calls, created and opened by a fund officer (``call_create``, ``call_open``)."""
    existing = {
        c.title_en: c
        for c in Call.objects.filter(fund=fund, title_en__in=[s.title_en for s in CALLS])
    }
    calls: dict[str, Call] = {}
    for spec in CALLS:
        call = existing.get(spec.title_en)
        report.made("calls", call is None)
        if call is None:
            opens_at, closes_at = _call_window(spec.key, now)
            call = call_services.call_create(
                actor=officer,
                fund=fund,
                data=call_services.CallData(
                    title_en=spec.title_en,
                    title_ja=spec.title_ja,
                    title_ko=spec.title_ko,
                    description_en=spec.description_en,
                    description_ja=spec.description_ja,
                    description_ko=spec.description_ko,
                    research_areas=[areas[code] for code in spec.areas],
                    opens_at=opens_at,
                    closes_at=closes_at,
                    max_budget_jpy=spec.max_budget_jpy,
                    max_budget_krw=spec.max_budget_krw,
                    max_project_months=spec.max_project_months,
                    criteria=CRITERIA,
                ),
            )
            call = call_services.call_open(actor=officer, call=call, now=now)
        calls[spec.key] = call
    return calls


def seed_closed_calls(report: SeedReport, *, calls: dict[str, Call], officer: User) -> None:
    """Close the calls the demo shows as over (``call_close``): their submitted proposals
    still missing an endorsement become ineligible (§5)."""
    for key in CLOSED_CALLS:
        call = calls[key]
        call.refresh_from_db(fields=["state"])
        if call.state == CallState.OPEN:
            calls[key] = call_services.call_close(actor=officer, call=call)
            report.changed["calls closed"] += 1


# --------------------------------------------------------------------------- proposals


def _kpi(
    code: str,
    names: tuple[str, str, str],
    unit: str,
    baseline: str,
    target: str,
    *,
    lower_is_better: bool = False,
    weight: str = "1",
    mandatory: bool = False,
    aggregation: str = "latest",
) -> dict[str, Any]:
    return {
        "code": code,
        "name_en": names[0],
        "name_ja": names[1],
        "name_ko": names[2],
        "unit": unit,
        "direction": "lower_is_better" if lower_is_better else "higher_is_better",
        "baseline": baseline,
        "target": target,
        "weight": weight,
        "mandatory": mandatory,
        "aggregation": aggregation,
    }


def _person(username: str, organisation: str, effort: int, role: str = "pi") -> dict[str, Any]:
    return {"user": username, "organisation": organisation, "role": role, "effort_percent": effort}


def _budget(organisation: str, **amounts: int) -> list[dict[str, Any]]:
    return [
        {"organisation": organisation, "category": category, "amount": amount}
        for category, amount in amounts.items()
    ]


NO_SECURITY_CONCERNS = {"dual_use": False, "controlled_categories": [], "notes": ""}

RESULTS_LICENCE_TERMS = (
    "Each result is owned by the one organisation whose staff made it. Consortium partners "
    "receive non-exclusive licences for research and development in the project's field, in "
    "Japan and Korea, for five years; commercial licences carry royalties under the fund's "
    "return-allocation table."
)


@dataclass(frozen=True)
class ProposalStory:
    """How a demo proposal came to its state: who started it, what they wrote, who
    endorsed it, and whether it was submitted or withdrawn."""

    call: str
    author: str
    changes: dict[str, Any]
    submit: bool = True
    endorsed_by: tuple[str, ...] = ()
    withdraw_reason: str = ""
    attachments: tuple[tuple[str, str], ...] = (
        ("research-plan.pdf", Attachment.Kind.RESEARCH_PLAN),
    )

    @property
    def title_en(self) -> str:
        return self.changes["basics"]["title_en"]


EDGE_AI = ProposalStory(  # eligible: submitted and endorsed by both research offices
    call="ai",
    author="pi_tokyo",
    endorsed_by=("office_tokyo", "office_daejeon"),
    attachments=(
        ("research-plan.pdf", Attachment.Kind.RESEARCH_PLAN),
        ("letter-of-support-saebyeok.pdf", Attachment.Kind.LETTER),
    ),
    changes={
        "basics": {
            "title_en": "Ultra-low-power edge AI accelerators with in-memory computing",
            "title_ja": "インメモリ計算による超低消費電力エッジAIアクセラレータ",
            "title_ko": "인메모리 컴퓨팅 기반 초저전력 엣지 AI 가속기",
            "abstract_en": (
                "Tokyo designs analogue in-memory computing macros; Daejeon and Saebyeok "
                "Semiconductor build the RISC-V control fabric and chiplet packaging. Together "
                "they bring transformer inference to battery-powered sensors at 100 TOPS/W."
            ),
            "abstract_ja": (
                "東京側がアナログ・インメモリ計算マクロを、韓国側がRISC-V制御回路とチップレット"
                "実装を設計し、電池駆動センサー上でのTransformer推論を100 TOPS/Wで実現する。"
            ),
            "abstract_ko": (
                "도쿄 측은 아날로그 인메모리 연산 매크로를, 한국 측은 RISC-V 제어 회로와 칩렛 "
                "패키징을 설계하여 배터리 구동 센서에서 100 TOPS/W의 트랜스포머 추론을 구현한다."
            ),
            "research_area": "semiconductor.ai.edge",
            "keywords": ["in-memory computing", "edge AI", "chiplet", "RISC-V"],
            "trl_now": 3,
            "trl_target": 6,
        },
        "consortium": {
            "members": [
                {"organisation": "JP-TKY-01", "role": "lead_jp"},
                {"organisation": "KR-DJN-01", "role": "lead_kr"},
                {"organisation": "KR-PGY-01", "role": "partner"},
            ],
            "people": [
                _person("pi_tokyo", "JP-TKY-01", 30),
                _person("pi_daejeon", "KR-DJN-01", 30),
            ],
        },
        "stages": [
            {
                "title": "In-memory MAC macro and test chip",
                "months": 12,
                "deliverable": "28 nm test chip of the macro, characterised on benchmark networks.",
                "planned_jpy": 40_000_000,
                "planned_krw": 400_000_000,
                "kpis": [
                    _kpi(
                        "EDGE-EFF-1",
                        ("Energy efficiency", "エネルギー効率", "에너지 효율"),
                        "TOPS/W",
                        "10",
                        "25",
                        weight="2",
                        mandatory=True,
                        aggregation="max",
                    ),
                    _kpi(
                        "EDGE-ACC-1",
                        (
                            "Top-1 accuracy (ImageNet, INT8)",
                            "Top-1精度(ImageNet、INT8)",
                            "Top-1 정확도(ImageNet, INT8)",
                        ),
                        "%",
                        "70",
                        "75",
                    ),
                ],
            },
            {
                "title": "Chiplet integration",
                "months": 12,
                "deliverable": "Two-chiplet module with the RISC-V controller and a software stack.",
                "planned_jpy": 60_000_000,
                "planned_krw": 600_000_000,
                "kpis": [
                    _kpi(
                        "EDGE-EFF-2",
                        (
                            "Module energy efficiency",
                            "モジュールのエネルギー効率",
                            "모듈 에너지 효율",
                        ),
                        "TOPS/W",
                        "25",
                        "60",
                        weight="2",
                        mandatory=True,
                        aggregation="max",
                    ),
                    _kpi(
                        "EDGE-LAT-2",
                        (
                            "Keyword-spotting latency",
                            "キーワード検出の推論レイテンシ",
                            "키워드 인식 추론 지연시간",
                        ),
                        "ms",
                        "20",
                        "8",
                        lower_is_better=True,
                    ),
                ],
            },
            {
                "title": "Field pilot in battery-powered sensors",
                "months": 12,
                "deliverable": "200 sensor nodes running on the module in a factory pilot.",
                "planned_jpy": 80_000_000,
                "planned_krw": 800_000_000,
                "kpis": [
                    _kpi(
                        "EDGE-EFF-3",
                        (
                            "System energy efficiency",
                            "システムのエネルギー効率",
                            "시스템 에너지 효율",
                        ),
                        "TOPS/W",
                        "60",
                        "100",
                        weight="2",
                        mandatory=True,
                        aggregation="max",
                    ),
                    _kpi(
                        "EDGE-NODES-3",
                        (
                            "Sensor nodes deployed",
                            "設置したセンサーノード数",
                            "설치한 센서 노드 수",
                        ),
                        "nodes",
                        "0",
                        "200",
                        aggregation="sum",
                    ),
                ],
            },
        ],
        "budget": [
            *_budget(
                "JP-TKY-01",
                personnel=90_000_000,
                equipment=60_000_000,
                consumables=20_000_000,
                travel=10_000_000,
            ),
            *_budget("KR-DJN-01", personnel=600_000_000, equipment=400_000_000, travel=50_000_000),
            *_budget("KR-PGY-01", personnel=450_000_000, consumables=300_000_000),
        ],
        "ip_plan": {
            "background_ip": [
                {
                    "title": "Analogue in-memory MAC macro (JP patent application 2024-100123)",
                    "owner": "JP-TKY-01",
                    "description": "Charge-domain multiply-accumulate array with 8-bit weights.",
                },
                {
                    "title": "Die-to-die interface IP for chiplets",
                    "owner": "KR-PGY-01",
                    "description": "Low-latency parallel interface, licensed to the consortium.",
                },
            ],
            "licence_terms": RESULTS_LICENCE_TERMS,
        },
        "security": NO_SECURITY_CONCERNS,
    },
)

QKD_TESTBED = ProposalStory(  # submitted: endorsed in Daejeon, awaiting Tokyo's endorsement
    call="quantum",
    author="pi_daejeon",
    endorsed_by=("office_daejeon",),
    changes={
        "basics": {
            "title_en": "Metropolitan quantum key distribution testbed with trusted-node relays",
            "title_ja": "トラステッドノード中継による都市圏量子鍵配送テストベッド",
            "title_ko": "신뢰 노드 중계 기반 도심형 양자키분배 테스트베드",
            "abstract_en": (
                "A 120 km metropolitan QKD network in Daejeon and Tokyo, with detectors "
                "characterised in kind by the Back Bay Quantum Laboratory."
            ),
            "abstract_ja": "大田と東京に全長120 kmの都市圏量子鍵配送網を構築し、実運用で評価する。",
            "abstract_ko": "대전과 도쿄에 총 120 km의 도심형 양자키분배망을 구축하고 실운용으로 평가한다.",
            "research_area": "quantum.communication.qkd",
            "keywords": ["QKD", "trusted node", "quantum network"],
            "trl_now": 4,
            "trl_target": 7,
        },
        "consortium": {
            "members": [
                {"organisation": "KR-DJN-01", "role": "lead_kr"},
                {"organisation": "JP-TKY-01", "role": "lead_jp"},
                {"organisation": "US-BOS-01", "role": "in_kind"},
            ],
            "people": [
                _person("pi_daejeon", "KR-DJN-01", 20),
                _person("pi_tokyo", "JP-TKY-01", 20),
            ],
        },
        "stages": [
            {
                "title": "Laboratory link and detector characterisation",
                "months": 18,
                "deliverable": "Decoy-state BB84 link over 50 km of spooled fibre.",
                "planned_jpy": 50_000_000,
                "planned_krw": 500_000_000,
                "kpis": [
                    _kpi(
                        "QKD-QBER-1",
                        ("Quantum bit error rate", "量子ビット誤り率", "양자 비트 오류율"),
                        "%",
                        "4.5",
                        "2.0",
                        lower_is_better=True,
                        weight="2",
                        mandatory=True,
                    ),
                    _kpi(
                        "QKD-SKR-1",
                        (
                            "Secret key rate at 50 km",
                            "50 kmでの秘密鍵生成レート",
                            "50 km 비밀키 생성률",
                        ),
                        "kbit/s",
                        "1",
                        "10",
                        aggregation="mean",
                    ),
                ],
            },
            {
                "title": "Metropolitan testbed",
                "months": 18,
                "deliverable": "Deployed network with three trusted nodes and key management.",
                "planned_jpy": 70_000_000,
                "planned_krw": 700_000_000,
                "kpis": [
                    _kpi(
                        "QKD-DIST-2",
                        (
                            "Link distance without a trusted node",
                            "トラステッドノードなしの伝送距離",
                            "신뢰 노드 없는 전송 거리",
                        ),
                        "km",
                        "50",
                        "120",
                        mandatory=True,
                        aggregation="max",
                    ),
                    _kpi(
                        "QKD-BER-2",
                        (
                            "Bit error rate after error correction",
                            "誤り訂正後のビット誤り率",
                            "오류 정정 후 비트 오류율",
                        ),
                        "×10⁻⁹",
                        "1000",
                        "1",
                        lower_is_better=True,
                    ),
                ],
            },
        ],
        "budget": [
            *_budget("KR-DJN-01", personnel=700_000_000, equipment=500_000_000),
            *_budget("JP-TKY-01", personnel=70_000_000, equipment=50_000_000),
        ],
        "ip_plan": {
            "background_ip": [
                {
                    "title": "Superconducting nanowire detector read-out (know-how)",
                    "owner": "US-BOS-01",
                    "description": "Contributed in kind; no funding requested.",
                },
            ],
            "licence_terms": RESULTS_LICENCE_TERMS,
        },
        "security": {
            "dual_use": True,
            "controlled_categories": ["quantum cryptography"],
            "notes": (
                "QKD equipment is dual-use cryptography. The US in-kind partner characterises "
                "detectors only and receives no key material."
            ),
        },
    },
)

DRONE_VISION = ProposalStory(  # withdrawn after submission
    call="ai",
    author="pi_tokyo",
    endorsed_by=("office_tokyo",),
    withdraw_reason="The team merged this work into the edge AI accelerator proposal.",
    changes={
        "basics": {
            "title_en": "Neuromorphic event-camera processor for autonomous drones",
            "title_ja": "自律ドローン向けニューロモルフィック・イベントカメラ処理プロセッサ",
            "title_ko": "자율 드론용 뉴로모픽 이벤트 카메라 프로세서",
            "abstract_en": "A spiking-neural-network processor that reads event cameras directly.",
            "research_area": "semiconductor.ai.edge",
            "keywords": ["neuromorphic", "event camera", "drones"],
            "trl_now": 2,
            "trl_target": 5,
        },
        "consortium": {
            "members": [
                {"organisation": "JP-TKY-01", "role": "lead_jp"},
                {"organisation": "JP-OSK-01", "role": "partner"},
                {"organisation": "KR-DJN-01", "role": "lead_kr"},
            ],
            "people": [
                _person("pi_tokyo", "JP-TKY-01", 10),
                _person("pi_daejeon", "KR-DJN-01", 10),
            ],
        },
        "stages": [
            {
                "title": "Spiking core design",
                "months": 12,
                "deliverable": "FPGA prototype of the spiking core.",
                "planned_jpy": 30_000_000,
                "planned_krw": 300_000_000,
                "kpis": [
                    _kpi(
                        "DRN-EPS-1",
                        (
                            "Energy per synaptic operation",
                            "シナプス演算あたりのエネルギー",
                            "시냅스 연산당 에너지",
                        ),
                        "pJ/SOP",
                        "20",
                        "5",
                        lower_is_better=True,
                        mandatory=True,
                    ),
                ],
            },
            {
                "title": "Flight demonstration",
                "months": 12,
                "deliverable": "Obstacle avoidance on a 250 g drone.",
                "planned_jpy": 45_000_000,
                "planned_krw": 450_000_000,
                "kpis": [
                    _kpi(
                        "DRN-EVT-2",
                        ("Event throughput", "イベント処理スループット", "이벤트 처리량"),
                        "Mevents/s",
                        "50",
                        "200",
                        mandatory=True,
                        aggregation="max",
                    ),
                ],
            },
        ],
        "budget": [
            *_budget("JP-TKY-01", personnel=50_000_000),
            *_budget("JP-OSK-01", consumables=25_000_000),
            *_budget("KR-DJN-01", personnel=750_000_000),
        ],
        "ip_plan": {"background_ip": [], "licence_terms": RESULTS_LICENCE_TERMS},
        "security": {
            "dual_use": True,
            "controlled_categories": [],
            "notes": "Drone autonomy may have military uses.",
        },
    },
)

AEM_ELECTROLYSER = ProposalStory(  # ineligible: Daejeon never endorsed it before the deadline
    call="green",
    author="pi_tokyo",
    endorsed_by=("office_tokyo",),
    changes={
        "basics": {
            "title_en": "Anion-exchange membrane electrolysers for on-site hydrogen at filling stations",
            "title_ja": "水素ステーション向けオンサイト型アニオン交換膜水電解装置",
            "title_ko": "수소충전소용 온사이트 음이온교환막 수전해 장치",
            "abstract_en": (
                "Platinum-free AEM electrolysers built by Hikari Hydrogen Systems and tested at "
                "a filling station in Daejeon."
            ),
            "abstract_ja": "白金を使わないAEM水電解装置を開発し、大田の水素ステーションで実証する。",
            "abstract_ko": "백금을 쓰지 않는 AEM 수전해 장치를 개발하여 대전의 수소충전소에서 실증한다.",
            "research_area": "green.hydrogen",
            "keywords": ["hydrogen", "AEM electrolysis", "filling station"],
            "trl_now": 4,
            "trl_target": 7,
        },
        "consortium": {
            "members": [
                {"organisation": "JP-TKY-01", "role": "lead_jp"},
                {"organisation": "JP-KWS-01", "role": "partner"},
                {"organisation": "KR-DJN-01", "role": "lead_kr"},
            ],
            "people": [
                _person("pi_tokyo", "JP-TKY-01", 10),
                _person("pi_daejeon", "KR-DJN-01", 10),
            ],
        },
        "stages": [
            {
                "title": "Membrane-electrode assemblies",
                "months": 12,
                "deliverable": "10 kW stack with platinum-free electrodes.",
                "planned_jpy": 50_000_000,
                "planned_krw": 450_000_000,
                "kpis": [
                    _kpi(
                        "H2-EFF-1",
                        (
                            "Stack efficiency (HHV)",
                            "スタック効率(高位発熱量基準)",
                            "스택 효율(고위발열량 기준)",
                        ),
                        "%",
                        "60",
                        "70",
                        mandatory=True,
                    ),
                    _kpi(
                        "H2-DEG-1",
                        ("Voltage degradation rate", "電圧劣化率", "전압 열화율"),
                        "µV/h",
                        "50",
                        "10",
                        lower_is_better=True,
                    ),
                ],
            },
            {
                "title": "Pilot electrolyser at a filling station",
                "months": 18,
                "deliverable": "Containerised electrolyser supplying a filling station.",
                "planned_jpy": 90_000_000,
                "planned_krw": 800_000_000,
                "kpis": [
                    _kpi(
                        "H2-PROD-2",
                        ("Hydrogen output", "水素製造量", "수소 생산량"),
                        "kg H2/day",
                        "5",
                        "20",
                        mandatory=True,
                        aggregation="max",
                    ),
                ],
            },
        ],
        "budget": [
            *_budget("JP-TKY-01", personnel=60_000_000, equipment=30_000_000),
            *_budget("JP-KWS-01", equipment=50_000_000),
            *_budget("KR-DJN-01", personnel=800_000_000, equipment=450_000_000),
        ],
        "ip_plan": {"background_ip": [], "licence_terms": RESULTS_LICENCE_TERMS},
        "security": NO_SECURITY_CONCERNS,
    },
)

PHOTONIC_DRAFT = ProposalStory(  # draft: started in Daejeon, still being written
    call="ai",
    author="pi_daejeon",
    submit=False,
    attachments=(),
    changes={
        "basics": {
            "title_en": "Silicon-photonic interconnects for data-centre AI accelerators",
            "title_ja": "データセンター向けAIアクセラレータのためのシリコンフォトニクス配線",
            "title_ko": "데이터센터 AI 가속기를 위한 실리콘 포토닉스 인터커넥트",
            "abstract_ko": "AI 가속기 사이의 전기 배선을 광 배선으로 대체하여 전력 소모를 줄인다.",
            "research_area": "semiconductor.ai.datacenter",
            "keywords": ["silicon photonics", "co-packaged optics"],
            "trl_now": 3,
            "trl_target": 5,
        },
        "consortium": {
            "members": [
                {"organisation": "KR-DJN-01", "role": "lead_kr"},
                {"organisation": "JP-TKY-01", "role": "lead_jp"},
            ],
            "people": [
                _person("pi_daejeon", "KR-DJN-01", 20),
                _person("pi_tokyo", "JP-TKY-01", 15),
            ],
        },
    },
)

# In this order, so that nobody's effort over pending proposals passes 100% at any step
# (the e-Rad rule, §5): afterwards each PI gives 50% to pending proposals.
PROPOSALS = (EDGE_AI, QKD_TESTBED, DRONE_VISION, AEM_ELECTROLYSER, PHOTONIC_DRAFT)


def seed_proposals(
    report: SeedReport, *, calls: dict[str, Call], users: dict[str, User]
) -> dict[str, Proposal]:
    """Proposals in every state reachable through the proposal services, by English title.

    Drafts are written section by section as the wizard would, submitted, endorsed by the
    lead organisations' research offices and withdrawn through the same services.
    """
    existing = {
        p.title_en: p for p in Proposal.objects.filter(title_en__in=[s.title_en for s in PROPOSALS])
    }
    proposals: dict[str, Proposal] = {}
    for story in PROPOSALS:
        proposal = existing.get(story.title_en)
        if proposal is None:
            call = calls[story.call]
            if not call.is_open_at(timezone.now()):
                report.notes.append(
                    f"Skipped the proposal “{story.title_en}”: its call is no longer open."
                )
                continue
            proposal = _play_story(story, call, users)
        report.made("proposals", story.title_en not in existing)
        proposals[story.title_en] = proposal
    return proposals


def _play_story(story: ProposalStory, call: Call, users: dict[str, User]) -> Proposal:
    author = users[story.author]
    proposal = proposal_services.proposal_create(actor=author, call=call)
    proposal = proposal_services.proposal_update(
        proposal=proposal, actor=author, expected_version=proposal.version, changes=story.changes
    )
    for name, kind in story.attachments:
        proposal_services.attachment_add(
            proposal=proposal,
            actor=author,
            upload=SimpleUploadedFile(
                name, demo_pdf(story.title_en, kind), content_type="application/pdf"
            ),
            kind=kind,
        )
    if not story.submit:
        return proposal
    proposal = proposal_services.proposal_submit(proposal=proposal, actor=author)
    for office in story.endorsed_by:
        proposal = proposal_services.proposal_endorse(proposal=proposal, actor=users[office])
    if story.withdraw_reason:
        proposal = proposal_services.proposal_withdraw(
            proposal=proposal, actor=author, reason=story.withdraw_reason
        )
    return proposal


def demo_pdf(title: str, kind: str) -> bytes:
    """A small, valid one-page PDF naming the document (ASCII text, Helvetica)."""
    lines = [title, f"{kind.replace('_', ' ').capitalize()} - demo document, fictional content"]
    text = b"".join(
        b"BT /F1 12 Tf 56 %d Td (%s) Tj ET\n" % (780 - 20 * i, _pdf_string(line))
        for i, line in enumerate(lines)
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%sendstream" % (len(text), text),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)


def _pdf_string(value: str) -> bytes:
    raw = str(value).encode("ascii", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


# --------------------------------------------------------------------------- all of it


def seed_all(*, with_logins: bool) -> SeedReport:
    """Every step, in one transaction: all of the demo data or none of it."""
    report = SeedReport()
    now = timezone.now()
    with transaction.atomic():
        orgs = seed_organisations(report)
        users = seed_users(report, orgs=orgs, with_logins=with_logins)
        fund, areas = seed_fund_and_areas(report)
        officer = users["officer_jp"]
        calls = seed_calls(report, fund=fund, areas=areas, officer=officer, now=now)
        seed_proposals(report, calls=calls, users=users)
        seed_closed_calls(report, calls=calls, officer=users["officer_kr"])
        proposals = Proposal.objects.filter(title_en__in=[s.title_en for s in PROPOSALS])
        states = Counter(proposals.values_list("state", flat=True))
    report.notes.append(
        "Demo proposals by state: "
        + ", ".join(f"{state} {states[state]}" for state in sorted(states))
    )
    return report
