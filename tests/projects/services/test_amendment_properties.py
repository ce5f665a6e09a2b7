"""Any sequence of amendments, valid or not, proposed and approved by two officers (§24):
the plan still obeys every §5 rule, the ledger's committed money of each side is exactly
the plan's unreleased planned tranches, and ``check_ledger`` finds nothing."""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fundapp.errors import DomainError
from projects.models import BudgetLine, ProjectOrganisation, Tranche, TrancheState
from projects.services.amendments import amendment_approve, amendment_propose
from tests.factories import kr_org
from tests.factories.amendments import AmendWorld, amend_world
from tests.factories.engine import committed

pytestmark = pytest.mark.django_db(transaction=False)

CATEGORIES = ["personnel", "equipment", "other"]

TRANCHE = st.fixed_dictionaries(
    {
        "kind": st.just("tranche"),
        "stage": st.sampled_from([1, 2, 3]),
        "side": st.sampled_from(["JP", "KR"]),
        "planned": st.one_of(
            st.integers(0, 200_000_000), st.integers(0, 2_000_000_000), st.just(-1)
        ),
    }
)
MOVE = st.fixed_dictionaries(
    {
        "kind": st.just("budget_move"),
        "from": st.sampled_from(["jp", "partner", "kr", "newcomer"]),
        "to": st.sampled_from(["jp", "partner", "kr", "newcomer"]),
        "from_category": st.sampled_from(CATEGORIES),
        "to_category": st.sampled_from(CATEGORIES),
        "amount": st.integers(0, 400_000_000),
    }
)
KPI = st.fixed_dictionaries(
    {
        "kind": st.just("kpi"),
        "code": st.sampled_from(["K1A", "K2A", "K2B", "K3B"]),
        "target": st.sampled_from(["10", "15", "25", "1e3", "x"]),
    }
)
PARTNER = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["partner_add", "partner_remove"]),
        "amount": st.integers(0, 300_000_000),
    }
)
STEP = st.tuples(
    st.lists(st.one_of(TRANCHE, MOVE, KPI, PARTNER), min_size=1, max_size=3),
    # Propose only, approve once, or approve by both sides.
    st.sampled_from(["propose", "approve_once", "approve"]),
)


@pytest.fixture
def world() -> tuple[AmendWorld, int]:
    return amend_world(jp=300_000_000, kr=2_500_000_000), kr_org().pk


def _change(w: AmendWorld, newcomer: int, raw: dict) -> dict:
    orgs = {"jp": w.c.jp.pk, "partner": w.partner_jp, "kr": w.c.kr.pk, "newcomer": newcomer}
    if raw["kind"] == "budget_move":
        return {
            "kind": "budget_move",
            "from_organisation": orgs[raw["from"]],
            "from_category": raw["from_category"],
            "to_organisation": orgs[raw["to"]],
            "to_category": raw["to_category"],
            "amount": raw["amount"],
        }
    if raw["kind"] == "kpi":
        return {"kind": "kpi", "kpi": w.kpi_id(raw["code"]), "target": raw["target"]}
    if raw["kind"] == "partner_add":
        return {
            "kind": "partner_add",
            "organisation": newcomer,
            "from_organisation": w.c.kr.pk,
            "category": "personnel",
            "amount": raw["amount"],
        }
    if raw["kind"] == "partner_remove":
        return {"kind": "partner_remove", "organisation": newcomer, "to_organisation": w.c.kr.pk}
    return dict(raw)


def _assert_plan_and_ledger(w: AmendWorld) -> None:
    call = w.project.call
    tranches = list(Tranche.objects.filter(project=w.project).select_related("stage"))
    for side, maximum in (("JP", call.max_budget_jpy), ("KR", call.max_budget_krw)):
        planned = [
            t.planned for t in sorted(tranches, key=lambda t: t.stage.number) if t.side == side
        ]
        assert planned == sorted(planned), planned  # §5: never shrinking
        assert sum(planned) <= maximum
        budget = ProjectOrganisation.objects.filter(project=w.project, side=side).aggregate(
            s=Sum("budget")
        )["s"]
        assert budget == sum(planned)
        unreleased = sum(
            t.planned
            for t in tranches
            if t.side == side and t.state in (TrancheState.PLANNED, TrancheState.DECIDED)
        )
        assert committed(w.project, side) == unreleased
    lines: dict[int, int] = defaultdict(int)
    for org_id, amount in BudgetLine.objects.filter(proposal=w.project.proposal).values_list(
        "organisation_id", "amount"
    ):
        assert amount >= 0
        lines[org_id] += amount
    for member in ProjectOrganisation.objects.filter(project=w.project):
        assert lines[member.organisation_id] == member.budget


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=1, max_size=6))
def test_any_sequence_of_amendments_keeps_the_plan_and_the_ledger_consistent(world, steps):
    w, newcomer = world
    with transaction.atomic():
        for raw_changes, how in steps:
            changes = [_change(w, newcomer, raw) for raw in raw_changes]
            try:
                with transaction.atomic():
                    amendment = amendment_propose(
                        project=w.project, actor=w.c.pi_kr, changes=changes, reason="Re-plan."
                    )
                    if how != "propose":
                        amendment_approve(amendment=amendment, actor=w.staff.kr)
                    if how == "approve":
                        amendment_approve(amendment=amendment, actor=w.staff.jp)
                event(f"{how} done")
            except DomainError as exc:
                event(f"{how} refused: {exc.code}")
            w.project.refresh_from_db()
            _assert_plan_and_ledger(w)
        call_command("check_ledger")
        transaction.set_rollback(True)


def test_a_stale_pending_amendment_stays_refused_after_another_is_applied(world):
    """Two amendments written against version 1: once one is applied, the other cannot be."""
    w, _newcomer = world
    first = amendment_propose(
        project=w.project,
        actor=w.c.pi_jp,
        changes=[{"kind": "tranche", "stage": 3, "side": "JP", "planned": 90_000_000}],
        reason="More for stage 3.",
    )
    second = amendment_propose(
        project=w.project,
        actor=w.c.pi_jp,
        changes=[{"kind": "tranche", "stage": 3, "side": "JP", "planned": 85_000_000}],
        reason="A little more for stage 3.",
    )
    amendment_approve(amendment=second, actor=w.staff.kr)
    amendment_approve(amendment=first, actor=w.staff.jp)
    amendment_approve(amendment=first, actor=w.staff.kr)

    with pytest.raises(DomainError) as refused:
        amendment_approve(amendment=second, actor=w.staff.jp)
    assert refused.value.code == "amendment_stale"
    _assert_plan_and_ledger(w)
