"""Projects with stages, KPIs, gates, tranches and money, for the engine API tests.

Projects are built from a submitted proposal (through the proposal services) with the
models directly: the award path (``projects.services.projects.project_create_from_proposal``)
is tested with the engine's services. Money moves through the real ledger service.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Permission
from django.utils import timezone
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from fundapp.accounts.models import ApiKey, Organisation, User, hash_secret
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.services import ledger_post
from projects.models import (
    KPI,
    ConsortiumMember,
    Disbursement,
    Gate,
    GateDecision,
    GateEvaluation,
    Measurement,
    MeasurementSource,
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
from tests.factories.proposals import Consortium, submitted_proposal
from tests.workflow_states import force_state

PROBLEM_FIELDS = {"type", "title", "status", "detail"}
# Stage 1 (12 months of 30 days) started 400 days ago: its gate fell due 40 days ago.
STAGE_DAYS = 360


# --------------------------------------------------------------------------- clients


def key_client(org: Organisation, scopes: Iterable[str] = ("projects:read",)) -> APIClient:
    key_id, secret, full_key = ApiKey.generate()
    ApiKey.objects.create(
        organisation=org,
        name="partner system",
        key_id=key_id,
        secret_hash=hash_secret(secret),
        scopes=list(scopes),
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")
    return client


def user_client(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def assert_problem(response, status: int) -> dict[str, Any]:
    """§21: every error is application/problem+json with type, title, status, detail."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= PROBLEM_FIELDS
    assert body["status"] == status
    return body


