"""A running project with its people, built through the services as the product builds it.

Award (``project_create_from_proposal``) with a start date 400 days ago, so stage 1's gate
(12 months) is already due; tranche 1 released; stage 1 measured; optionally evaluated.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from fundapp.accounts.models import Role, User
from projects.models import (
    KPI,
    Attachment,
    Call,
    Gate,
    Project,
    Proposal,
    Stage,
    Tranche,
    TrancheState,
)
from projects.rules.gates import GATE_TIMEZONE
from projects.services import proposals as proposal_svc
from projects.services.gates import gate_evaluate, today_in_tokyo
from projects.services.measurements import measurement_record
from projects.services.payments import fund_contribute
from projects.services.projects import project_create_from_proposal
from projects.services.tranches import tranche_release
from tests.factories import (
    CallFactory,
    ResearchAreaFactory,
    UserFactory,
    jp_org,
    member_of,
    officer,
)
from tests.factories.proposals import (
    Consortium,
    complete_changes,
    make_consortium,
    pdf_upload,
    report_pdf,
)

_references = itertools.count(1)


@dataclass
class World:
    project: Project
    call: Call
    consortium: Consortium
    officer_jp: User
    officer_kr: User
    officer_jp2: User
    finance_jp: User
    finance_kr: User
    reviewer: User
    stranger: User  # a researcher of an organisation outside the consortium

    @property
    def researcher(self) -> User:
        return self.consortium.pi_jp

    def stage(self, number: int) -> Stage:
        return Stage.objects.select_related("gate").get(project=self.project, number=number)

    def gate(self, number: int) -> Gate:
        return Gate.objects.get(stage__project=self.project, stage__number=number)

    def kpi(self, code: str) -> KPI:
        return KPI.objects.get(project=self.project, code=code)

    def tranche(self, number: int, side: str) -> Tranche:
        return Tranche.objects.get(project=self.project, stage__number=number, side=side)


def fund_the_pools(actor: User, call: Call) -> None:
    for side, to, amount in (
        ("JP", "pool", 10_000_000_000),
        ("KR", "pool", 100_000_000_000),
        ("JP", "reserve", 1_000_000_000),
        ("KR", "reserve", 10_000_000_000),
    ):
        fund_contribute(
            fund=call.fund,
            side=side,
            amount=amount,
            to=to,
            actor=actor,
            reference=f"pages-{next(_references)}",
        )


def submitted_proposal(c: Consortium, area_code: str) -> Proposal:
    """A complete proposal in ``area_code``, submitted by the Japanese PI."""
    changes = complete_changes(c)
    changes["basics"]["research_area"] = area_code
    proposal = proposal_svc.proposal_create(actor=c.pi_jp, call=c.call)
    proposal = proposal_svc.proposal_update(
        proposal=proposal, actor=c.pi_jp, expected_version=proposal.version, changes=changes
    )
    proposal_svc.attachment_add(
        proposal=proposal, actor=c.pi_jp, upload=pdf_upload(), kind=Attachment.Kind.RESEARCH_PLAN
    )
    proposal.refresh_from_db()
    return proposal_svc.proposal_submit(proposal=proposal, actor=c.pi_jp)


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=GATE_TIMEZONE)


def build_world(
    *,
    auto_release: bool = False,
    values: tuple[str, str] = ("22", "21"),
    evaluate: bool = True,
    area_code: str = "semiconductor.ai",
) -> World:
    """A project whose stage 1 gate is due, measured with ``values`` for K1A and K1B
    (baseline 10, target 20: the defaults pass), and evaluated unless told not to."""
    call = CallFactory.create(
        research_areas=[ResearchAreaFactory.create(code=area_code)],
        auto_release_on_pass=auto_release,
    )
    officer_jp, officer_kr = officer("JP"), officer("KR")
    fund_the_pools(officer_jp, call)
    consortium = make_consortium(call)
    proposal = submitted_proposal(consortium, area_code)
    started_on = today_in_tokyo() - timedelta(days=400)
    project = project_create_from_proposal(
        proposal=proposal, actor=officer_kr, started_on=started_on
    )
    # Tranche 1 is released after the award commits; a test transaction never commits.
    for tranche in Tranche.objects.filter(project=project, state=TrancheState.DECIDED):
        tranche_release(tranche_id=tranche.pk)
    world = World(
        project=project,
        call=call,
        consortium=consortium,
        officer_jp=officer_jp,
        officer_kr=officer_kr,
        officer_jp2=officer("JP"),
        finance_jp=UserFactory.create(role=Role.FINANCE_OFFICER, side="JP"),
        finance_kr=UserFactory.create(role=Role.FINANCE_OFFICER, side="KR"),
        reviewer=UserFactory.create(role=Role.REVIEWER),
        stranger=member_of(jp_org()),
    )
    measured = at_noon(started_on + timedelta(days=30))
    for code, value in zip(("K1A", "K1B"), values, strict=True):
        measurement_record(
            kpi=world.kpi(code),
            actor=consortium.pi_jp,
            value=value,
            measured_at=measured,
            note=f"Lab report for {code}",
            source="browser",
            # Mandatory KPIs count only measurements with an evidence file (§22).
            # One report per KPI: the same file behind two KPIs is an anomaly (§22).
            evidence=pdf_upload(f"report-{code}.pdf", report_pdf(code)),
        )
    if evaluate:
        gate_evaluate(gate=world.gate(1), actor=officer_jp)
    return world
