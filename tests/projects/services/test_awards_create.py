"""Award creates the project from the frozen proposal (§6): structure, commitment, tranche 1."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied
from fundapp.ledger.models import Transaction
from ip_licensing.models import ReturnAllocationEntry
from projects.models import (
    KPI,
    Disbursement,
    GateState,
    Project,
    ProjectOrganisation,
    ProjectState,
    ProposalKPI,
    StageState,
    Tranche,
    TrancheState,
)
from projects.selectors.projects import projects_visible_to
from projects.services.projects import project_create_from_proposal, tokyo_today
from tests.factories.engine import (
    award,
    committed,
    engine_proposal,
    fund_pools,
    make_staff,
    payable,
    pool,
    stage,
    tranche,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def staff():
    return make_staff()


def test_award_creates_the_project_commits_the_budget_and_releases_tranche_one(
    staff, django_capture_on_commit_callbacks
):
    fund_pools(staff)
    proposal, c = engine_proposal()

    with django_capture_on_commit_callbacks() as callbacks:
        project = award(proposal, staff)
    # Decided in the award's transaction; released only by the job enqueued after commit.
    assert tranche(project, 1, "JP").state == TrancheState.DECIDED
    for callback in callbacks:
        callback()

    project.refresh_from_db()
    assert project.state == ProjectState.ACTIVE
    assert project.title_en == "Edge AI accelerators"
    assert project.title_ja == "エッジAIアクセラレータ"
    assert project.research_area is not None
    assert project.research_area.code == "semiconductor.ai"
    assert project.started_on == tokyo_today()
    assert project.current_stage == stage(project, 1)
    orgs = list(ProjectOrganisation.objects.filter(project=project))
    assert [(o.organisation_id, o.role, o.side, o.currency, o.budget) for o in orgs] == [
        (c.jp.pk, "lead_jp", "JP", "JPY", 100_000_000),
        (c.kr.pk, "lead_kr", "KR", "KRW", 1_000_000_000),
    ]
    # Every named person sees the project (guardian), others do not.
    assert list(projects_visible_to(c.pi_jp)) == [project]
    assert list(projects_visible_to(c.pi_kr)) == [project]
    assert c.pi_jp.has_perm("projects.view_project", project)
    assert KPI.objects.filter(project=project).count() == 4
    s1, s2 = stage(project, 1), stage(project, 2)
    assert (s1.state, s1.started_on) == (StageState.ACTIVE, project.started_on)
    assert (s2.state, s2.started_on) == (StageState.PLANNED, None)
    assert s1.gate.state == GateState.PENDING
    # Tranche 1 of each side released by the release job, through the ledger.
    t1_jp, t1_kr = tranche(project, 1, "JP"), tranche(project, 1, "KR")
    assert (t1_jp.state, t1_jp.released, t1_jp.multiplier) == (TrancheState.RELEASED, 40_000_000, 1)
    assert (t1_kr.state, t1_kr.released) == (TrancheState.RELEASED, 400_000_000)
    assert t1_jp.ledger_transaction is not None
    assert t1_jp.ledger_transaction.reference == f"tranche:{t1_jp.pk}:release"
    assert tranche(project, 2, "JP").state == TrancheState.PLANNED
    assert list(
        Disbursement.objects.filter(tranche=t1_jp).values_list("organisation", "amount")
    ) == [(c.jp.pk, 40_000_000)]
    assert payable(c.jp.pk, "JPY") == 40_000_000
    assert payable(c.kr.pk, "KRW") == 400_000_000
    # The whole budget was committed; what is not released is still committed.
    assert Transaction.objects.get(reference=f"project:{project.pk}:JP:commit").kind == (
        "award_commitment"
    )
    assert committed(project, "JP") == 60_000_000
    assert committed(project, "KR") == 600_000_000
    assert pool("JP") == 10_000_000_000 - 100_000_000
    # Default return allocation: JPY 100M against KRW 1,000M at 9 KRW/JPY → 900 : 1000.
    table = dict(
        ReturnAllocationEntry.objects.filter(project=project).values_list(
            "organisation", "basis_points"
        )
    )
    assert table == {c.jp.pk: 4737, c.kr.pk: 5263}
    assert sum(table.values()) == 10_000
    actions = set(
        AuditEvent.objects.filter(
            object_type="projects.project", object_id=str(project.pk)
        ).values_list("action", flat=True)
    )
    assert "project.created" in actions
    assert AuditEvent.objects.filter(action="tranche.released").count() == 2
    call_command("check_ledger")


def test_award_freezes_each_kpis_evidence_level_and_means_of_verification(staff):
    fund_pools(staff)
    proposal, _c = engine_proposal(
        mandatory_kpi={
            "evidence": "attested",
            "means_of_verification_en": "Test report of an accredited laboratory",
            "means_of_verification_ja": "認定試験所の試験報告書",
        }
    )

    project = award(proposal, staff)

    kpis = {k.code: k for k in KPI.objects.filter(project=project)}
    assert (kpis["K1A"].evidence, kpis["K1A"].means_of_verification_en) == (
        "attested",
        "Test report of an accredited laboratory",
    )
    assert kpis["K1A"].means_of_verification_ja == "認定試験所の試験報告書"
    assert (kpis["K1B"].evidence, kpis["K1B"].means_of_verification_en) == ("none", "")
    # Changing the proposal after award changes nothing of the project's KPIs.
    ProposalKPI.objects.filter(proposal=proposal).update(evidence="document")
    assert KPI.objects.get(pk=kpis["K1A"].pk).evidence == "attested"


def test_a_proposal_frozen_before_evidence_levels_awards_kpis_at_level_none(staff):
    fund_pools(staff)
    proposal, _c = engine_proposal()
    version = proposal.versions.order_by("-number").first()
    assert version is not None
    content = version.content
    for s in content["stages"]:
        for k in s["kpis"]:
            del k["evidence"], k["means_of_verification"]
    type(version).objects.filter(pk=version.pk).update(content=content)

    project = award(proposal, staff)

    assert set(KPI.objects.filter(project=project).values_list("evidence", flat=True)) == {"none"}


def test_gate_days_follow_calendar_months_and_later_stages_chain_from_the_gate_day(staff):
    fund_pools(staff)
    proposal, _c = engine_proposal(
        jp=(10_000_000, 20_000_000, 30_000_000),
        krw=(100_000_000, 200_000_000, 300_000_000),
        months=(1, 12, 6),
    )

    project = award(proposal, staff, started_on=date(2026, 1, 31))

    gates = [stage(project, n).gate.due_on for n in (1, 2, 3)]
    # 31 Jan + 1 month = 28 Feb; stage 2 starts 1 Mar, + 12 months; stage 3 starts the day after.
    assert gates == [date(2026, 2, 28), date(2027, 3, 1), date(2027, 9, 2)]


def test_tranches_split_by_budget_share_with_largest_remainder(
    staff, django_capture_on_commit_callbacks
):
    fund_pools(staff)
    # JP side: lead 2/3, partner 1/3 of the budget; tranche 1 of 10,000,001 yen.
    proposal, c = engine_proposal(
        jp=(10_000_001, 20_000_002), krw=(300, 600), jp_partner_share=10_000_001
    )

    with django_capture_on_commit_callbacks(execute=True):
        project = award(proposal, staff)

    parts = list(
        Disbursement.objects.filter(tranche=tranche(project, 1, "JP"))
        .order_by("id")
        .values_list("organisation", "amount")
    )
    partner = ProjectOrganisation.objects.get(project=project, role="partner").organisation_id
    # 10,000,001 × 2/3 = 6,666,667.33; × 1/3 = 3,333,333.67 → the partner's larger remainder.
    assert parts == [(c.jp.pk, 6_666_667), (partner, 3_333_334)]
    assert sum(a for _o, a in parts) == 10_000_001
    call_command("check_ledger")


def test_an_award_that_would_over_commit_a_pool_is_refused_and_nothing_is_saved(staff):
    # Enough yen, too few won: the JP commitment must be rolled back too.
    fund_pools(staff, kr=999_999_999)
    proposal, _c = engine_proposal()
    transactions = Transaction.objects.count()

    with pytest.raises(Conflict) as refused:
        award(proposal, staff)

    assert refused.value.code == "pool_insufficient"
    assert "KR pool holds ₩999,999,999" in str(refused.value)
    assert "₩1,000,000,000" in str(refused.value)
    assert not Project.objects.exists()
    assert not Tranche.objects.exists()
    assert Transaction.objects.count() == transactions
    assert pool("JP") == 10_000_000_000
    assert pool("KR") == 999_999_999
    call_command("check_ledger")


def test_only_officers_award_and_a_proposal_is_awarded_once(staff):
    fund_pools(staff)
    proposal, c = engine_proposal()

    with pytest.raises(PermissionDenied):
        project_create_from_proposal(proposal=proposal, actor=c.pi_jp)
    award(proposal, staff)
    with pytest.raises(Conflict) as again:
        award(proposal, staff)

    assert again.value.code == "already_awarded"
    assert Project.objects.count() == 1
