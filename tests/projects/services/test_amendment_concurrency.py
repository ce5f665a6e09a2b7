"""Amendments approved at the same moment against real PostgreSQL (§24): the row locks in
the documented order decide, not luck. Each thread has its own database connection."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from fundapp.errors import Conflict
from projects.models import Amendment, AmendmentState
from projects.services.amendments import amendment_approve
from projects.services.gates import gate_evaluate
from tests.factories.amendments import amend_world, propose
from tests.factories.engine import committed, gate_of

from .test_concurrency import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("private_media")]


def test_two_second_approvals_of_rival_amendments_apply_one_and_refuse_the_other_as_stale():
    w = amend_world()
    grow = propose(w, {"kind": "tranche", "stage": 3, "side": "JP", "planned": 90_000_000})
    shrink = propose(w, {"kind": "tranche", "stage": 3, "side": "JP", "planned": 70_000_000})
    amendment_approve(amendment=grow, actor=w.staff.jp)
    amendment_approve(amendment=shrink, actor=w.staff.kr)
    before = committed(w.project, "JP")

    outcomes = race(
        lambda: amendment_approve(amendment=grow, actor=w.staff.kr),
        lambda: amendment_approve(amendment=shrink, actor=w.staff.jp),
    )

    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], Conflict), outcomes
    assert refused[0].code == "amendment_stale"
    states = sorted(Amendment.objects.values_list("state", flat=True))
    assert states == [AmendmentState.APPROVED, AmendmentState.PROPOSED]
    w.project.refresh_from_db()
    assert w.project.plan_version == 2
    applied = Amendment.objects.get(state=AmendmentState.APPROVED)
    planned = 90_000_000 if applied.pk == grow.pk else 70_000_000
    assert committed(w.project, "JP") == before + planned - 80_000_000
    call_command("check_ledger")


def test_an_evaluation_and_an_approval_of_its_stage_serialise():
    w = amend_world()
    amendment = propose(w, {"kind": "kpi", "kpi": w.kpi_id("K1A"), "target": "40"})
    amendment_approve(amendment=amendment, actor=w.staff.jp)
    gate = gate_of(w.project, 1)

    outcomes = race(
        lambda: amendment_approve(amendment=amendment, actor=w.staff.kr),
        lambda: gate_evaluate(gate=gate, actor=None, as_of=gate.due_on),
    )

    approval, evaluation = outcomes
    assert not isinstance(evaluation, Exception), evaluation
    if isinstance(approval, Exception):
        # The evaluation came first: the amendment went stale, the snapshot used version 1.
        assert isinstance(approval, Conflict) and approval.code == "amendment_stale"
        assert evaluation.plan_version == 1
    else:
        # The approval came first: the snapshot evaluated the new target, version 2.
        assert evaluation.plan_version == 2
