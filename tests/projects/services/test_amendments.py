"""Amendments to a project's plan (§24): proposal, two-person approval, what the approval
changes (KPIs, stages, budget, tranches, consortium, plan version, ledger), staleness."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command

from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied, ValidationFailed
from fundapp.ledger.descriptions import transaction_descriptions
from fundapp.ledger.models import Transaction
from fundapp.notifications.models import Notification, OutboxEvent
from projects.models import (
    KPI,
    Amendment,
    AmendmentState,
    BudgetLine,
    Deliverable,
    Gate,
    GateEvaluation,
    ProjectOrganisation,
    ProjectPerson,
    Stage,
    Tranche,
)
from projects.services.amendments import (
    amendment_approve,
    amendment_decline,
    amendment_withdraw,
)
from projects.services.gates import gate_evaluate
from tests.factories import OrganisationFactory, UserFactory, kr_org
from tests.factories.amendments import amend_world, approve_by_two, propose
from tests.factories.engine import committed, deliverable, gate_of, pool

pytestmark = pytest.mark.django_db(transaction=False)


def _tranche(w, number: int, side: str) -> Tranche:
    return Tranche.objects.get(project=w.project, stage__number=number, side=side)


# --------------------------------------------------------------------------- proposal


def test_a_pi_proposes_against_the_current_plan_version_with_a_diff():
    w = amend_world()
    kpi = w.kpi_id("K2A")

    amendment = propose(w, {"kind": "kpi", "kpi": kpi, "target": "25", "weight": "3"})

    assert amendment.state == AmendmentState.PROPOSED
    assert amendment.base_version == 1 and amendment.plan_version is None
    assert {(d["field"], d["before"], d["after"]) for d in amendment.diff} == {
        ("target", "20.000000", "25.000000"),
        ("weight", "1.0000", "3.0000"),
    }
    assert AuditEvent.objects.filter(action="amendment.proposed", object_id=str(amendment.pk))
    assert OutboxEvent.objects.filter(kind="amendment.proposed", object_id=str(amendment.pk))
    # Nothing changes before two officers approve.
    assert KPI.objects.get(pk=kpi).target == Decimal(20)
    w.project.refresh_from_db()
    assert w.project.plan_version == 1


def test_bad_changes_answer_field_errors_and_write_nothing():
    w = amend_world()
    with pytest.raises(ValidationFailed) as refused:
        propose(
            w,
            {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "10"},  # = baseline
            {"kind": "tranche", "stage": 3, "side": "JP", "planned": 50_000_000},  # < stage 2
            {"kind": "stage", "stage": 9, "months": 3},
            {"kind": "nonsense"},
        )
    errors = refused.value.errors
    assert "changes.0.target" in errors
    assert "changes.2.stage" in errors
    assert "changes.3.kind" in errors
    assert not Amendment.objects.exists()
    # The shrinking tranche alone: the §5 rule, stated for the whole plan.
    with pytest.raises(ValidationFailed) as refused:
        propose(w, {"kind": "tranche", "stage": 3, "side": "JP", "planned": 50_000_000})
    assert "smaller" in " ".join(refused.value.errors["changes"])


@pytest.mark.parametrize(
    ("change", "field", "places"),
    [
        ({"target": "20.1234567"}, "target", 6),
        ({"target": "25.50000000"}, "target", 6),
        ({"weight": "1.23456"}, "weight", 4),
    ],
)
def test_a_target_or_weight_finer_than_its_column_is_refused_not_rounded(change, field, places):
    """As in the proposal (§17): a digit the column cannot hold is an error, never rounded
    in whatever decimal context the request runs."""
    w = amend_world()
    with pytest.raises(ValidationFailed) as refused:
        propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), **change})
    assert refused.value.errors[f"changes.0.{field}"] == [f"Use at most {places} decimal places."]
    assert not Amendment.objects.exists()


def test_a_target_and_weight_that_fit_are_written_with_their_columns_places():
    w = amend_world()
    amendment = propose(
        w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25.5", "weight": "1.25"}
    )
    assert {(d["field"], d["after"]) for d in amendment.diff} == {
        ("target", "25.500000"),
        ("weight", "1.2500"),
    }


def test_an_evaluated_stage_can_never_be_amended():
    w = amend_world()
    gate = gate_of(w.project, 1)
    gate_evaluate(gate=gate, actor=None, as_of=gate.due_on)

    with pytest.raises(ValidationFailed) as refused:
        propose(w, {"kind": "kpi", "kpi": w.kpi_id("K1A"), "target": "30"})
    assert "evaluated" in refused.value.errors["changes.0.kpi"][0]
    with pytest.raises(ValidationFailed):
        propose(w, {"kind": "stage", "stage": 1, "months": 9})


def test_a_started_stages_tranche_is_not_amended():
    w = amend_world()
    with pytest.raises(ValidationFailed) as refused:
        propose(w, {"kind": "tranche", "stage": 1, "side": "JP", "planned": 45_000_000})
    assert "started" in refused.value.errors["changes.0.stage"][0]


# --------------------------------------------------------------------------- approval


def test_the_second_officer_applies_it_and_the_plan_version_moves_on():
    w = amend_world()
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})

    first = amendment_approve(amendment=amendment, actor=w.staff.jp)
    assert first.state == "pending"
    amendment.refresh_from_db()
    assert amendment.state == AmendmentState.PROPOSED
    assert KPI.objects.get(pk=w.kpi_id("K2A")).target == Decimal(20)

    second = amendment_approve(amendment=amendment, actor=w.staff.kr)

    assert second.state == "completed" and second.second_side == "KR"
    amendment.refresh_from_db()
    w.project.refresh_from_db()
    assert amendment.state == AmendmentState.APPROVED
    assert amendment.plan_version == 2 == w.project.plan_version
    assert KPI.objects.get(pk=w.kpi_id("K2A")).target == Decimal(25)
    assert AuditEvent.objects.filter(action="amendment.approved", object_id=str(amendment.pk))
    assert OutboxEvent.objects.filter(kind="amendment.decided", object_id=str(amendment.pk))
    assert Notification.objects.filter(user=w.c.pi_jp, message="amendment.decided").exists()


def test_one_person_or_one_side_cannot_approve_twice():
    w = amend_world()
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    amendment_approve(amendment=amendment, actor=w.staff.jp)

    with pytest.raises(PermissionDenied):
        amendment_approve(amendment=amendment, actor=w.staff.jp)
    with pytest.raises(PermissionDenied):
        amendment_approve(amendment=amendment, actor=w.staff.jp2)
    amendment.refresh_from_db()
    assert amendment.state == AmendmentState.PROPOSED


def test_evaluation_after_an_amendment_uses_the_new_targets_and_records_the_version():
    w = amend_world()
    gate = gate_of(w.project, 1)
    approve_by_two(w, propose(w, {"kind": "kpi", "kpi": w.kpi_id("K1A"), "target": "40"}))

    gate_evaluate(gate=gate, actor=None, as_of=gate.due_on)

    evaluation = GateEvaluation.objects.get(gate=gate)
    assert evaluation.plan_version == 2
    targets = {k["code"]: k["target"] for k in evaluation.inputs["kpis"]}
    assert Decimal(targets["K1A"]) == Decimal(40)


def test_the_evaluation_before_an_amendment_keeps_the_old_version():
    w = amend_world()
    gate = gate_of(w.project, 1)
    gate_evaluate(gate=gate, actor=None, as_of=gate.due_on)
    approve_by_two(w, propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "40"}))

    assert GateEvaluation.objects.get(gate=gate).plan_version == 1
    w.project.refresh_from_db()
    assert w.project.plan_version == 2


def test_a_stale_amendment_is_refused_at_approval():
    w = amend_world()
    first = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    second = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2B"), "weight": "5"})
    approve_by_two(w, first)

    with pytest.raises(Conflict) as refused:
        amendment_approve(amendment=second, actor=w.staff.jp)
    assert refused.value.code == "amendment_stale"
    assert refused.value.status == 409


def test_a_stage_evaluated_meanwhile_makes_it_stale():
    w = amend_world()
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K1A"), "target": "25"})
    gate = gate_of(w.project, 1)
    gate_evaluate(gate=gate, actor=None, as_of=gate.due_on)

    with pytest.raises(Conflict) as refused:
        amendment_approve(amendment=amendment, actor=w.staff.jp)
    assert refused.value.code == "amendment_stale"
    assert "evaluated" in str(refused.value.message)


# --------------------------------------------------------------------------- money


def test_a_larger_tranche_is_committed_from_the_pool_in_the_same_transaction():
    w = amend_world()
    pool_before, committed_before = pool("JP"), committed(w.project, "JP")

    amendment = propose(w, {"kind": "tranche", "stage": 3, "side": "JP", "planned": 90_000_000})
    approve_by_two(w, amendment)

    assert _tranche(w, 3, "JP").planned == 90_000_000
    assert committed(w.project, "JP") == committed_before + 10_000_000
    assert pool("JP") == pool_before - 10_000_000
    lead = ProjectOrganisation.objects.get(project=w.project, organisation=w.c.jp)
    assert lead.budget == sum((40, 60, 90), 0) * 1_000_000 - 30_000_000
    amendment.refresh_from_db()
    assert amendment.recommitted == {"JP": 10_000_000}
    txn = Transaction.objects.get(reference=f"amendment:{amendment.pk}:JP:recommit")
    assert "plan version 2" in transaction_descriptions([txn])[txn.pk]
    call_command("check_ledger")


def test_a_smaller_tranche_returns_to_the_pool():
    w = amend_world()
    pool_before, committed_before = pool("KR"), committed(w.project, "KR")

    approve_by_two(
        w,
        propose(
            w,
            {"kind": "tranche", "stage": 2, "side": "KR", "planned": 500_000_000},
        ),
    )

    assert committed(w.project, "KR") == committed_before - 100_000_000
    assert pool("KR") == pool_before + 100_000_000
    call_command("check_ledger")


def test_a_growth_the_pool_cannot_cover_is_refused_and_nothing_changes():
    w = amend_world(jp=180_000_000)  # exactly the award
    amendment = propose(w, {"kind": "tranche", "stage": 3, "side": "JP", "planned": 90_000_000})
    amendment_approve(amendment=amendment, actor=w.staff.jp)

    with pytest.raises(Conflict) as refused:
        amendment_approve(amendment=amendment, actor=w.staff.kr)

    assert refused.value.code == "pool_insufficient"
    amendment.refresh_from_db()
    assert amendment.state == AmendmentState.PROPOSED
    assert amendment.decisions.get().state == "pending"
    assert _tranche(w, 3, "JP").planned == 80_000_000


def test_a_budget_move_changes_the_shares_of_later_releases():
    w = amend_world()
    lead = ProjectOrganisation.objects.get(project=w.project, organisation=w.c.jp)
    partner = ProjectOrganisation.objects.get(project=w.project, role="partner")
    before = (lead.budget, partner.budget)

    approve_by_two(
        w,
        propose(
            w,
            {
                "kind": "budget_move",
                "from_organisation": w.c.jp.pk,
                "from_category": "personnel",
                "to_organisation": w.partner_jp,
                "to_category": "equipment",
                "amount": 5_000_000,
            },
        ),
    )

    lead.refresh_from_db()
    partner.refresh_from_db()
    assert (lead.budget, partner.budget) == (before[0] - 5_000_000, before[1] + 5_000_000)
    assert (
        BudgetLine.objects.get(
            proposal=w.project.proposal, organisation_id=w.partner_jp, category="equipment"
        ).amount
        == 5_000_000
    )
    # No money moved in the ledger: the side's total is the same.
    assert not Transaction.objects.filter(reference__startswith="amendment:").exists()


def test_a_move_across_sides_is_refused():
    w = amend_world()
    with pytest.raises(ValidationFailed) as refused:
        propose(
            w,
            {
                "kind": "budget_move",
                "from_organisation": w.c.jp.pk,
                "from_category": "personnel",
                "to_organisation": w.c.kr.pk,
                "to_category": "personnel",
                "amount": 1,
            },
        )
    assert "changes.0.to_organisation" in refused.value.errors


def test_a_partner_joins_and_another_leaves():
    w = amend_world()
    newcomer = kr_org()
    approve_by_two(
        w,
        propose(
            w,
            {
                "kind": "partner_add",
                "organisation": newcomer.pk,
                "from_organisation": w.c.kr.pk,
                "category": "personnel",
                "amount": 100_000_000,
            },
            {"kind": "partner_remove", "organisation": w.partner_jp, "to_organisation": w.c.jp.pk},
        ),
    )

    joined = ProjectOrganisation.objects.get(project=w.project, organisation=newcomer)
    assert (joined.role, joined.side, joined.currency, joined.budget) == (
        "partner",
        "KR",
        "KRW",
        100_000_000,
    )
    assert not ProjectOrganisation.objects.filter(
        project=w.project, organisation_id=w.partner_jp
    ).exists()
    lead = ProjectOrganisation.objects.get(project=w.project, organisation=w.c.jp)
    assert lead.budget == 180_000_000


def test_a_lead_cannot_leave_and_an_outsider_cannot_join_unscreened():
    w = amend_world()
    with pytest.raises(ValidationFailed):
        propose(w, {"kind": "partner_remove", "organisation": w.c.kr.pk, "to_organisation": 1})
    outsider = OrganisationFactory.create(country="US", code="US-AMEND-1")
    with pytest.raises(ValidationFailed):
        propose(
            w,
            {
                "kind": "partner_add",
                "organisation": outsider.pk,
                "from_organisation": w.c.jp.pk,
                "category": "personnel",
                "amount": 0,
            },
        )


def test_a_partner_whose_people_are_named_on_the_project_stays():
    w = amend_world()
    ProjectPerson.objects.create(
        project=w.project,
        organisation_id=w.partner_jp,
        user=UserFactory.create(),
        role="co_investigator",
        effort_percent=10,
    )
    with pytest.raises(ValidationFailed) as refused:
        propose(
            w,
            {"kind": "partner_remove", "organisation": w.partner_jp, "to_organisation": w.c.jp.pk},
        )
    assert "named" in refused.value.errors["changes.0.organisation"][0]


def test_stage_months_move_the_later_gate_days():
    w = amend_world()
    gate2, gate3 = gate_of(w.project, 2), gate_of(w.project, 3)

    approve_by_two(w, propose(w, {"kind": "stage", "stage": 2, "months": 9}))

    assert Stage.objects.get(project=w.project, number=2).months == 9
    moved2, moved3 = Gate.objects.get(pk=gate2.pk), Gate.objects.get(pk=gate3.pk)
    assert (moved2.due_on - gate2.due_on).days >= 89
    assert moved3.due_on > gate3.due_on


def test_stage_months_move_the_deliverables_of_the_stages_that_move():
    w = amend_world(
        deliverables={
            1: [deliverable("Test-chip report", due_month=5)],
            2: [deliverable("Interim design", due_month=2)],
            3: [deliverable("Prototype", due_month=1)],
        }
    )
    due = {d.title_en: d.due_on for d in Deliverable.objects.filter(stage__project=w.project)}

    approve_by_two(w, propose(w, {"kind": "stage", "stage": 1, "months": 9}))

    after = {d.title_en: d.due_on for d in Deliverable.objects.filter(stage__project=w.project)}
    # The running stage keeps its start, so its deliverable keeps its day; the planned
    # stages behind its later gate start three months later, and so do their deliverables.
    assert after["Test-chip report"] == due["Test-chip report"]
    assert after["Interim design"] > due["Interim design"]
    assert (after["Interim design"] - due["Interim design"]).days >= 89
    assert (after["Prototype"] - due["Prototype"]).days >= 89


# --------------------------------------------------------------------------- ending


def test_an_officer_of_the_other_side_declines_the_pending_approval():
    w = amend_world()
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    amendment_approve(amendment=amendment, actor=w.staff.jp)

    with pytest.raises(ValidationFailed):
        amendment_decline(amendment=amendment, actor=w.staff.kr, reason="  ")
    declined = amendment_decline(amendment=amendment, actor=w.staff.kr, reason="Not now.")

    assert declined.state == AmendmentState.DECLINED
    assert declined.decisions.get().state == "declined"
    assert AuditEvent.objects.filter(action="amendment.declined", object_id=str(amendment.pk))
    with pytest.raises(Conflict):
        amendment_approve(amendment=amendment, actor=w.staff.kr)


def test_the_first_approver_withdraws_the_approval_and_the_proposer_the_amendment():
    w = amend_world()
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})
    amendment_approve(amendment=amendment, actor=w.staff.jp)

    still = amendment_withdraw(amendment=amendment, actor=w.staff.jp)
    assert still.state == AmendmentState.PROPOSED
    assert still.decisions.get().state == "withdrawn"

    amendment_approve(amendment=amendment, actor=w.staff.kr)
    gone = amendment_withdraw(amendment=amendment, actor=w.c.pi_kr)  # the other PI
    assert gone.state == AmendmentState.WITHDRAWN
    assert gone.decisions.filter(state="cancelled").count() == 1
    assert OutboxEvent.objects.filter(kind="amendment.decided", object_id=str(amendment.pk))
