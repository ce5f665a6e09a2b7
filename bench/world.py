"""Generate a consistent world in bulk: organisations, people, awarded projects with stages,
KPIs, gates and tranches, committed ledger balances, measurements, IP assets and licences.

Small shared rows (fund, call, officers, contributions) go through the product's services;
the bulk goes in with COPY (``bench.bulk``), shaped as the award service leaves a project:
proposal awarded, project active, stage 1 active and stage 2 planned, one gate per stage,
tranches planned, the budget committed by one ``award_commitment`` ledger transaction per
side (pool → ``project:{id}:{side}:committed``), the named PI holding ``view_project``. The
ledger's triggers run on every COPY row, so ``check_ledger`` holds on generated data.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from bench.bulk import copy_objects, copy_rows, reserve_ids, with_ids
from fundapp.accounts.models import ApiKey, Membership, Organisation, Role, User, hash_secret
from fundapp.kernel.models import Fund, ResearchArea
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import Account, Entry, Transaction
from ip_licensing.models import IPAsset, Licence, LicenceAsset
from projects.models import (
    KPI,
    Call,
    CallState,
    Gate,
    Measurement,
    Project,
    ProjectOrganisation,
    ProjectPerson,
    ProjectUserObjectPermission,
    Proposal,
    ProposalState,
    Stage,
    StageState,
    Tranche,
    TrancheState,
)
from projects.services.payments import fund_contribute

TOKYO = ZoneInfo("Asia/Tokyo")
STARTED_ON = date(2025, 1, 6)
GATE_DAY = date(2025, 12, 26)
SECOND_GATE_DAY = date(2026, 12, 25)
AS_OF = date(2026, 1, 5)
JP_TRANCHES = (40_000_000, 60_000_000)
KR_TRANCHES = (400_000_000, 600_000_000)
AGGREGATIONS = ("latest", "max", "min", "sum", "mean")
SECRET = "bench-secret"


@dataclass
class Base:
    fund: Fund
    call: Call
    area: ResearchArea
    officer_jp: User
    officer_kr: User
    finance_jp: User
    finance_kr: User


@dataclass
class Projects:
    ids: list[int]
    jp_orgs: list[int]
    kr_orgs: list[int]
    stage1: dict[int, int] = field(default_factory=dict)  # project → stage 1
    kpis: dict[int, list[int]] = field(default_factory=dict)  # project → stage 1 KPIs
    # KPI → (baseline, target), what its measurements trend between
    goals: dict[int, tuple[Decimal, Decimal]] = field(default_factory=dict)
    tranches1: dict[int, list[int]] = field(default_factory=dict)  # project → stage 1 tranches


def api_key(org_id: int, scopes: list[str], name: str) -> str:
    """A key of ``org_id``; returns the bearer token ``jkf_<id>_<secret>``."""
    key = ApiKey.objects.create(
        organisation_id=org_id,
        name=name,
        key_id=f"b{ApiKey.objects.count() + 1:09d}",
        secret_hash=hash_secret(SECRET),
        scopes=scopes,
    )
    return f"jkf_{key.key_id}_{SECRET}"


def _user(username: str, role: str, side: str = "") -> User:
    user = User(username=username, email=f"{username}@bench.example", role=role, side=side)
    user.set_unusable_password()
    user.save()
    return user


def make_base(*, jp_pool: int, kr_pool: int) -> Base:
    """Fund, area, an open call with automatic release on pass, officers, funded pools."""
    fund = Fund.objects.create(
        name_en="Japan–Korea Joint R&D Fund",
        name_ja="日韓共同研究開発基金",
        name_ko="한일 공동 연구개발 기금",
        jp_agency="JST",
        kr_agency="NRF",
        reference_rate_krw_per_jpy=Decimal("9.0000"),
    )
    area = ResearchArea.objects.create(code="semiconductor.ai", name_en="AI semiconductors")
    now = timezone.now()
    call = Call.objects.create(
        fund=fund,
        title_en="AI semiconductors",
        opens_at=now - timedelta(days=400),
        closes_at=now - timedelta(days=300),
        state=CallState.CLOSED if hasattr(CallState, "CLOSED") else CallState.OPEN,
        max_budget_jpy=300_000_000,
        max_budget_krw=3_000_000_000,
        auto_release_on_pass=True,
    )
    call.research_areas.set([area])
    base = Base(
        fund=fund,
        call=call,
        area=area,
        officer_jp=_user("officer-jp", Role.FUND_OFFICER, "JP"),
        officer_kr=_user("officer-kr", Role.FUND_OFFICER, "KR"),
        finance_jp=_user("finance-jp", Role.FINANCE_OFFICER, "JP"),
        finance_kr=_user("finance-kr", Role.FINANCE_OFFICER, "KR"),
    )
    for side, to, amount in (
        ("JP", "pool", jp_pool),
        ("KR", "pool", kr_pool),
        ("JP", "reserve", jp_pool // 10),
        ("KR", "reserve", kr_pool // 10),
    ):
        fund_contribute(
            fund=fund,
            side=side,
            amount=amount,
            to=to,
            actor=base.officer_jp,
            reference=f"bench-{side}-{to}",
        )
    return base


def make_orgs(count: int, country: str, prefix: str) -> list[int]:
    orgs = with_ids(
        Organisation,
        [
            Organisation(
                code=f"{prefix}-{i:06d}",
                name_en=f"{prefix} organisation {i}",
                name_ja=f"機関 {prefix} {i}",
                name_ko=f"기관 {prefix} {i}",
                country=country,
                kind=Organisation.Kind.UNIVERSITY,
                side=country,
            )
            for i in range(count)
        ],
    )
    copy_objects(Organisation, orgs)
    return [o.pk for o in orgs]


def make_users(org_ids: list[int], prefix: str) -> list[int]:
    """One researcher per organisation, a member of it (the PI of its projects)."""
    users = with_ids(
        User,
        [
            User(
                username=f"{prefix}-pi-{i}",
                email=f"{prefix}-pi-{i}@bench.example",
                password="!",
                role=Role.RESEARCHER,
                date_joined=timezone.now(),
            )
            for i in range(len(org_ids))
        ],
    )
    copy_objects(User, users)
    copy_objects(
        Membership,
        with_ids(
            Membership,
            [
                Membership(user_id=u.pk, organisation_id=o, research_office=False)
                for u, o in zip(users, org_ids, strict=True)
            ],
        ),
    )
    return [u.pk for u in users]


def _kpi_spec(project_index: int, k: int) -> dict:
    """Five KPIs of varied aggregation and direction; weights 1–3, the first mandatory."""
    higher = (project_index + k) % 3 != 0
    return {
        "code": f"K1{chr(ord('A') + k)}",
        "aggregation": AGGREGATIONS[k % len(AGGREGATIONS)],
        "direction": "higher_is_better" if higher else "lower_is_better",
        "baseline": Decimal("10") if higher else Decimal("20"),
        "target": Decimal("20") if higher else Decimal("10"),
        "weight": Decimal(1 + (project_index + k) % 3),
        "mandatory": k == 0,
    }


def make_projects(
    base: Base,
    count: int,
    *,
    kpis_per_stage: int = 2,
    orgs_per_side: int | None = None,
    tranche_state: str = TrancheState.PLANNED,
    seed: int = 7,
) -> Projects:
    """``count`` awarded, active projects, each JP + KR, as the award service leaves them."""
    rng = random.Random(seed)
    n_orgs = orgs_per_side or max(4, count // 10)
    jp_orgs = make_orgs(n_orgs, "JP", f"BJP{seed}")
    kr_orgs = make_orgs(n_orgs, "KR", f"BKR{seed}")
    pis = make_users(jp_orgs, f"jp{seed}")
    now = timezone.now()
    proposals = with_ids(
        Proposal,
        [
            Proposal(
                call_id=base.call.pk,
                state=ProposalState.AWARDED,
                title_en=f"Edge AI accelerators {i}",
                research_area_id=base.area.pk,
                submitted_at=now - timedelta(days=500),
            )
            for i in range(count)
        ],
    )
    copy_objects(Proposal, proposals)
    project_ids = reserve_ids(Project, count)
    stage_ids = reserve_ids(Stage, 2 * count)
    projects = [
        Project(
            pk=pid,
            proposal_id=proposals[i].pk,
            call_id=base.call.pk,
            title_en=f"Edge AI accelerators {i}",
            research_area_id=base.area.pk,
            awarded_at=now - timedelta(minutes=rng.randrange(0, 500_000)),
            started_on=STARTED_ON,
            current_stage_id=stage_ids[2 * i],
        )
        for i, pid in enumerate(project_ids)
    ]
    stages = []
    for i, pid in enumerate(project_ids):
        stages.append(
            Stage(
                pk=stage_ids[2 * i],
                project_id=pid,
                number=1,
                title="Stage 1",
                months=12,
                state=StageState.ACTIVE,
                started_on=STARTED_ON,
            )
        )
        stages.append(
            Stage(pk=stage_ids[2 * i + 1], project_id=pid, number=2, title="Stage 2", months=12)
        )
    # project.current_stage → stage and stage.project → project: both ways in one transaction.
    with transaction.atomic():
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        copy_objects(Project, projects)
        copy_objects(Stage, stages)
    gates = with_ids(
        Gate,
        [
            Gate(stage_id=s.pk, due_on=GATE_DAY if s.number == 1 else SECOND_GATE_DAY)
            for s in stages
        ],
    )
    copy_objects(Gate, gates)
    orgs = []
    people = []
    for i, pid in enumerate(project_ids):
        j = i % n_orgs
        orgs.append(
            ProjectOrganisation(
                project_id=pid,
                organisation_id=jp_orgs[j],
                role="lead_jp",
                side="JP",
                currency="JPY",
                budget=sum(JP_TRANCHES),
                order=0,
            )
        )
        orgs.append(
            ProjectOrganisation(
                project_id=pid,
                organisation_id=kr_orgs[(j + i // n_orgs) % n_orgs],
                role="lead_kr",
                side="KR",
                currency="KRW",
                budget=sum(KR_TRANCHES),
                order=1,
            )
        )
        people.append(
            ProjectPerson(
                project_id=pid,
                organisation_id=jp_orgs[j],
                user_id=pis[j],
                role="pi",
                effort_percent=30,
            )
        )
    copy_objects(ProjectOrganisation, with_ids(ProjectOrganisation, orgs))
    copy_objects(ProjectPerson, with_ids(ProjectPerson, people))
    grant_view(pis_by_project={pid: pis[i % n_orgs] for i, pid in enumerate(project_ids)})
    result = Projects(ids=project_ids, jp_orgs=jp_orgs, kr_orgs=kr_orgs)
    kpis = []
    for i, pid in enumerate(project_ids):
        result.stage1[pid] = stage_ids[2 * i]
        for k in range(kpis_per_stage):
            spec = _kpi_spec(i, k)
            kpis.append(
                KPI(
                    project_id=pid,
                    stage_id=stage_ids[2 * i],
                    name_en=f"KPI {spec['code']}",
                    unit="TOPS/W",
                    **spec,
                )
            )
    copy_objects(KPI, with_ids(KPI, kpis))
    for kpi in kpis:
        result.kpis.setdefault(kpi.project_id, []).append(kpi.pk)
        result.goals[kpi.pk] = (kpi.baseline, kpi.target)
    tranches = []
    for i, pid in enumerate(project_ids):
        for n in (0, 1):
            for side, currency, plan in (("JP", "JPY", JP_TRANCHES), ("KR", "KRW", KR_TRANCHES)):
                decided = n == 0 and tranche_state == TrancheState.DECIDED
                tranches.append(
                    Tranche(
                        project_id=pid,
                        stage_id=stage_ids[2 * i + n],
                        side=side,
                        currency=currency,
                        planned=plan[n],
                        state=TrancheState.DECIDED if decided else TrancheState.PLANNED,
                        multiplier=Decimal(1) if decided else None,
                        decided_at=now if decided else None,
                    )
                )
    copy_objects(Tranche, with_ids(Tranche, tranches))
    for t in tranches:
        if t.stage_id == result.stage1[t.project_id]:
            result.tranches1.setdefault(t.project_id, []).append(t.pk)
    commit_budgets(project_ids)
    open_payables(jp_orgs, "JPY")
    open_payables(kr_orgs, "KRW")
    return result


def grant_view(*, pis_by_project: dict[int, int]) -> None:
    perm = Permission.objects.get(codename="view_project", content_type__app_label="projects")
    copy_objects(
        ProjectUserObjectPermission,
        with_ids(
            ProjectUserObjectPermission,
            [
                ProjectUserObjectPermission(
                    content_object_id=pid, user_id=uid, permission_id=perm.pk
                )
                for pid, uid in pis_by_project.items()
            ],
        ),
    )


def _accounts(codes: list[str], currency: str) -> dict[str, int]:
    accounts = with_ids(
        Account,
        [
            Account(
                code=code,
                currency=currency,
                kind=ledger_rules.parse_account_code(code).kind,
                name="",
            )
            for code in codes
        ],
    )
    copy_objects(Account, accounts)
    return {a.code: a.pk for a in accounts}


def open_payables(org_ids: list[int], currency: str) -> None:
    _accounts([ledger_rules.account_code_org_payable(o, currency) for o in org_ids], currency)


def commit_budgets(project_ids: list[int], batch: int = 500) -> None:
    """One award commitment per side and project, pool → committed, as the award posts it.

    Posted in database transactions of ``batch`` projects: each entry's trigger updates the
    pool's balance row, and one transaction updating one row 100,000 times would walk an
    ever longer chain of row versions."""
    for start in range(0, len(project_ids), batch):
        _commit_batch(project_ids[start : start + batch])


def _commit_batch(project_ids: list[int]) -> None:
    with transaction.atomic():
        for side, currency, plan in (("JP", "JPY", JP_TRANCHES), ("KR", "KRW", KR_TRANCHES)):
            total = sum(plan)
            pool = Account.objects.get(code=ledger_rules.account_code_fund_pool(side)).pk
            committed = _accounts(
                [ledger_rules.account_code_project_committed(p, side) for p in project_ids],
                currency,
            )
            txn_ids = reserve_ids(Transaction, len(project_ids))
            copy_rows(
                Transaction._meta.db_table,
                ["id", "kind", "currency", "reference", "memo"],
                (
                    (tid, "award_commitment", currency, f"award:{pid}:{side}:bench", "")
                    for tid, pid in zip(txn_ids, project_ids, strict=True)
                ),
            )
            entry_ids = iter(reserve_ids(Entry, 2 * len(project_ids)))
            rows = []
            for tid, pid in zip(txn_ids, project_ids, strict=True):
                code = ledger_rules.account_code_project_committed(pid, side)
                rows.append((next(entry_ids), tid, pool, currency, -total))
                rows.append((next(entry_ids), tid, committed[code], currency, total))
            copy_rows(
                Entry._meta.db_table,
                ["id", "transaction_id", "account_id", "currency", "amount"],
                rows,
            )


# How a KPI's measurements move (``value_for``): from the baseline toward the target,
# fast at first and levelling off just past it, as a research result does; the noise of
# each reading, and the share of readings that are outliers (far off the trend), whose
# size is a fraction of the baseline-to-target distance.
_OVERSHOOT = Decimal("1.05")
_NOISE = 0.02
_OUTLIERS = 100  # one reading in this many
_OUTLIER_SIZE = (0.5, 0.8)
_TWO_PLACES = Decimal("0.01")


def value_for(goal: tuple[Decimal, Decimal], progress: float, rng: random.Random) -> Decimal:
    """A reading of a KPI with ``goal`` = (baseline, target) at ``progress`` through its
    stage (0 at the start, 1 at the gate): a noisy concave trend from the baseline to a
    little past the target, now and then an outlier; two decimal places."""
    baseline, target = goal
    distance = float(target - baseline)
    trend = float(_OVERSHOOT) * (1 - math.exp(-3 * progress)) / (1 - math.exp(-3))
    value = float(baseline) + distance * trend + rng.gauss(0, _NOISE * abs(distance))
    if rng.randrange(_OUTLIERS) == 0:
        value += rng.choice((-1, 1)) * rng.uniform(*_OUTLIER_SIZE) * abs(distance)
    return Decimal(repr(value)).quantize(_TWO_PLACES)


def make_measurements(p: Projects, per_kpi: int, *, officer: User, seed: int = 11) -> int:
    """``per_kpi`` measurements of every stage-1 KPI, as regular reports over the §8 window
    (one in each of ``per_kpi`` equal slots of it, at a random moment of its middle part), one in twenty
    rejected and one in twenty taken after the cutoff (the next stage's). Values follow a
    noisy trend toward the KPI's target (``value_for``), so the anomaly flags (§22) fire
    about as often as on real series, not on most KPIs as they do on uniform noise."""
    rng = random.Random(seed)
    start = datetime.combine(STARTED_ON, time(9), tzinfo=TOKYO)
    span = (datetime.combine(GATE_DAY, time(23, 59), tzinfo=TOKYO) - start).total_seconds()
    after = datetime.combine(GATE_DAY + timedelta(days=3), time(10), tzinfo=TOKYO)
    created = timezone.now()
    total = sum(len(v) for v in p.kpis.values()) * per_kpi
    ids = iter(reserve_ids(Measurement, total))

    def rows():
        for pid, kpis in p.kpis.items():
            for kpi_id in kpis:
                for m in range(per_kpi):
                    progress = (m + 0.5 + rng.uniform(-0.3, 0.3)) / per_kpi
                    at = start + timedelta(seconds=int(progress * span))
                    rejected = None
                    roll = rng.randrange(20)
                    if roll == 0:
                        rejected = created
                    elif roll == 1:
                        at = after
                    yield (
                        next(ids),
                        pid,
                        kpi_id,
                        value_for(p.goals[kpi_id], progress if roll != 1 else 1.0, rng),
                        at,
                        "",
                        "import",
                        created,
                        officer.pk if rejected else None,
                        rejected,
                        officer.pk if rejected else None,
                        "bench: rejected" if rejected else "",
                    )

    return copy_rows(
        Measurement._meta.db_table,
        [
            "id",
            "project_id",
            "kpi_id",
            "value",
            "measured_at",
            "note",
            "source",
            "created_at",
            "created_by_id",
            "rejected_at",
            "rejected_by_id",
            "rejection_reason",
        ],
        rows(),
    )


@dataclass
class Licences:
    checker_org: int
    checker_code: str
    pairs: list[tuple[int, int]]  # (asset, licensee) of the checker's licences


def make_licences(base: Base, count: int, *, seed: int = 13) -> Licences:
    """``count`` active licences over ``count // 2`` background assets owned by JP
    organisations, each licensed to two KR organisations; one in ten to the checker."""
    rng = random.Random(seed)
    n_orgs = max(4, count // 20)
    owners = make_orgs(n_orgs, "JP", f"LJP{seed}")
    licensees = make_orgs(n_orgs, "KR", f"LKR{seed}")
    checker = make_orgs(1, "KR", f"CHK{seed}")[0]
    assets = with_ids(
        IPAsset,
        [
            IPAsset(
                kind="patent",
                title_en=f"Asset {i}",
                owner_id=owners[i % n_orgs],
                is_background=True,
                jurisdiction="JP",
                filing_number=f"JP{seed}-{i:07d}",
                status="granted",
                research_area_id=base.area.pk,
            )
            for i in range(max(1, count // 2))
        ],
    )
    copy_objects(IPAsset, assets)
    licences = []
    links = []
    pairs = []
    ids = reserve_ids(Licence, count)
    now = timezone.now()
    for i, lid in enumerate(ids):
        asset = assets[i // 2]
        licensee = checker if i % 10 == 0 else licensees[(i + i // n_orgs) % n_orgs]
        roll = rng.randrange(10)
        start = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 700))
        licences.append(
            Licence(
                pk=lid,
                reference=f"L{seed}-{i:08d}",
                licensor_id=asset.owner_id,
                licensee_id=licensee,
                fields_of_use=["semiconductor.ai"] if roll else ["semiconductor.ai.edge"],
                purposes=["research", "development"] if roll != 1 else ["research"],
                territories=["JP", "KR"] if roll != 2 else ["WW"],
                start_on=start,
                end_on=start + timedelta(days=4 * 365),
                exclusivity="non_exclusive",
                royalty_rate=Decimal("0.0300"),
                currency="JPY",
                state="active" if roll != 3 else "suspended",
                licensor_accepted_at=now,
                licensee_accepted_at=now,
                approved_at=now,
                activated_at=now,
            )
        )
        links.append(LicenceAsset(licence_id=lid, asset_id=asset.pk))
        if licensee == checker:
            pairs.append((asset.pk, checker))
    copy_objects(Licence, licences)
    copy_objects(LicenceAsset, with_ids(LicenceAsset, links))
    code = Organisation.objects.get(pk=checker).code
    return Licences(checker_org=checker, checker_code=code, pairs=pairs)


def check_items(lic: Licences, count: int, *, seed: int = 17) -> list[dict]:
    """``count`` checks of the checker's use: allowed ones and every kind of deny."""
    rng = random.Random(seed)
    items = []
    for i in range(count):
        asset, _ = lic.pairs[i % len(lic.pairs)]
        items.append(
            {
                "asset": asset,
                "licensee": lic.checker_code,
                "field": rng.choices(
                    ["semiconductor.ai", "semiconductor.ai.edge", "quantum"], [12, 5, 3]
                )[0],
                "purpose": rng.choices(["research", "development", "manufacturing"], [10, 7, 3])[0],
                "territory": rng.choices(["JP", "KR", "US"], [9, 9, 2])[0],
                "on": (date(2024, 6, 1) + timedelta(days=rng.randrange(0, 1100))).isoformat(),
            }
        )
    return items
