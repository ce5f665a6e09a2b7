"""Property: any sequence of awards, releases, decisions, payments and terminations keeps the
ledger consistent (§9) and the engine's books equal to the ledger's balances."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fundapp.errors import Conflict, DomainError
from fundapp.ledger.selectors import (
    account_balance,
    account_balances,
    ledger_verify,
    transaction_legs,
)
from projects.models import (
    Disbursement,
    DisbursementState,
    Gate,
    GateState,
    Project,
    ProjectOrganisation,
    ProjectState,
    StageState,
    Tranche,
    TrancheState,
)
from projects.rules.gates import split_by_budget, tranche_amounts
from projects.services.decisions import gate_decide_automatically, gate_decision_approve
from projects.services.payments import disbursement_confirm
from projects.services.projects import (
    project_create_from_proposal,
    project_resume,
    project_suspend,
    project_terminate,
    tokyo_today,
)
from projects.services.tranches import tranche_release
from tests.factories import jp_org
from tests.factories.engine import engine_proposal, fund_pools, make_staff, record_evaluation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

SIDES = st.sampled_from(["JP", "KR"])
PROJECT = st.integers(0, 2)
PICK = st.integers(0, 40)
OPERATION = st.one_of(
    st.tuples(
        st.just("contribute"), SIDES, st.sampled_from(["pool", "reserve"]), st.integers(1, 10**9)
    ),
    st.tuples(st.just("award"), PROJECT),
    st.tuples(st.just("release"), PICK),
    st.tuples(st.just("pass"), PROJECT, st.sampled_from(["1.0000", "1.1234", "1.5000"])),
    st.tuples(st.just("conditional"), PROJECT),
    st.tuples(st.just("confirm"), PICK),
    st.tuples(st.just("terminate"), PROJECT, st.booleans()),
    st.tuples(st.just("suspend"), PROJECT),
    st.tuples(st.just("resume"), PROJECT),
)


@pytest.fixture
def world():
    staff = make_staff()
    proposals = [
        engine_proposal()[0],
        engine_proposal(jp=(10_000_001, 20_000_000, 30_000_003), krw=(7, 700, 7_000))[0],
        engine_proposal(jp=(33_333_333, 33_333_334), krw=(0, 5_000_000), jp_partner_share=1)[0],
    ]
    return staff, proposals


def _project(proposals, index) -> Project | None:
    return Project.objects.filter(proposal=proposals[index]).first()


def _running_gate(project: Project | None) -> Gate | None:
    if project is None or project.state != ProjectState.ACTIVE:
        return None
    return (
        Gate.objects.filter(
            stage__project=project,
            stage__state__in=[StageState.ACTIVE, StageState.EXTENDED, StageState.GATE_PENDING],
        )
        .exclude(state=GateState.DECIDED)
        .first()
    )


def _apply(op, staff, proposals) -> bool:
    """Carry out one operation; False if there was nothing to do it to."""
    name = op[0]
    if name == "contribute":
        _name, side, to, amount = op
        fund_pools(
            staff,
            jp=amount if (side, to) == ("JP", "pool") else 0,
            kr=amount if (side, to) == ("KR", "pool") else 0,
            jp_reserve=amount if (side, to) == ("JP", "reserve") else 0,
            kr_reserve=amount if (side, to) == ("KR", "reserve") else 0,
        )
    elif name == "award":
        project_create_from_proposal(proposal=proposals[op[1]], actor=staff.kr)
    elif name == "release":
        decided = list(Tranche.objects.filter(state=TrancheState.DECIDED).order_by("pk"))
        if not decided:
            return False
        tranche_release(tranche_id=decided[op[1] % len(decided)].pk)
    elif name == "pass":
        gate = _running_gate(_project(proposals, op[1]))
        if gate is None:
            return False
        evaluation = record_evaluation(gate, outcome="pass", score=op[2])
        gate_decide_automatically(evaluation=evaluation)
    elif name == "conditional":
        gate = _running_gate(_project(proposals, op[1]))
        if gate is None:
            return False
        record_evaluation(gate, outcome="conditional", score="0.9000")
        gate_decision_approve(gate=gate, actor=staff.jp, kind="release_reduced")
        gate_decision_approve(gate=gate, actor=staff.kr, kind="release_reduced")
    elif name == "confirm":
        payable = list(
            Disbursement.objects.filter(state=DisbursementState.PAYABLE)
            .select_related("tranche")
            .order_by("pk")
        )
        if not payable:
            return False
        chosen = payable[op[1] % len(payable)]
        finance = staff.finance_jp if chosen.tranche.side == "JP" else staff.finance_kr
        disbursement_confirm(
            disbursement=chosen, actor=finance, paid_on=tokyo_today(), reference=f"P{op[1]}"
        )
    else:
        project = _project(proposals, op[1])
        if project is None:
            return False
        if name == "terminate":
            project_terminate(project=project, actor=staff.jp, reason="test", clawback=op[2])
        elif name == "suspend":
            project_suspend(project=project, actor=staff.jp, reason="test")
        else:
            project_resume(project=project, actor=staff.jp)
    return True


def _assert_books_match_the_ledger() -> None:
    report = ledger_verify()
    assert report.ok, report.breaches
    balances = account_balances()
    # What a project still owes: its planned and decided tranches, exactly.
    owed: dict[str, int] = defaultdict(int)
    for project_id, side, planned in Tranche.objects.filter(
        state__in=[TrancheState.PLANNED, TrancheState.DECIDED]
    ).values_list("project_id", "side", "planned"):
        owed[f"project:{project_id}:{side}:committed"] += planned
    committed = {code: b for code, b in balances.items() if code.endswith(":committed") and b}
    assert committed == {code: amount for code, amount in owed.items() if amount}
    # Each organisation's payable and paid accounts equal its disbursements in that state.
    for state, suffix in ((DisbursementState.PAYABLE, "payable"), (DisbursementState.PAID, "paid")):
        expected = {
            f"org:{row['organisation_id']}:{row['currency']}:{suffix}": row["total"]
            for row in Disbursement.objects.filter(state=state)
            .values("organisation_id", "currency")
            .annotate(total=Sum("amount"))
        }
        actual = {code: b for code, b in balances.items() if code.endswith(f":{suffix}") and b}
        assert actual == {code: amount for code, amount in expected.items() if amount}
    for released in Tranche.objects.filter(state=TrancheState.RELEASED):
        parts = released.disbursements.aggregate(total=Sum("amount"))["total"] or 0
        assert parts == released.released


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    # Enough for all three projects, or for two (the third award is refused).
    pools=st.sampled_from([(400_000_000, 4_000_000_000), (170_000_000, 1_100_000_000)]),
    reserves=st.tuples(st.integers(0, 5_000_000), st.integers(0, 50_000_000)),
    operations=st.lists(OPERATION, min_size=3, max_size=16),
)
def test_any_sequence_of_operations_keeps_the_ledger_and_the_books_consistent(
    world, pools, reserves, operations
):
    staff, proposals = world
    with transaction.atomic():
        fund_pools(staff, jp=pools[0], kr=pools[1], jp_reserve=reserves[0], kr_reserve=reserves[1])
        # Award all three first (the pools may refuse some), then anything in any order.
        for op in [("award", 0), ("award", 1), ("award", 2), *operations]:
            try:
                with transaction.atomic():
                    done = _apply(op, staff, proposals)
                event(f"{op[0]} {'done' if done else 'nothing to do'}")
            except DomainError as exc:
                event(f"{op[0]} refused: {exc.code}")  # nothing changed
            _assert_books_match_the_ledger()
        transaction.set_rollback(True)


@pytest.fixture
def decided_tranche(monkeypatch):
    """An awarded project whose first JP tranche is decided and not yet released."""
    monkeypatch.setattr(
        "projects.services.tranches.tranche_enqueue_release", lambda tranche_id: None
    )
    staff = make_staff()
    fund_pools(staff)
    proposal, _c = engine_proposal()
    project = project_create_from_proposal(proposal=proposal, actor=staff.kr)
    return staff, Tranche.objects.get(project=project, stage__number=1, side="JP")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    budgets=st.lists(st.one_of(st.just(0), st.integers(1, 10**10)), min_size=1, max_size=8),
    multiplier=st.one_of(
        st.sampled_from([Decimal(0), Decimal("0.8"), Decimal(1), Decimal("1.1"), Decimal("1.5")]),
        st.decimals(min_value=0, max_value=2, places=4),
    ),
    reserve=st.one_of(st.just(0), st.integers(1, 100), st.integers(0, 20_000_000)),
)
def test_releasing_a_tranche_posts_exactly_its_sizing_and_split(
    decided_tranche, budgets, multiplier, reserve
):
    """Any organisations and budgets (zeros included), any multiplier, any reserve: the
    release moves what ``tranche_amounts`` and ``split_by_budget`` say, once, and the
    ledger stays clean."""
    staff, first = decided_tranche
    with transaction.atomic():
        organisations = list(
            ProjectOrganisation.objects.filter(project_id=first.project_id, side="JP")
        )
        ProjectOrganisation.objects.filter(pk__in=[o.pk for o in organisations]).update(budget=0)
        for index, budget in enumerate(budgets):
            if index < len(organisations):
                ProjectOrganisation.objects.filter(pk=organisations[index].pk).update(
                    budget=budget, order=index
                )
            else:
                ProjectOrganisation.objects.create(
                    project_id=first.project_id,
                    organisation=jp_org(),
                    role="partner",
                    side="JP",
                    currency="JPY",
                    budget=budget,
                    order=index,
                )
        fund_pools(staff, jp=0, kr=0, jp_reserve=reserve)
        Tranche.objects.filter(pk=first.pk).update(multiplier=multiplier)
        order = list(
            ProjectOrganisation.objects.filter(project_id=first.project_id, side="JP")
            .order_by("order", "id")
            .values_list("organisation_id", "budget")
        )
        sizing = tranche_amounts(first.planned, multiplier, reserve)

        if sizing.released and not any(budget for _org, budget in order):
            with pytest.raises(Conflict):
                tranche_release(tranche_id=first.pk)
            event("no budget: refused")
        else:
            released = tranche_release(tranche_id=first.pk)
            again = tranche_release(tranche_id=first.pk)

            parts = split_by_budget(sizing.released, order) if sizing.released else []
            assert again.ledger_transaction_id == released.ledger_transaction_id
            assert (released.released, released.from_reserve, released.returned_to_pool) == (
                sizing.released,
                sizing.from_reserve,
                sizing.returned_to_pool,
            )
            assert sorted(
                Disbursement.objects.filter(tranche=first).values_list("organisation_id", "amount")
            ) == sorted((org, amount) for org, amount in parts if amount)
            expected = {
                f"project:{first.project_id}:JP:committed": -first.planned,
                "fund:JP:reserve": -sizing.from_reserve,
                "fund:JP:pool": sizing.returned_to_pool,
            }
            for org, amount in parts:
                expected[f"org:{org}:JPY:payable"] = amount
            assert released.ledger_transaction is not None
            assert sorted(transaction_legs(released.ledger_transaction)) == sorted(
                (code, amount) for code, amount in expected.items() if amount
            )
            assert account_balance("fund:JP:reserve") == reserve - sizing.from_reserve
            event(f"bonus cut: {bool(sizing.bonus_cut)}")
        _assert_books_match_the_ledger()
        transaction.set_rollback(True)
