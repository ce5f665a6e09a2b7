"""An awarded project whose stage-1 tranches are released, for the stage report tests (§24).

The proposal goes through the proposal services and the award through
``project_create_from_proposal``; tranche 1 is released through the release service, so
the disbursements (what each organisation was released) come from the real ledger path.

Budget (JPY 100,000,000 and KRW 1,000,000,000, two stages 40/60 %):

- JP lead: personnel 50,000,000, equipment 20,000,000;
- JP partner: personnel 30,000,000;
- KR lead: personnel 600,000,000, equipment 300,000,000, travel 100,000,000.

Stage 1 releases JPY 40,000,000 (lead 28,000,000, partner 12,000,000) and KRW 400,000,000.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from fundapp.accounts.models import Organisation, User
from projects.models import (
    Attachment,
    Project,
    ProjectPerson,
    Stage,
    StageReport,
    Tranche,
    TrancheState,
)
from projects.services import proposals as proposal_svc
from projects.services.reports import report_open, statement_lines_set
from projects.services.tranches import tranche_release
from tests.factories import CallFactory, ResearchAreaFactory, jp_org, kr_org, member_of
from tests.factories.engine import Staff, award, fund_pools, make_staff
from tests.factories.projects_api import key_client
from tests.factories.proposals import Consortium, complete_changes, kpi, make_consortium, pdf_upload


@dataclass
class ReportWorld:
    project: Project
    c: Consortium
    partner: Organisation
    staff: Staff
    # A co-investigator of the JP partner (enters the partner's lines only).
    co_partner: User
    # A researcher of an organisation outside the consortium.
    outsider: User

    @property
    def stage1(self) -> Stage:
        return Stage.objects.select_related("gate").get(project=self.project, number=1)

    @property
    def stage2(self) -> Stage:
        return Stage.objects.select_related("gate").get(project=self.project, number=2)


def _proposal(c: Consortium, partner: Organisation):
    changes: dict[str, Any] = complete_changes(c, jp_total=100_000_000, kr_total=1_000_000_000)
    changes["stages"] = [
        {
            "title": f"Stage {i + 1}",
            "months": 12,
            "deliverable": "Prototype",
            "planned_jpy": jp,
            "planned_krw": kr,
            "kpis": [kpi(f"K{i + 1}A"), kpi(f"K{i + 1}B", mandatory=False, weight="2")],
        }
        for i, (jp, kr) in enumerate(((40_000_000, 400_000_000), (60_000_000, 600_000_000)))
    ]
    changes["consortium"]["members"].append({"organisation": partner.code, "role": "partner"})
    changes["budget"] = [
        {"organisation": c.jp.code, "category": "personnel", "amount": 50_000_000},
        {"organisation": c.jp.code, "category": "equipment", "amount": 20_000_000},
        {"organisation": partner.code, "category": "personnel", "amount": 30_000_000},
        {"organisation": c.kr.code, "category": "personnel", "amount": 600_000_000},
        {"organisation": c.kr.code, "category": "equipment", "amount": 300_000_000},
        {"organisation": c.kr.code, "category": "travel", "amount": 100_000_000},
    ]
    proposal = proposal_svc.proposal_create(actor=c.pi_jp, call=c.call)
    proposal = proposal_svc.proposal_update(
        proposal=proposal, actor=c.pi_jp, expected_version=proposal.version, changes=changes
    )
    proposal_svc.attachment_add(
        proposal=proposal, actor=c.pi_jp, upload=pdf_upload(), kind=Attachment.Kind.RESEARCH_PLAN
    )
    proposal.refresh_from_db()
    return proposal_svc.proposal_submit(proposal=proposal, actor=c.pi_jp)


def report_world(*, started_on: date | None = None, staff: Staff | None = None) -> ReportWorld:
    staff = staff or make_staff()
    call = CallFactory.create(research_areas=[ResearchAreaFactory.create(code="semiconductor.ai")])
    fund_pools(staff, call=call)
    c = make_consortium(call)
    partner = jp_org()
    proposal = _proposal(c, partner)
    project = award(proposal, staff, started_on=started_on)
    for tranche in Tranche.objects.filter(project=project, state=TrancheState.DECIDED):
        tranche_release(tranche_id=tranche.pk)
    co_partner = member_of(partner)
    ProjectPerson.objects.create(
        project=project,
        organisation=partner,
        user=co_partner,
        role="co_investigator",
        effort_percent=10,
    )
    assign_perm("projects.view_project", co_partner, project)
    return ReportWorld(
        project=project,
        c=c,
        partner=partner,
        staff=staff,
        co_partner=co_partner,
        outsider=member_of(kr_org()),
    )


def full_lines(w: ReportWorld) -> list[dict[str, Any]]:
    """A complete statement: every budgeted category of every organisation."""
    return [
        {"organisation": w.c.jp.pk, "category": "personnel", "spent": 15_000_000},
        {"organisation": w.c.jp.pk, "category": "equipment", "spent": 9_000_000},
        {"organisation": w.partner.pk, "category": "personnel", "spent": 6_000_000},
        {"organisation": w.c.kr.pk, "category": "personnel", "spent": 200_000_000},
        {"organisation": w.c.kr.pk, "category": "equipment", "spent": 0},
        {"organisation": w.c.kr.pk, "category": "travel", "spent": 10_000_000},
    ]


def filled_report(w: ReportWorld) -> StageReport:
    """Stage 1's report with a narrative and a complete statement, still a draft."""
    report = report_open(
        project=w.project,
        stage=w.stage1,
        actor=w.c.pi_jp,
        narrative={"en": "Stage one went to plan."},
    )
    return statement_lines_set(report=report, actor=w.c.pi_jp, lines=full_lines(w))


def partner_key_client(w: ReportWorld, *scopes: str) -> APIClient:
    return key_client(w.partner, scopes or ("projects:read", "kpi:write"))
