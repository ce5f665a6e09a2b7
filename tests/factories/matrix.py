"""One funding-engine world for the permission matrix, built through the real services.

A proposal goes the whole way a real one does: submitted by the Japanese PI, endorsed by
both research offices, reviewed, and awarded by two fund officers of different sides
(``award_approve`` twice), which creates the project. The award is dated 400 days back
(the engine's clock, ``projects.services.projects.tokyo_today``, is held there while the
second officer approves), so stage 1's 12-month gate is already due. Tranche 1 is then
released (its on-commit task never runs inside a test transaction), stage 1 is measured
and its gate evaluated: a PASS without automatic release, waiting for the officers'
decision. The JP tranche leaves one payable JPY disbursement to the JP lead organisation.

Around it stand everyone the matrix asks about: people of each role, and three partner
systems' API keys (the JP lead organisation's with every scope, an unrelated
organisation's with every scope, and a Japanese agency's finance system with
``payments:write``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from unittest import mock

from fundapp.accounts.models import ApiKey, Organisation, Role, Scope, User, hash_secret
from projects.models import (
    Disbursement,
    DisbursementState,
    Gate,
    GateState,
    Project,
    Proposal,
    Tranche,
    TrancheState,
)
from projects.services import awards as award_svc
from projects.services import reviews as review_svc
from projects.services.gates import gate_evaluate, today_in_tokyo
from projects.services.measurements import measurement_record
from projects.services.tranches import tranche_release
from tests.factories import (
    CallFactory,
    ResearchAreaFactory,
    UserFactory,
    jp_org,
    member_of,
    officer,
)
from tests.factories.pages import at_noon, fund_the_pools
from tests.factories.proposals import Consortium, make_consortium, pdf_upload
from tests.factories.review import (
    add_criteria,
    eligible_proposal,
    submit_review,
)
from tests.factories.review import reviewer as make_reviewer

ALL_SCOPES = tuple(Scope.values)
AWARD_DAYS_AGO = 400


@dataclass
class MatrixWorld:
    project: Project
    proposal: Proposal
    gate: Gate
    disbursement_jpy: Disbursement
    consortium: Consortium
    officer_jp: User
    officer_kr: User
    finance_jp: User
    finance_kr: User
    screening: User
    reviewer: User
    stranger: User
    # Full bearer keys (shown once at creation; only their hash is stored).
    key_own: str
    key_other: str
    key_agency_jp: str

    def person(self, role: str) -> User | None:
        return {
            "pi_jp": self.consortium.pi_jp,
            "stranger": self.stranger,
            "office_kr": self.consortium.office_kr,
            "reviewer": self.reviewer,
            "officer_jp": self.officer_jp,
            "officer_kr": self.officer_kr,
            "finance_jp": self.finance_jp,
            "finance_kr": self.finance_kr,
            "screening": self.screening,
        }.get(role)

    def key(self, role: str) -> str | None:
        return {
            "key_own": self.key_own,
            "key_other": self.key_other,
            "key_agency_jp": self.key_agency_jp,
        }.get(role)


def issue_key(org: Organisation, scopes: tuple[str, ...]) -> str:
    """An API key as ``issue_api_key`` makes one; returns the full bearer key."""
    key_id, secret, full_key = ApiKey.generate()
    ApiKey.objects.create(
        organisation=org,
        name=f"{org.code} partner system",
        key_id=key_id,
        secret_hash=hash_secret(secret),
        scopes=list(scopes),
    )
    return full_key


def build_matrix_world() -> MatrixWorld:
    area = ResearchAreaFactory.create(code="semiconductor.ai")
    call = CallFactory.create(research_areas=[area], auto_release_on_pass=False)
    officer_jp, officer_kr = officer("JP"), officer("KR")
    fund_the_pools(officer_jp, call)

    # Submitted, endorsed by both research offices (eligible), reviewed, awarded.
    consortium = make_consortium(call)
    proposal, consortium = eligible_proposal(consortium)
    add_criteria(call)
    review_svc.proposal_start_review(proposal=proposal, actor=officer_jp)
    reviewer = make_reviewer()
    submit_review(proposal, reviewer, officer_jp, 4, 4, 5)
    award_svc.award_approve(
        proposal=proposal, actor=officer_jp, outcome="award", reason="Strong, ranked first."
    )
    started_on = today_in_tokyo() - timedelta(days=AWARD_DAYS_AGO)
    with mock.patch("projects.services.projects.tokyo_today", return_value=started_on):
        award_svc.award_approve(
            proposal=proposal, actor=officer_kr, outcome="award", reason="Agreed."
        )
    project = Project.objects.get(proposal=proposal)
    assert project.started_on == started_on

    # Tranche 1 is released after the award commits; a test transaction never commits.
    for tranche in Tranche.objects.filter(project=project, state=TrancheState.DECIDED):
        tranche_release(tranche_id=tranche.pk)

    stage_1_start = at_noon(started_on + timedelta(days=30))
    for code, value in (("K1A", "22"), ("K1B", "21")):
        measurement_record(
            kpi=project.kpis.get(code=code),
            actor=consortium.pi_jp,
            value=value,
            measured_at=stage_1_start,
            note=f"Lab report for {code}",
            source="browser",
            # Mandatory KPIs count only measurements with an evidence file (§22).
            evidence=pdf_upload(f"report-{code}.pdf"),
        )
    gate = Gate.objects.get(stage__project=project, stage__number=1)
    gate_evaluate(gate=gate, actor=officer_jp)
    gate.refresh_from_db()
    assert gate.state == GateState.EVALUATED, gate.state

    disbursement = Disbursement.objects.get(
        tranche__project=project,
        tranche__side="JP",
        organisation=consortium.jp,
        state=DisbursementState.PAYABLE,
    )
    assert disbursement.currency == "JPY"

    stranger_org = jp_org()
    stranger = member_of(stranger_org)
    agency = jp_org(kind=Organisation.Kind.AGENCY)
    return MatrixWorld(
        project=project,
        proposal=proposal,
        gate=gate,
        disbursement_jpy=disbursement,
        consortium=consortium,
        officer_jp=officer_jp,
        officer_kr=officer_kr,
        finance_jp=UserFactory.create(role=Role.FINANCE_OFFICER, side="JP"),
        finance_kr=UserFactory.create(role=Role.FINANCE_OFFICER, side="KR"),
        screening=UserFactory.create(role=Role.SCREENING_OFFICER),
        reviewer=reviewer,
        stranger=stranger,
        key_own=issue_key(consortium.jp, ALL_SCOPES),
        key_other=issue_key(stranger_org, ALL_SCOPES),
        key_agency_jp=issue_key(agency, (Scope.PAYMENTS_WRITE.value,)),
    )
