"""Build awarded projects and gate evaluations through the services, for the engine's tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from fundapp.accounts.models import Role, User
from fundapp.ledger.selectors import account_balance
from projects.models import (
    Attachment,
    Call,
    Gate,
    GateEvaluation,
    Project,
    Proposal,
    Stage,
    Tranche,
)
from projects.rules.gates import gate_cutoff, stage_window_start
from projects.services import proposals as proposal_svc
from projects.services.decisions import gate_decide_automatically, policy_from_call
from projects.services.payments import fund_contribute
from projects.services.projects import project_create_from_proposal
from tests.factories import (
    CallFactory,
    FundFactory,
    ResearchAreaFactory,
    UserFactory,
    jp_org,
    officer,
)
from tests.factories.proposals import (
    Consortium,
    complete_changes,
    kpi,
    make_consortium,
    pdf_upload,
)

JP_POOL = 10_000_000_000
KR_POOL = 100_000_000_000


@dataclass
class Staff:
    jp: User
    kr: User
    jp2: User
    kr2: User
    finance_jp: User
    finance_kr: User


def make_staff() -> Staff:
    return Staff(
        jp=officer("JP"),
        kr=officer("KR"),
        jp2=officer("JP"),
        kr2=officer("KR"),
        finance_jp=UserFactory.create(role=Role.FINANCE_OFFICER, side="JP"),
        finance_kr=UserFactory.create(role=Role.FINANCE_OFFICER, side="KR"),
    )


_references = iter(range(1, 10**9))


def fund_pools(
    staff: Staff,
    *,
    jp: int = JP_POOL,
    kr: int = KR_POOL,
    jp_reserve: int = 0,
    kr_reserve: int = 0,
    call: Call | None = None,
) -> None:
    fund = call.fund if call is not None else FundFactory.create()
    for side, to, amount in (
        ("JP", "pool", jp),
        ("KR", "pool", kr),
        ("JP", "reserve", jp_reserve),
        ("KR", "reserve", kr_reserve),
    ):
        if amount:
            fund_contribute(
                fund=fund,
                side=side,
                amount=amount,
                to=to,
                actor=staff.jp,
                reference=f"test-{next(_references)}",
            )


def engine_proposal(
    *,
    jp: tuple[int, ...] = (40_000_000, 60_000_000),
    krw: tuple[int, ...] = (400_000_000, 600_000_000),
    months: tuple[int, ...] | None = None,
    jp_partner_share: int | None = None,
    call: Call | None = None,
    mandatory_kpi: dict[str, Any] | None = None,
    deliverables: dict[int, list[dict[str, Any]]] | None = None,
) -> tuple[Proposal, Consortium]:
    """A submitted proposal with the given tranches; with ``jp_partner_share`` a second JP
    organisation (a partner) budgets that much of the JP side; ``mandatory_kpi`` overrides
    fields of each stage's mandatory KPI; ``deliverables`` the stage plan's deliverables by
    stage number (§24)."""
    call = call or CallFactory.create(
        research_areas=[ResearchAreaFactory.create(code="semiconductor.ai")]
    )
    c = make_consortium(call)
    changes: dict[str, Any] = complete_changes(c, jp_total=sum(jp), kr_total=sum(krw))
    changes["stages"] = [
        {
            "title": f"Stage {i + 1}",
            "months": (months or (12,) * len(jp))[i],
            "deliverable": "Prototype",
            "planned_jpy": jp[i],
            "planned_krw": krw[i],
            "kpis": [
                kpi(f"K{i + 1}A", **(mandatory_kpi or {})),
                kpi(f"K{i + 1}B", mandatory=False, weight="2"),
            ],
            "deliverables": (deliverables or {}).get(i + 1, []),
        }
        for i in range(len(jp))
    ]
    if jp_partner_share is not None:
        partner = jp_org()
        changes["consortium"]["members"].append({"organisation": partner.code, "role": "partner"})
        changes["budget"] = [
            {
                "organisation": c.jp.code,
                "category": "personnel",
                "amount": sum(jp) - jp_partner_share,
            },
            {"organisation": partner.code, "category": "personnel", "amount": jp_partner_share},
            {"organisation": c.kr.code, "category": "personnel", "amount": sum(krw)},
        ]
    proposal = proposal_svc.proposal_create(actor=c.pi_jp, call=call)
    proposal = proposal_svc.proposal_update(
        proposal=proposal, actor=c.pi_jp, expected_version=proposal.version, changes=changes
    )
    proposal_svc.attachment_add(
        proposal=proposal, actor=c.pi_jp, upload=pdf_upload(), kind=Attachment.Kind.RESEARCH_PLAN
    )
    proposal.refresh_from_db()
    return proposal_svc.proposal_submit(proposal=proposal, actor=c.pi_jp), c


def deliverable(title: str = "Test-chip report", **overrides: Any) -> dict[str, Any]:
    """A deliverable of a proposal's stage plan (§24), mandatory unless told."""
    return {
        "title_en": title,
        "title_ja": "テストチップ報告書",
        "title_ko": "테스트 칩 보고서",
        "kind": "report",
        "mandatory": True,
        **overrides,
    }


def award(proposal: Proposal, staff: Staff, *, started_on: date | None = None) -> Project:
    return project_create_from_proposal(proposal=proposal, actor=staff.kr, started_on=started_on)


def stage(project: Project, number: int) -> Stage:
    return Stage.objects.select_related("gate").get(project=project, number=number)


def gate_of(project: Project, number: int) -> Gate:
    return Gate.objects.get(stage__project=project, stage__number=number)


def tranche(project: Project, number: int, side: str) -> Tranche:
    return Tranche.objects.get(project=project, stage__number=number, side=side)


def record_evaluation(gate: Gate, *, outcome: str, score: str) -> GateEvaluation:
    """A stored snapshot as the gates service writes one (the engine decides on it)."""
    gate.refresh_from_db()
    stage_row = Stage.objects.select_related("project__call").get(pk=gate.stage_id)
    policy = policy_from_call(stage_row.project.call)
    return GateEvaluation.objects.create(
        gate=gate,
        round=gate.round,
        as_of=gate.due_on,
        window_start=stage_window_start(stage_row.started_on or gate.due_on),
        cutoff=gate_cutoff(gate.due_on),
        score=Decimal(score),
        outcome=outcome,
        policy=policy.as_dict(),
        inputs=[],
        kpi_results=[],
    )


def evaluate(gate: Gate, *, outcome: str, score: str):
    """Store a snapshot and let the engine decide automatically if §8 allows."""
    evaluation = record_evaluation(gate, outcome=outcome, score=score)
    return gate_decide_automatically(evaluation=evaluation)


def committed(project: Project, side: str) -> int:
    return account_balance(f"project:{project.pk}:{side}:committed")


def pool(side: str) -> int:
    return account_balance(f"fund:{side}:pool")


def reserve(side: str) -> int:
    return account_balance(f"fund:{side}:reserve")


def payable(org_id: int, currency: str) -> int:
    return account_balance(f"org:{org_id}:{currency}:payable")
