"""Termination with clawback, suspension and resumption (§7, §9)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.ledger.selectors import transaction_get_by_reference, transaction_legs
from projects.models import (
    Disbursement,
    DisbursementState,
    ProjectState,
    StageState,
    TrancheState,
)
from projects.services.payments import disbursement_confirm
from projects.services.projects import (
    project_resume,
    project_suspend,
    project_terminate,
    tokyo_today,
)
from projects.services.tranches import tranche_release
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


def _released_project(staff, **kwargs):
    fund_pools(staff)
    proposal, c = engine_proposal(**kwargs)
    project = award(proposal, staff)
    for side in ("JP", "KR"):
        tranche_release(tranche_id=tranche(project, 1, side).pk)
    return project, c


def test_termination_returns_the_commitment_claws_back_unpaid_money_and_claims_paid_money(staff):
    project, c = _released_project(staff)
    paid = Disbursement.objects.get(tranche=tranche(project, 1, "JP"))
    disbursement_confirm(
        disbursement=paid, actor=staff.finance_jp, paid_on=tokyo_today(), reference="PAY-1"
    )
    unpaid = Disbursement.objects.get(tranche=tranche(project, 1, "KR"))
    jp_pool, kr_pool = pool("JP"), pool("KR")

    project_terminate(project=project, actor=staff.jp, reason="Consortium dissolved")

    project.refresh_from_db()
    assert project.state == ProjectState.TERMINATED
    assert project.ended_at is not None
    assert project.end_reason.startswith("Consortium dissolved")
    assert "¥40,000,000" in project.end_reason  # the recovery claim against paid money
    assert stage(project, 1).state == StageState.FAILED
    assert stage(project, 2).state == StageState.PLANNED
    assert tranche(project, 2, "JP").state == TrancheState.CANCELLED
    unpaid.refresh_from_db()
    assert unpaid.state == DisbursementState.CANCELLED
    assert committed(project, "JP") == committed(project, "KR") == 0
    assert payable(c.kr.pk, "KRW") == 0
    assert pool("JP") == jp_pool + 60_000_000
    assert pool("KR") == kr_pool + 600_000_000 + 400_000_000
    terminated = transaction_get_by_reference(f"project:{project.pk}:KR:terminate")
    assert terminated is not None
    legs = transaction_legs(terminated)
    assert sorted(legs) == sorted(
        [
            (f"org:{c.kr.pk}:KRW:payable", -400_000_000),
            (f"project:{project.pk}:KR:committed", -600_000_000),
            ("fund:KR:pool", 1_000_000_000),
        ]
    )
    with pytest.raises(Conflict):  # clawed back: it can no longer be paid
        disbursement_confirm(
            disbursement=unpaid, actor=staff.finance_kr, paid_on=tokyo_today(), reference="LATE"
        )
    claim = AuditEvent.objects.get(action="project.recovery_claim")
    assert claim.after is not None
    assert claim.after["paid"] == {"JPY": 40_000_000}
    assert AuditEvent.objects.filter(action="project.terminated").count() == 1
    call_command("check_ledger")


def test_termination_without_clawback_leaves_released_money_payable(staff):
    project, c = _released_project(staff)

    project_terminate(project=project, actor=staff.kr, reason="Ended early", clawback=False)

    assert payable(c.jp.pk, "JPY") == 40_000_000
    assert Disbursement.objects.filter(state=DisbursementState.PAYABLE).count() == 2
    assert committed(project, "JP") == 0
    disbursement_confirm(
        disbursement=Disbursement.objects.get(tranche=tranche(project, 1, "JP")),
        actor=staff.finance_jp,
        paid_on=tokyo_today(),
        reference="PAY-2",
    )
    call_command("check_ledger")


def test_a_decided_but_unreleased_tranche_is_cancelled_and_its_release_refused(staff):
    fund_pools(staff)
    proposal, _c = engine_proposal()
    project = award(proposal, staff)  # tranche 1 decided, not yet released

    project_terminate(project=project, actor=staff.jp, reason="Withdrawn by the consortium")

    first = tranche(project, 1, "JP")
    assert first.state == TrancheState.CANCELLED
    with pytest.raises(Conflict):
        tranche_release(tranche_id=first.pk)
    assert committed(project, "JP") == 0
    project.refresh_from_db()
    assert project.end_reason == "Withdrawn by the consortium"
    call_command("check_ledger")


def test_state_changes_need_an_officer_a_reason_and_an_allowed_transition(staff):
    project, c = _released_project(staff)

    with pytest.raises(PermissionDenied):
        project_suspend(project=project, actor=c.pi_jp, reason="x")
    with pytest.raises(ValidationFailed):
        project_terminate(project=project, actor=staff.jp, reason="  ")
    with pytest.raises(Conflict):
        project_resume(project=project, actor=staff.jp)
    project_suspend(project=project, actor=staff.jp, reason="Screening finding")
    with pytest.raises(Conflict):
        project_suspend(project=project, actor=staff.jp, reason="again")
    project_terminate(project=project, actor=staff.jp, reason="Blocked by screening")
    with pytest.raises(Conflict):
        project_terminate(project=project, actor=staff.jp, reason="again")
    assert list(
        AuditEvent.objects.filter(object_type="projects.project", object_id=str(project.pk))
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["project.created", "project.suspended", "project.terminated"]
