"""An awarded project of three stages to amend (§24): stage 1 running (its tranches
decided), stages 2 and 3 planned; a JP partner besides the two leads; both pools funded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from projects.models import Amendment, AmendmentDecision, Project, ProjectOrganisation
from projects.services.amendments import amendment_approve, amendment_propose
from tests.factories.engine import Staff, award, engine_proposal, fund_pools, make_staff
from tests.factories.proposals import Consortium

JP_TRANCHES = (40_000_000, 60_000_000, 80_000_000)
KR_TRANCHES = (400_000_000, 600_000_000, 800_000_000)
JP_PARTNER_SHARE = 30_000_000


@dataclass
class AmendWorld:
    project: Project
    staff: Staff
    c: Consortium
    partner_jp: int  # the JP partner's organisation id

    def kpi_id(self, code: str) -> int:
        return self.project.kpis.get(code=code).pk


def amend_world(*, deliverables: Any = None, **pools: Any) -> AmendWorld:
    staff = make_staff()
    fund_pools(staff, **pools)
    proposal, c = engine_proposal(
        jp=JP_TRANCHES,
        krw=KR_TRANCHES,
        months=(6, 6, 6),
        jp_partner_share=JP_PARTNER_SHARE,
        deliverables=deliverables,
    )
    project = award(proposal, staff)
    partner = ProjectOrganisation.objects.get(project=project, role="partner")
    return AmendWorld(project, staff, c, partner.organisation_id)


def propose(w: AmendWorld, *changes: dict[str, Any], by: Any = None) -> Amendment:
    return amendment_propose(
        project=w.project, actor=by or w.c.pi_jp, changes=list(changes), reason="Re-planned."
    )


def approve_by_two(w: AmendWorld, amendment: Amendment) -> AmendmentDecision:
    amendment_approve(amendment=amendment, actor=w.staff.jp)
    return amendment_approve(amendment=amendment, actor=w.staff.kr)
