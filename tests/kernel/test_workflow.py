"""The workflow kernel (fundapp/workflow.py): every stateful model's transition table, the
service that performs a move, and the database enforcing the same table."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from fundapp.accounts.models import ApiKey, Role, User
from fundapp.audit.models import AuditEvent
from fundapp.errors import Conflict, PermissionDenied
from fundapp.kernel.approvals import DECISION_WORKFLOW
from fundapp.notifications.models import EMAIL_WORKFLOW, Notification, NotificationKind, OutboxEvent
from fundapp.notifications.webhooks.models import (
    DELIVERY_WORKFLOW,
    WebhookDelivery,
    WebhookSubscription,
)
from fundapp.screening.models import SCREENING_WORKFLOW, ScreeningCase
from fundapp.workflow import (
    ADMIN,
    PARTNER,
    SYSTEM,
    Workflow,
    actor_kinds,
    transition,
)
from ip_licensing.models import AllocationChange, IPAsset, Licence, LicenceApproval
from ip_licensing.models.assets import ASSET_WORKFLOW
from ip_licensing.models.licences import LICENCE_WORKFLOW
from projects.models import (
    AwardDecision,
    Call,
    Disbursement,
    Gate,
    GateDecision,
    Project,
    Proposal,
    ReviewerAssignment,
    Stage,
    Tranche,
)
from projects.models.calls import CALL_WORKFLOW, CallState
from projects.models.deliverables import DELIVERABLE_WORKFLOW, Deliverable
from projects.models.imports import IMPORT_WORKFLOW, ImportJob
from projects.models.projects import (
    DISBURSEMENT_WORKFLOW,
    GATE_WORKFLOW,
    PROJECT_WORKFLOW,
    STAGE_WORKFLOW,
    TRANCHE_WORKFLOW,
)
from projects.models.proposals import PROPOSAL_WORKFLOW
from projects.models.reviews import ASSIGNMENT_WORKFLOW
from tests.factories import (
    CallFactory,
    GateFactory,
    OrganisationFactory,
    ProjectFactory,
    ProposalFactory,
    StageFactory,
    TrancheFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

WORKFLOWS: dict[type[models.Model], Workflow] = {
    Call: CALL_WORKFLOW,
    Proposal: PROPOSAL_WORKFLOW,
    Project: PROJECT_WORKFLOW,
    Stage: STAGE_WORKFLOW,
    Gate: GATE_WORKFLOW,
    Tranche: TRANCHE_WORKFLOW,
    Disbursement: DISBURSEMENT_WORKFLOW,
    Deliverable: DELIVERABLE_WORKFLOW,
    ImportJob: IMPORT_WORKFLOW,
    Licence: LICENCE_WORKFLOW,
    IPAsset: ASSET_WORKFLOW,
    ScreeningCase: SCREENING_WORKFLOW,
    ReviewerAssignment: ASSIGNMENT_WORKFLOW,
    Notification: EMAIL_WORKFLOW,
    WebhookDelivery: DELIVERY_WORKFLOW,
    AwardDecision: DECISION_WORKFLOW,
    GateDecision: DECISION_WORKFLOW,
    LicenceApproval: DECISION_WORKFLOW,
    AllocationChange: DECISION_WORKFLOW,
}

ALL_KINDS = frozenset({*(str(r) for r in Role.values), SYSTEM, PARTNER})


def _pairs(workflow: Workflow) -> list[tuple[str, str]]:
    states = [str(v) for v in workflow.states.values]
    return [(a, b) for a, b in itertools.product(states, states) if a != b]


def _ids(model: type[models.Model], workflow: Workflow) -> list[Any]:
    return [pytest.param(model, workflow, id=model.__name__)]


PARAMS = [p for model, wf in WORKFLOWS.items() for p in _ids(model, wf)]
# The tables the database enforces with a trigger (two-person decisions have CHECKs).
ENFORCED = [
    p for model, wf in WORKFLOWS.items() if wf is not DECISION_WORKFLOW for p in _ids(model, wf)
]


# ------------------------------------------------------------------ the tables themselves


@pytest.mark.parametrize(("model", "workflow"), PARAMS)
def test_every_table_names_known_states_and_who_may_move(model, workflow):
    assert workflow.field in {f.name for f in model._meta.get_fields()}
    for edge in workflow.edges:
        assert edge.by, f"{workflow.name}: {edge.source} → {edge.target} names nobody"
        assert edge.by <= ALL_KINDS
    # Every state can be reached from an initial one or is one.
    default = str(model._meta.get_field(workflow.field).default)
    reached, frontier = {default, *workflow.initial}, [default, *workflow.initial]
    while frontier:
        for target in workflow.targets(frontier.pop()):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == {str(v) for v in workflow.states.values}


@pytest.mark.parametrize(("model", "workflow"), PARAMS)
def test_the_check_allows_each_edge_to_its_roles_only(model, workflow):
    for edge in workflow.edges:
        for kind in sorted(ALL_KINDS):
            allowed = kind in edge.by
            try:
                workflow.check(
                    edge.source, edge.target, actor=_actor_of_kind(kind), agreed=edge.two_person
                )
            except PermissionDenied:
                assert not allowed, (workflow.name, edge, kind)
            else:
                assert allowed, (workflow.name, edge, kind)


@pytest.mark.parametrize(("model", "workflow"), PARAMS)
def test_the_check_refuses_every_move_off_the_table(model, workflow):
    for source, target in _pairs(workflow):
        if workflow.allows(source, target):
            continue
        with pytest.raises(Conflict) as refused:
            workflow.check(source, target, actor=None)
        assert refused.value.code == workflow.code


@pytest.mark.parametrize(("model", "workflow"), PARAMS)
def test_two_person_edges_need_a_completed_decision_unless_the_fund_decides(model, workflow):
    for edge in (e for e in workflow.edges if e.two_person):
        officer_kind = next(k for k in sorted(edge.by) if k != SYSTEM)
        with pytest.raises(PermissionDenied) as refused:
            workflow.check(edge.source, edge.target, actor=_actor_of_kind(officer_kind))
        assert refused.value.code == "two_person_required"
        workflow.check(edge.source, edge.target, actor=_actor_of_kind(officer_kind), agreed=True)
        if SYSTEM in edge.by:
            workflow.check(edge.source, edge.target, actor=None)


def test_the_money_moves_are_two_person():
    assert STAGE_WORKFLOW.edge("gate_pending", "passed").two_person  # type: ignore[union-attr]
    assert PROPOSAL_WORKFLOW.edge("under_review", "awarded").two_person  # type: ignore[union-attr]
    assert LICENCE_WORKFLOW.edge("pending", "approved").two_person  # type: ignore[union-attr]


def test_actor_kinds():
    assert actor_kinds(None) == {SYSTEM}
    assert actor_kinds(ApiKey()) == {PARTNER}
    assert actor_kinds(User(role=Role.FINANCE_OFFICER)) == {"finance_officer"}
    assert actor_kinds(User(role=Role.RESEARCHER, is_superuser=True)) == {
        "researcher",
        ADMIN,
        "fund_officer",
    }
    assert actor_kinds(object()) == frozenset()


# ------------------------------------------------------------------ the service


def _officer() -> User:
    return UserFactory.create(role=Role.FUND_OFFICER, side="JP")


def test_transition_locks_checks_saves_and_audits():
    now = timezone.now()
    call = CallFactory.create(state=CallState.DRAFT, opens_at=now - timedelta(days=1))
    officer = _officer()

    moved = transition(
        call, CallState.OPEN, actor=officer, workflow=CALL_WORKFLOW, action="call.opened"
    )

    assert moved.state == CallState.OPEN
    assert Call.objects.get(pk=call.pk).state == CallState.OPEN
    event = AuditEvent.objects.get(object_id=str(call.pk), action="call.opened")
    assert event.before == {"state": "draft"} and event.after == {"state": "open"}
    assert event.actor_user_id == officer.pk


def test_transition_rereads_the_row_so_a_stale_copy_cannot_move_twice():
    now = timezone.now()
    call = CallFactory.create(state=CallState.DRAFT, opens_at=now - timedelta(days=1))
    stale = Call.objects.get(pk=call.pk)
    transition(call, CallState.OPEN, actor=None, workflow=CALL_WORKFLOW, action="call.opened")

    with pytest.raises(Conflict):
        transition(stale, CallState.OPEN, actor=None, workflow=CALL_WORKFLOW, action="call.opened")

    assert AuditEvent.objects.filter(object_id=str(call.pk)).count() == 1


@pytest.mark.parametrize(
    "actor_factory",
    [
        lambda: UserFactory.create(role=Role.RESEARCHER),
        lambda: UserFactory.create(role=Role.FINANCE_OFFICER),
        lambda: UserFactory.create(role=Role.REVIEWER),
    ],
    ids=["researcher", "finance officer", "reviewer"],
)
def test_transition_refuses_an_actor_the_table_does_not_name_and_changes_nothing(actor_factory):
    call = CallFactory.create(state=CallState.CLOSED)

    with pytest.raises(PermissionDenied):
        transition(
            call,
            CallState.ARCHIVED,
            actor=actor_factory(),
            workflow=CALL_WORKFLOW,
            action="call.archived",
        )

    assert Call.objects.get(pk=call.pk).state == CallState.CLOSED
    assert not AuditEvent.objects.filter(object_id=str(call.pk)).exists()


def test_a_failing_guard_changes_nothing():
    call = CallFactory.create(state=CallState.DRAFT)

    def guard(locked: Call) -> None:
        raise Conflict("not yet", code="call_not_due")

    with pytest.raises(Conflict):
        transition(
            call,
            CallState.OPEN,
            actor=_officer(),
            workflow=CALL_WORKFLOW,
            action="call.opened",
            guard=guard,
        )
    assert Call.objects.get(pk=call.pk).state == CallState.DRAFT
    assert not AuditEvent.objects.filter(object_id=str(call.pk)).exists()


# ------------------------------------------------------------------ the database


def _trigger_transitions(table: str, trigger: str) -> set[tuple[str, str]]:
    """The (from, to) pairs compiled into the table's FSM trigger function."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT pg_get_functiondef(t.tgfoid)
              FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             WHERE c.relname = %s AND t.tgname LIKE %s
            """,
            [table, f"pgtrigger_{trigger}_%"],
        )
        rows = cursor.fetchall()
    assert len(rows) == 1, f"no FSM trigger {trigger} on {table}"
    array = re.search(r"ANY\('\{([^}]*)\}'::text\[\]\)", rows[0][0])
    assert array is not None
    return {tuple(item.split(":", 1)) for item in array.group(1).split(",")}  # type: ignore[misc]


@pytest.mark.parametrize(("model", "workflow"), ENFORCED)
def test_the_database_holds_exactly_the_table(model, workflow):
    trigger = next(t for t in model._meta.triggers if t.name.endswith("_fsm"))  # type: ignore[attr-defined]

    installed = _trigger_transitions(model._meta.db_table, trigger.name)

    assert installed == {(e.source, e.target) for e in workflow.edges}


def _licence(state: str) -> Licence:
    today = date(2026, 4, 1)
    stamped = timezone.now()
    return Licence.objects.create(
        reference=f"L-{Licence.objects.count() + 1:05d}-{state}"[:32],
        licensor=OrganisationFactory.create(country="JP"),
        licensee=OrganisationFactory.create(country="KR"),
        fields_of_use=["edge inference"],
        purposes=["research"],
        territories=["JP", "KR"],
        start_on=today,
        end_on=today + timedelta(days=365),
        exclusivity="non_exclusive",
        royalty_rate=Decimal("0.0300"),
        currency="JPY",
        state=state,
        licensor_accepted_at=stamped,
        licensee_accepted_at=stamped,
        approved_at=stamped if state not in ("draft", "pending") else None,
        activated_at=stamped if state in ("active", "suspended", "expired") else None,
        ended_at=stamped if state in ("expired", "terminated") else None,
    )


def _screening_case(state: str) -> ScreeningCase:
    return ScreeningCase.objects.create(
        subject_type="proposal",
        subject_id=ScreeningCase.objects.count() + 1,
        subject_label="A proposal",
        reasons=[],
        state=state,
        decided_at=None if state == "open" else timezone.now(),
    )


def _disbursement(state: str) -> Disbursement:
    return Disbursement.objects.create(
        tranche=TrancheFactory.create(state="decided"),
        organisation=OrganisationFactory.create(),
        currency="JPY",
        amount=1_000,
        state=state,
    )


def _asset(state: str) -> IPAsset:
    return IPAsset.objects.create(
        kind="software",
        title_en="Edge NPU compiler",
        owner=OrganisationFactory.create(country="JP"),
        is_background=True,
        status=state,
    )


def _import_job(state: str) -> ImportJob:
    return ImportJob.objects.create(
        project=ProjectFactory.create(),
        state=state,
        original_name="m.csv",
        storage_name="m.csv",
        sha256="0" * 64,
        created_by=UserFactory.create(),
    )


def _assignment(state: str) -> ReviewerAssignment:
    return ReviewerAssignment.objects.create(
        proposal=ProposalFactory.create(state="under_review"),
        reviewer=UserFactory.create(role=Role.REVIEWER),
        assigned_by=UserFactory.create(role=Role.FUND_OFFICER),
        state=state,
    )


def _notification(state: str) -> Notification:
    return Notification.objects.create(
        user=UserFactory.create(),
        kind=NotificationKind.GATE_EVALUATED,
        title="Gate evaluated",
        email_state=state,
    )


def _delivery(state: str) -> WebhookDelivery:
    subscription = WebhookSubscription.objects.create(
        organisation=OrganisationFactory.create(), url="https://receiver.example/hooks"
    )
    event = OutboxEvent.objects.create(
        kind="webhook.ping", object_type="subscription", object_id=str(subscription.pk), payload={}
    )
    return WebhookDelivery.objects.create(
        event=event,
        subscription=subscription,
        state=state,
        next_attempt_at=timezone.now() if state == "pending" else None,
    )


def _deliverable(state: str) -> Deliverable:
    stage = StageFactory.create()
    return Deliverable.objects.create(
        project=stage.project,
        stage=stage,
        title_en="Test-chip report",
        kind="report",
        due_month=6,
        due_on=date(2026, 10, 1),
        state=state,
        submissions=0 if state == "pending" else 1,
        submitted_at=None if state == "pending" else timezone.now(),
        reason="Add the bench logs." if state == "changes_requested" else "",
    )


# A row in a given state. Rows the schema's other rules forbid without a ledger posting
# (a released tranche, a paid disbursement) are not built: their moves are covered by the
# trigger's table above, which is the same function for every source state.
BUILDERS: dict[type[models.Model], Callable[[str], models.Model | None]] = {
    Call: lambda s: CallFactory.create(state=s),
    Proposal: lambda s: ProposalFactory.create(state=s),
    Project: lambda s: ProjectFactory.create(state=s),
    Stage: lambda s: StageFactory.create(state=s),
    Gate: lambda s: GateFactory.create(state=s),
    Tranche: lambda s: None if s == "released" else TrancheFactory.create(state=s),
    Disbursement: lambda s: None if s == "paid" else _disbursement(s),
    ImportJob: _import_job,
    Licence: _licence,
    IPAsset: _asset,
    ScreeningCase: _screening_case,
    ReviewerAssignment: _assignment,
    Notification: _notification,
    WebhookDelivery: _delivery,
    Deliverable: _deliverable,
}


@pytest.mark.parametrize(("model", "workflow"), ENFORCED)
def test_a_raw_update_off_the_table_is_refused_by_the_database(model, workflow):
    table = model._meta.db_table
    column = model._meta.get_field(workflow.field).column
    for source, target in _pairs(workflow):
        row = BUILDERS[model](source)
        if row is None:
            continue
        refused = None
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f'UPDATE "{table}" SET "{column}" = %s WHERE id = %s',  # noqa: S608
                    [target, row.pk],
                )
        except DatabaseError as exc:
            refused = str(exc)
        fsm_refusal = refused is not None and "Invalid transition" in refused
        if workflow.allows(source, target):
            # Other rules (a CHECK on a paid disbursement's posting) may still say no.
            assert not fsm_refusal, (table, source, target, refused)
        else:
            assert fsm_refusal, (table, source, target, refused)


def test_an_update_that_keeps_the_state_is_not_checked():
    call = CallFactory.create(state=CallState.ARCHIVED)

    Call.objects.filter(pk=call.pk).update(state=CallState.ARCHIVED, title_en="Renamed")

    assert Call.objects.get(pk=call.pk).title_en == "Renamed"


def _actor_of_kind(kind: str) -> Any:
    if kind == SYSTEM:
        return None
    if kind == PARTNER:
        return ApiKey()
    return User(role=kind, is_active=True)