def ok(response, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json()


# --------------------------------------------------------------------------- projects


@dataclass
class Built:
    project: Project
    c: Consortium
    stages: list[Stage] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    tranches: dict[tuple[int, str], Tranche] = field(default_factory=dict)

    def kpis(self, stage_number: int = 1) -> list[KPI]:
        return list(KPI.objects.filter(stage=self.stages[stage_number - 1]).order_by("id"))


def make_project(c: Consortium | None = None) -> Built:
    """An active project of a JP–KR consortium: two stages (the first running, its gate
    due 40 days ago) with a gate, two KPIs and a planned tranche per side each; the PIs may
    view it (guardian)."""
    proposal, c = submitted_proposal(c)
    started_on = timezone.localdate() - timedelta(days=400)
    project = Project.objects.create(
        proposal=proposal,
        call=proposal.call,
        title_en=proposal.title_en,
        title_ja=proposal.title_ja,
        title_ko=proposal.title_ko,
        research_area=proposal.research_area,
        started_on=started_on,
    )
    ProjectOrganisation.objects.create(
        project=project,
        organisation=c.jp,
        role="lead_jp",
        side="JP",
        currency="JPY",
        budget=100_000_000,
        order=0,
    )
    ProjectOrganisation.objects.create(
        project=project,
        organisation=c.kr,
        role="lead_kr",
        side="KR",
        currency="KRW",
        budget=1_000_000_000,
        order=1,
    )
    for pi, org in ((c.pi_jp, c.jp), (c.pi_kr, c.kr)):
        ProjectPerson.objects.create(
            project=project, organisation=org, user=pi, role="pi", effort_percent=30
        )
        assign_perm("projects.view_project", pi, project)

    built = Built(project=project, c=c)
    due_on = started_on
    for pstage in proposal.stages.order_by("number"):
        first = pstage.number == 1
        stage = Stage.objects.create(
            project=project,
            number=pstage.number,
            title=pstage.title,
            months=pstage.months,
            deliverable=pstage.deliverable,
            state=StageState.ACTIVE if first else StageState.PLANNED,
            started_on=started_on if first else None,
        )
        due_on = due_on + timedelta(days=STAGE_DAYS)
        built.stages.append(stage)
        built.gates.append(Gate.objects.create(stage=stage, due_on=due_on))
        for pkpi in pstage.kpis.order_by("id"):
            KPI.objects.create(
                project=project,
                stage=stage,
                code=pkpi.code,
                name_en=pkpi.name_en,
                name_ja=pkpi.name_ja,
                name_ko=pkpi.name_ko,
                unit=pkpi.unit,
                direction=pkpi.direction,
                baseline=pkpi.baseline,
                target=pkpi.target,
                weight=pkpi.weight,
                mandatory=pkpi.mandatory,
                aggregation=pkpi.aggregation,
            )
        for side, currency, planned in (
            ("JP", "JPY", pstage.planned_jpy),
            ("KR", "KRW", pstage.planned_krw),
        ):
            built.tranches[(stage.number, side)] = Tranche.objects.create(
                project=project, stage=stage, side=side, currency=currency, planned=planned
            )
    project.current_stage = built.stages[0]
    project.save(update_fields=["current_stage"])
    return built


def measure(
    kpi: KPI, value: str, *, at: datetime | None = None, note: str = "", by: User | None = None
) -> Measurement:
    return Measurement.objects.create(
        project_id=kpi.project_id,
        kpi=kpi,
        value=Decimal(value),
        measured_at=at or timezone.now(),
        note=note,
        source=MeasurementSource.BROWSER,
        created_by=by,
    )


def evaluation(gate: Gate, *, score: str, outcome: str, kpis: list[KPI], **extra) -> GateEvaluation:
    """A stored snapshot: the first KPI met at 1.2, the others missing."""
    results = []
    for i, kpi in enumerate(kpis):
        if i == 0:
            results.append(
                {
                    "code": kpi.code,
                    "kpi_id": kpi.pk,
                    "value": "22.000000",
                    "achievement": "1.2000",
                    "met": True,
                    "missing": False,
                    "measurement_ids": [1],
                }
            )
        else:
            results.append(
                {
                    "code": kpi.code,
                    "kpi_id": kpi.pk,
                    "value": None,
                    "achievement": "0.0000",
                    "met": False,
                    "missing": True,
                    "measurement_ids": [],
                }
            )
    now = timezone.now()
    return GateEvaluation.objects.create(
        gate=gate,
        round=gate.round,
        evaluated_at=extra.pop("evaluated_at", now),
        as_of=gate.due_on,
        window_start=now - timedelta(days=365),
        cutoff=now,
        score=Decimal(score),
        outcome=outcome,
        policy={"pass_threshold": "1.0"},
        inputs=[{"measurement": 1, "kpi": kpis[0].pk, "value": "22.000000"}],
        kpi_results=results,
        **extra,
    )


def automatic_decision(gate: Gate, ev: GateEvaluation, kind: str = "release") -> GateDecision:
    return GateDecision.objects.create(
        gate=gate,
        round=gate.round,
        evaluation=ev,
        kind=kind,
        automatic=True,
        state="completed",
        completed_at=timezone.now(),
        multiplier=Decimal("1.1"),
    )


# --------------------------------------------------------------------------- money


def fund_side(side: str, amount: int, actor: User | None = None) -> None:
    currency = "JPY" if side == "JP" else "KRW"
    ledger_post(
        kind="contribution",
        currency=currency,
        legs=[
            (ledger_rules.account_code_agency(side), -amount),
            (ledger_rules.account_code_fund_pool(side), amount),
        ],
        reference=f"test:contribution:{side}:{amount}:{timezone.now().timestamp()}",
        actor=actor,
    )


def release(built: Built, stage_number: int, side: str) -> list[Disbursement]:
    """Commit and release one tranche at plan through the ledger; payable disbursements."""
    tranche = built.tranches[(stage_number, side)]
    project = built.project
    pool = ledger_rules.account_code_fund_pool(side)
    committed = ledger_rules.account_code_project_committed(project.pk, side)
    fund_side(side, tranche.planned)
    ledger_post(
        kind="award_commitment",
        currency=tranche.currency,
        legs=[(pool, -tranche.planned), (committed, tranche.planned)],
        reference=f"test:commit:{tranche.pk}",
    )
    org = built.c.jp if side == "JP" else built.c.kr
    payable = ledger_rules.account_code_org_payable(org.pk, tranche.currency)
    txn = ledger_post(
        kind="tranche_release",
        currency=tranche.currency,
        legs=[(committed, -tranche.planned), (payable, tranche.planned)],
        reference=f"tranche:{tranche.pk}:release",
    )
    force_state(tranche, TrancheState.DECIDED)
    tranche.state = TrancheState.RELEASED
    tranche.released = tranche.planned
    tranche.multiplier = Decimal("1")
    tranche.released_at = timezone.now()
    tranche.ledger_transaction = txn
    tranche.save()
    return [
        Disbursement.objects.create(
            tranche=tranche, organisation=org, currency=tranche.currency, amount=tranche.planned
        )
    ]


def _copy(obj: Any, **overrides: Any) -> Any:
    """An unsaved copy of a model instance (new primary key), with some fields replaced."""
    new = copy.copy(obj)
    new._state = copy.copy(obj._state)
    new._state.adding = True
    new._state.db = None
    new._state.fields_cache = {}
    new.pk = None
    for name, value in overrides.items():
        setattr(new, name, value)
    return new


def clone_projects(
    built: Built, n: int, *, organisation: Organisation, grant_to: User | None = None
) -> list[Project]:
    """``n`` more projects like ``built`` in bulk (a fixed number of inserts whatever ``n``),
    each with its proposal, one running stage with its gate, the first KPI, the stage's two
    tranches with a disbursement each and two measurements, in the consortium of ``organisation`` (its research
    office and API keys see them); ``grant_to`` also gets ``view_project`` on each."""
    proposals = Proposal.objects.bulk_create(
        [_copy(built.project.proposal, state=ProposalState.AWARDED) for _ in range(n)]
    )
    ConsortiumMember.objects.bulk_create(
        [ConsortiumMember(proposal=p, organisation=organisation, role="lead_jp") for p in proposals]
    )
    start = built.project.awarded_at
    projects = Project.objects.bulk_create(
        [
            _copy(built.project, proposal=p, current_stage=None, awarded_at=start - timedelta(i))
            for i, p in enumerate(proposals, 1)
        ]
    )
    ProjectOrganisation.objects.bulk_create(
        [
            ProjectOrganisation(
                project=p,
                organisation=organisation,
                role="lead_jp",
                side="JP",
                currency="JPY",
                budget=100_000_000,
            )
            for p in projects
        ]
    )
    stages = Stage.objects.bulk_create([_copy(built.stages[0], project=p) for p in projects])
    for project, stage in zip(projects, stages, strict=True):
        project.current_stage = stage
    Project.objects.bulk_update(projects, ["current_stage"])
    Gate.objects.bulk_create([_copy(built.gates[0], stage=s) for s in stages])
    first_kpi = built.kpis(1)[0]
    kpis = KPI.objects.bulk_create([_copy(first_kpi, project=s.project, stage=s) for s in stages])
    tranches = Tranche.objects.bulk_create(
        [
            _copy(built.tranches[(1, side)], project=s.project, stage=s)
            for s in stages
            for side in ("JP", "KR")
        ]
    )
    Disbursement.objects.bulk_create(
        [
            Disbursement(
                tranche=t, organisation=organisation, currency=t.currency, amount=t.planned
            )
            for t in tranches
        ]
    )
    now = timezone.now()
    Measurement.objects.bulk_create(
        [
            Measurement(
                project_id=k.project_id,
                kpi=k,
                value=Decimal("12"),
                measured_at=now - timedelta(days=d),
                source=MeasurementSource.API,
            )
            for k in kpis
            for d in (1, 2)
        ]
    )
    if grant_to is not None:
        view = Permission.objects.get(content_type__app_label="projects", codename="view_project")
        ProjectUserObjectPermission.objects.bulk_create(
            [
                ProjectUserObjectPermission(user=grant_to, permission=view, content_object=p)
                for p in projects
            ]
        )
    return projects
