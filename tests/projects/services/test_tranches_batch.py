"""Releasing tranches on sets (§8, §9, §16, §19): ``tranches_release`` and its task."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from fundapp.audit.models import AuditEvent
from fundapp.audit.services import audit_record_many_parts
from fundapp.errors import Conflict, NotFound
from fundapp.ledger.models import Transaction, TransactionKind
from fundapp.ledger.services import ledger_post
from fundapp.notifications.models import Notification, OutboxEvent
from fundapp.statements import statement_run
from projects.models import Disbursement, Tranche, TrancheState
from projects.services import tranches as tranches_module
from projects.services.projects import project_suspend
from projects.services.tranches import (
    StageTranches,
    TrancheDecision,
    tranche_release,
    tranches_decide_many,
    tranches_decide_planned_parts,
    tranches_release,
)
from projects.tasks import release_tranches
from tests.concurrency import run_at_once
from tests.factories.engine import (
    award,
    engine_proposal,
    fund_pools,
    make_staff,
    reserve,
    tranche,
)

pytestmark = [pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def staff():
    return make_staff()


@pytest.fixture
def quiet(monkeypatch):
    """No release message is sent: the tests release the tranches themselves."""
    monkeypatch.setattr(
        "projects.services.tranches.tranche_enqueue_release", lambda tranche_id: None
    )


def _projects(staff, count: int) -> list:
    return [award(engine_proposal()[0], staff) for _ in range(count)]


def _first_tranches(projects) -> list[int]:
    return sorted(tranche(p, 1, side).pk for p in projects for side in ("JP", "KR"))


def _statements(queries) -> list[str]:
    """The batch's own statements: the savepoints of the test's transaction left out."""
    return [
        q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("multiplier", "statements"), [("1", 2), ("1.2", 6)])
def test_a_batch_issues_the_same_statements_for_4_and_20_tranches(
    staff, quiet, multiplier, statements
):
    """One statement locks and reads every tranche of the batch, one writes every release
    (accounts, transactions, entries, disbursements, tranches, audit and outbox events,
    notifications). With a tranche above plan, the accounts of each currency are opened and
    locked first (two statements per currency)."""
    fund_pools(staff, jp_reserve=10**9, kr_reserve=10**10)
    captured = {}
    for count in (2, 10):
        ids = _first_tranches(_projects(staff, count))
        Tranche.objects.filter(pk__in=ids).update(multiplier=Decimal(multiplier))
        notified = Notification.objects.count()

        with CaptureQueriesContext(connection) as queries:
            result = tranches_release(tranche_ids=ids)

        assert result.refused == {}
        assert [t.pk for t in result.tranches] == ids
        assert all(t.state == TrancheState.RELEASED for t in result.tranches)
        assert Tranche.objects.filter(pk__in=ids, state=TrancheState.RELEASED).count() == len(ids)
        assert Transaction.objects.filter(
            reference__in=[f"tranche:{pk}:release" for pk in ids]
        ).count() == len(ids)
        assert Disbursement.objects.filter(tranche_id__in=ids).count() == len(ids)
        released = AuditEvent.objects.filter(
            action="tranche.released", object_id__in=[str(pk) for pk in ids]
        )
        assert released.count() == len(ids)
        assert OutboxEvent.objects.filter(
            kind="tranche.released", object_id__in=[str(pk) for pk in ids]
        ).count() == len(ids)
        # Per tranche, the project's two PIs (JP and KR) and the side's finance officer.
        assert Notification.objects.count() - notified == 3 * len(ids)
        captured[count] = _statements(queries.captured_queries)
    call_command("check_ledger")

    assert len(captured[2]) == len(captured[10]) == statements


@pytest.mark.django_db
def test_a_batch_releases_what_one_by_one_releases(staff, quiet):
    """The same amounts, legs and records as ``tranche_release`` of each tranche: a bonus
    comes from the reserve in ``pk`` order and is cut to what the reserve still holds."""
    fund_pools(staff, jp_reserve=5_000_000)
    projects = _projects(staff, 2)
    ids = _first_tranches(projects)
    Tranche.objects.filter(pk__in=ids).update(multiplier=Decimal("1.1"))

    result = tranches_release(tranche_ids=ids)

    assert result.refused == {}
    jp = [tranche(p, 1, "JP") for p in projects]
    # Planned 40,000,000 each: the first takes 4,000,000 of the bonus, the second the rest.
    assert [(t.released, t.from_reserve) for t in jp] == [
        (44_000_000, 4_000_000),
        (41_000_000, 1_000_000),
    ]
    assert reserve("JP") == 0
    for t in jp:
        assert t.ledger_transaction is not None
        assert t.ledger_transaction.kind == TransactionKind.TRANCHE_RELEASE
        event = AuditEvent.objects.get(action="tranche.released", object_id=str(t.pk))
        assert event.after is not None
        assert event.after["released"] == t.released
        assert event.after["ledger_transaction"] == t.ledger_transaction_id
        assert AuditEvent.objects.filter(
            action="ledger.posted", object_id=str(t.ledger_transaction_id)
        ).exists()
    call_command("check_ledger")


@pytest.mark.django_db
def test_a_tranche_that_cannot_be_released_does_not_hold_back_the_others(staff, quiet):
    fund_pools(staff)
    projects = _projects(staff, 4)
    released_before, planned, suspended, taken, *others = projects
    tranche_release(tranche_id=tranche(released_before, 1, "JP").pk)
    project_suspend(project=suspended, actor=staff.kr, reason="audit")
    taken_id = tranche(taken, 1, "KR").pk
    # Another movement already holds the release's reference: the database refuses it.
    ledger_post(
        kind=TransactionKind.ADJUSTMENT,
        currency="KRW",
        legs=[("fund:KR:pool", -1), (f"project:{taken.pk}:KR:committed", 1)],
        reference=f"tranche:{taken_id}:release",
    )
    missing = Tranche.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1000
    ids = [
        tranche(released_before, 1, "JP").pk,
        tranche(planned, 2, "JP").pk,
        tranche(suspended, 1, "JP").pk,
        taken_id,
        missing,
        *_first_tranches(others),
        tranche(taken, 1, "JP").pk,
    ]

    result = tranches_release(tranche_ids=ids)

    assert sorted(result.refused) == sorted([tranche(planned, 2, "JP").pk, taken_id, missing])
    assert isinstance(result.refused[missing], NotFound)
    assert isinstance(result.refused[taken_id], Conflict)
    assert result.refused[taken_id].code == "ledger_reference_reused"
    assert result.refused[tranche(planned, 2, "JP").pk].code == "invalid_state"
    states = {t.pk: t.state for t in result.tranches}
    assert states[tranche(suspended, 1, "JP").pk] == TrancheState.DECIDED
    assert states[tranche(released_before, 1, "JP").pk] == TrancheState.RELEASED
    for pk in [*_first_tranches(others), tranche(taken, 1, "JP").pk]:
        assert states[pk] == TrancheState.RELEASED
        assert Tranche.objects.get(pk=pk).state == TrancheState.RELEASED
    assert Tranche.objects.get(pk=taken_id).state == TrancheState.DECIDED
    assert not Disbursement.objects.filter(tranche_id=taken_id).exists()
    assert Transaction.objects.filter(reference=f"tranche:{taken_id}:release").count() == 1
    call_command("check_ledger")


@pytest.mark.django_db
def test_releasing_a_released_batch_again_changes_nothing(staff, quiet):
    fund_pools(staff)
    ids = _first_tranches(_projects(staff, 2))
    first = tranches_release(tranche_ids=ids)
    events = AuditEvent.objects.count()

    again = tranches_release(tranche_ids=list(reversed(ids)))

    assert again.refused == {}
    assert [t.ledger_transaction_id for t in again.tranches] == [
        t.ledger_transaction_id for t in first.tranches
    ]
    assert AuditEvent.objects.count() == events
    assert Transaction.objects.filter(kind=TransactionKind.TRANCHE_RELEASE).count() == len(ids)


@pytest.mark.django_db
def test_the_release_task_takes_a_batch(staff, quiet):
    fund_pools(staff)
    projects = _projects(staff, 2)
    ids = _first_tranches(projects)
    planned = tranche(projects[0], 2, "KR").pk

    result = release_tranches.apply(kwargs={"tranche_ids": [*ids, planned]}).get()

    assert result["released"] == ids
    refused = result["refused"]
    assert isinstance(refused, dict) and list(refused) == [str(planned)]
    assert Tranche.objects.filter(pk__in=ids, state=TrancheState.RELEASED).count() == len(ids)


def _stage_two_with_sends_recorded(staff, monkeypatch) -> tuple[list[list[int]], list[int]]:
    """Two funded projects (their awards' releases not enqueued) and the list every
    ``release_tranches`` message is recorded in; returns it with the stage-2 tranche ids."""
    fund_pools(staff)
    enqueue = tranches_module.tranche_enqueue_release
    monkeypatch.setattr(tranches_module, "tranche_enqueue_release", lambda tranche_id: None)
    projects = _projects(staff, 2)
    monkeypatch.setattr(tranches_module, "tranche_enqueue_release", enqueue)
    sent: list[list[int]] = []
    monkeypatch.setattr(
        "projects.tasks.release_tranches.delay", lambda tranche_ids: sent.append(tranche_ids)
    )
    return sent, sorted(tranche(p, 2, side).pk for p in projects for side in ("JP", "KR"))


@pytest.mark.django_db
def test_decided_tranches_of_one_transaction_go_out_as_one_release_message(
    staff, monkeypatch, django_capture_on_commit_callbacks
):
    sent, second = _stage_two_with_sends_recorded(staff, monkeypatch)

    # Stage 2 decided in one transaction; one of its tranches in a savepoint rolled back.
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        tranches_decide_many([TrancheDecision(second[:3], Decimal(1), None)], actor=None)
        try:
            with transaction.atomic():
                tranches_decide_many([TrancheDecision(second[3:], Decimal(1), None)], actor=None)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    # One callback per tranche still due, and one message for them all.
    assert len([c for c in callbacks if "tranche_enqueue_release" in c.__qualname__]) == 3
    assert sent == [second[:3]]
    assert Tranche.objects.get(pk=second[3]).state == TrancheState.PLANNED


@pytest.mark.django_db(transaction=True)
def test_on_a_real_commit_every_decided_tranche_of_the_transaction_is_sent(staff, monkeypatch):
    """Django takes a transaction's callbacks off the connection before it runs them on
    commit: the first callback still sends every tranche of its transaction, once, and a
    tranche whose decision a savepoint rolled back is left out."""
    sent, second = _stage_two_with_sends_recorded(staff, monkeypatch)

    with transaction.atomic():
        tranches_decide_many([TrancheDecision(second[:3], Decimal(1), None)], actor=None)
        try:
            with transaction.atomic():
                tranches_decide_many([TrancheDecision(second[3:], Decimal(1), None)], actor=None)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    assert sent == [second[:3]]


@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_at_the_same_moment_release_each_tranche_exactly_once(staff, quiet):
    fund_pools(staff, jp_reserve=10**9, kr_reserve=10**10)
    ids = _first_tranches(_projects(staff, 4))
    Tranche.objects.filter(pk__in=ids[::3]).update(multiplier=Decimal("1.2"))
    Tranche.objects.filter(pk__in=ids[1::3]).update(multiplier=Decimal("0.8"))
    batches = [ids, ids[::-1], ids[::2], ids[1::2], ids[2:6], ids[:4]]

    results, errors = run_at_once(lambda i: tranches_release(tranche_ids=batches[i]), 6)

    assert errors == [None] * 6
    assert all(r.refused == {} for r in results)
    for pk in ids:
        assert Transaction.objects.filter(reference=f"tranche:{pk}:release").count() == 1
        assert AuditEvent.objects.filter(action="tranche.released", object_id=str(pk)).count() == 1
        assert OutboxEvent.objects.filter(kind="tranche.released", object_id=str(pk)).count() == 1
    assert Tranche.objects.filter(pk__in=ids, state=TrancheState.RELEASED).count() == len(ids)
    assert Disbursement.objects.filter(tranche_id__in=ids).count() == len(ids)
    call_command("check_ledger")


@pytest.mark.django_db
def test_deciding_a_stages_planned_tranches_as_a_part_writes_what_deciding_them_does(
    staff, django_capture_on_commit_callbacks
):
    fund_pools(staff)
    by_rows, by_part = _projects(staff, 2)
    multiplier = Decimal("1.0625")

    def written(project) -> tuple[list[tuple], list[tuple]]:
        tranches = Tranche.objects.filter(project=project, stage__number=2).order_by("pk")
        rows = [
            (t.side, t.state, t.multiplier, t.decision_id, t.decided_at is not None)
            for t in tranches
        ]
        events = [
            (e.action, e.object_type, e.before, e.after)
            for e in AuditEvent.objects.filter(
                action="tranche.decided", object_id__in=[str(t.pk) for t in tranches]
            ).order_by("id")
        ]
        return rows, events

    with django_capture_on_commit_callbacks() as rows_callbacks:
        tranches_decide_many(
            [
                TrancheDecision(
                    [tranche(by_rows, 2, side).pk for side in ("KR", "JP")], multiplier, None
                )
            ],
            actor=staff.jp,
        )
    with django_capture_on_commit_callbacks() as part_callbacks:
        decided = tranches_decide_planned_parts(
            [StageTranches(tranche(by_part, 2, "JP").stage_id, multiplier, None)], actor=staff.jp
        )
        assert decided.part is not None
        statement_run([decided.part, audit_record_many_parts(decided.entries).part])
        decided.enqueue()

    assert written(by_part) == written(by_rows)
    assert written(by_part)[0][0][1:4] == (TrancheState.DECIDED, multiplier, None)
    # Each release is asked for after commit, in pk order, as deciding them row by row does.
    enqueued = [getattr(c, "tranche_id", None) for c in part_callbacks]
    assert [pk for pk in enqueued if pk] == sorted(
        tranche(by_part, 2, side).pk for side in ("JP", "KR")
    )
    assert len(part_callbacks) == len(rows_callbacks)
    # Decided tranches are no longer planned: deciding the stage again decides nothing.
    again = tranches_decide_planned_parts(
        [StageTranches(tranche(by_part, 2, "JP").stage_id, multiplier, None)], actor=staff.jp
    )
    assert (again.tranche_ids, again.entries, again.part) == ([], [], None)
