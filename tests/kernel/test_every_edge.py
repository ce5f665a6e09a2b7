"""Every edge of every transition table is performed by the service that performs it in
production (issue 8): for each allowed move, by an actor the table names, the row ends in
the target state, an audit event of a registered type records the move in the same
transaction, and the §13.2 events it causes are in the outbox with data that meets their
schemas.

The edges are read from the models (``workflow`` on every model), so a new edge without a
case here fails ``test_every_edge_has_a_case``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any
from unittest import mock

import jsonschema
import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, models
from django.test import override_settings
from django.utils import timezone

from fundapp.accounts.models import ApiKey, Role, User
from fundapp.audit.models import AuditEvent
from fundapp.audit.services import object_type_of
from fundapp.errors import Conflict
from fundapp.kernel.events import ENVELOPE_SCHEMA, event_type
from fundapp.notifications.models import Notification, OutboxEvent
from fundapp.notifications.services import (
    notification_emails_expire,
    notification_emails_send,
    notify,
)
from fundapp.notifications.webhooks.models import WebhookDelivery
from fundapp.notifications.webhooks.services import (
    webhook_delivery_attempt,
    webhook_delivery_redeliver,
    webhook_subscription_create,
    webhook_subscription_ping,
)
from fundapp.screening.services import screening_case_decide
from fundapp.workflow import Workflow, actor_kinds
from ip_licensing import royalty_rules, rules
from ip_licensing.models import AllocationChange, IPAsset, Licence, LicenceApproval, RoyaltyPeriod
from ip_licensing.services import allocation as allocation_svc
from ip_licensing.services import licences as licence_svc
from ip_licensing.services import sublicences as sublicence_svc
from ip_licensing.services.assets import asset_register, asset_update
from ip_licensing.services.audits import royalty_audit_close, royalty_audit_open
from ip_licensing.services.royalties import royalty_report_submit
from ip_licensing.services.royalty_integrity import royalty_overdue_run
from projects.models import (
    AwardDecision,
    Disbursement,
    GateDecision,
    Project,
    Proposal,
    ReviewerAssignment,
    Tranche,
)
from projects.models.exports import TransactionExport
from projects.models.imports import ImportJob
from projects.services import awards as award_svc
from projects.services import calls as call_svc
from projects.services import measurement_import as import_svc
from projects.services import proposals as proposal_svc
from projects.services import reviews as review_svc
from projects.services import transaction_exports as export_svc
from projects.services.decisions import (
    gate_decision_approve,
    gate_decision_decline,
    gate_decision_withdraw,
)
from projects.services.duplicates import duplicate_flag_resolve
from projects.services.gates import gate_evaluate
from projects.services.payments import disbursement_confirm
from projects.services.projects import (
    project_resume,
    project_suspend,
    project_terminate,
)
from projects.services.tranches import tranche_release
from tests.factories import CallFactory, OrganisationFactory, UserFactory, member_of, officer
from tests.factories import licences as lic
from tests.factories.duplicates import flagged_pair
from tests.factories.engine import award, engine_proposal, fund_pools, gate_of, make_staff, stage
from tests.factories.licensing import days as licensing_days
from tests.factories.licensing import make_project_world, project_licence
from tests.factories.proposals import complete_proposal, submitted_proposal
from tests.factories.review import (
    eligible_proposal,
    make_officers,
    proposal_under_review,
    reviewer,
    scores_for,
)
from tests.factories.review import fund_pools as review_fund_pools
from tests.screening.conftest import load_list, open_case, party
from tests.webhook_receiver import Receiver

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("private_media", "axes_off", "review_urls", "eager_celery"),
]


# --------------------------------------------------------------------------- the edges


def _stateful_models() -> dict[str, type[models.Model]]:
    return {
        model.__name__: model
        for model in apps.get_models()
        if isinstance(getattr(model, "workflow", None), Workflow)
    }


MODELS = _stateful_models()
EDGES = sorted(
    (name, edge.source, edge.target)
    for name, model in MODELS.items()
    for edge in model.workflow.edges  # type: ignore[attr-defined]
)


@dataclass
class Move:
    """One move to perform: ``run`` calls the service as ``actor``; ``obj`` is the row that
    moves. The move is audited as ``action`` about ``about`` (default ``obj``: a move the
    service makes as the consequence of another is recorded on the object it acted on);
    ``outbox`` names the §13.2 events it causes besides its action's own."""

    run: Callable[[], Any]
    actor: Any
    obj: models.Model
    action: str
    about: models.Model | None = None
    outbox: tuple[str, ...] = ()


CASES: dict[tuple[str, str, str], Callable[[], Move]] = {}

# Edges no code performs, with the reason; listed so that they are seen, not silently kept.
NOT_PERFORMED: dict[tuple[str, str, str], str] = {}

# Moves recorded on the row itself rather than in the audit trail, with the reason.
NOT_AUDITED: dict[tuple[str, str, str], str] = {}


def case(model: str, source: str, target: str, /, **kwargs: Any) -> Callable[[Any], Any]:
    def register(fn: Callable[..., Move]) -> Callable[..., Move]:
        key = (model, source, target)
        assert key not in CASES, key
        CASES[key] = partial(fn, **kwargs) if kwargs else fn
        return fn

    return register


# --------------------------------------------------------------------------- worlds


def _today() -> date:
    return timezone.localdate()


@dataclass
class Engine:
    project: Project
    staff: Any
    consortium: Any


START = date(2026, 4, 1)


def engine_project() -> Engine:
    """An awarded, active project of two stages (stage 1 running, its tranches decided),
    both pools funded."""
    staff = make_staff()
    fund_pools(staff)
    proposal, c = engine_proposal()
    return Engine(award(proposal, staff, started_on=START), staff, c)


def evaluated(e: Engine, number: int = 1) -> Any:
    """Stage ``number``'s gate evaluated by the scheduler (no measurements: a fail, left
    to the officers)."""
    gate = gate_of(e.project, number)
    gate_evaluate(gate=gate, actor=None, as_of=gate.due_on)
    gate.refresh_from_db()
    return gate


def decided_by_two(e: Engine, gate: Any, kind: str, **extra: Any) -> Callable[[], Any]:
    gate_decision_approve(gate=gate, actor=e.staff.jp, kind=kind, justification="Agreed.", **extra)
    return lambda: gate_decision_approve(
        gate=gate, actor=e.staff.kr, kind=kind, justification="Agreed.", **extra
    )


def register_result(e: Engine) -> None:
    """The final gate needs the project's results in the IP registry."""
    c = e.consortium
    asset_register(
        actor=c.office_jp,
        data={
            "kind": "software",
            "title_en": "Result",
            "owner": c.jp.code,
            "project": e.project.pk,
        },
    )


def released_disbursement(e: Engine) -> Disbursement:
    tranche = Tranche.objects.get(project=e.project, stage__number=1, side="JP")
    tranche_release(tranche_id=tranche.pk)
    return Disbursement.objects.filter(tranche=tranche).order_by("pk").first()  # type: ignore[return-value]


# --------------------------------------------------------------------------- calls


@case("Call", "draft", "open")
def _call_open() -> Move:
    call = CallFactory.create(state="draft", opens_at=timezone.now() - timedelta(days=1))
    who = officer()
    return Move(lambda: call_svc.call_open(actor=who, call=call), who, call, "call.opened")


@case("Call", "open", "closed")
def _call_close() -> Move:
    call = CallFactory.create(closes_at=timezone.now() - timedelta(minutes=1))
    return Move(
        lambda: call_svc.calls_open_and_close(now=timezone.now()), None, call, "call.closed"
    )


@case("Call", "closed", "archived")
def _call_archive() -> Move:
    call = CallFactory.create(state="closed")
    who = officer("KR")
    return Move(lambda: call_svc.call_archive(actor=who, call=call), who, call, "call.archived")


# --------------------------------------------------------------------------- proposals


@case("Proposal", "draft", "submitted")
def _proposal_submit() -> Move:
    proposal, c = complete_proposal()
    return Move(
        lambda: proposal_svc.proposal_submit(proposal=proposal, actor=c.pi_jp),
        c.pi_jp,
        proposal,
        "proposal.submitted",
    )


def _withdraw(proposal: Proposal, who: Any) -> Move:
    return Move(
        lambda: proposal_svc.proposal_withdraw(
            proposal=proposal, actor=who, reason="Changed plans."
        ),
        who,
        proposal,
        "proposal.withdrawn",
    )


@case("Proposal", "draft", "withdrawn")
def _proposal_withdraw_draft() -> Move:
    proposal, c = complete_proposal()
    return _withdraw(proposal, c.pi_kr)


@case("Proposal", "submitted", "withdrawn")
def _proposal_withdraw_submitted() -> Move:
    proposal, c = submitted_proposal()
    key = ApiKey.objects.create(
        organisation=c.jp,
        name="partner",
        key_id="kwithdraw01",
        secret_hash="x",
        scopes=["proposals:write"],
    )
    return _withdraw(proposal, key)


@case("Proposal", "eligible", "withdrawn")
def _proposal_withdraw_eligible() -> Move:
    proposal, c = eligible_proposal()
    return _withdraw(proposal, c.pi_jp)


@case("Proposal", "under_review", "withdrawn")
def _proposal_withdraw_under_review() -> Move:
    proposal, c = proposal_under_review(officer())
    return _withdraw(proposal, c.pi_jp)


@case("Proposal", "submitted", "draft")
def _proposal_returned() -> Move:
    proposal, c = submitted_proposal()
    proposal_svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    # The other lead's research office returns it to the PIs instead of endorsing.
    return Move(
        lambda: proposal_svc.proposal_return(
            proposal=proposal, actor=c.office_kr, reason="The KR budget needs our sign-off."
        ),
        c.office_kr,
        proposal,
        "proposal.returned",
    )


@case("Proposal", "submitted", "eligible")
def _proposal_eligible() -> Move:
    proposal, c = submitted_proposal()
    proposal_svc.proposal_endorse(proposal=proposal, actor=c.office_jp)
    # The second endorsement completes the file; the eligibility rules decide (the system).
    return Move(
        lambda: proposal_svc.proposal_endorse(proposal=proposal, actor=c.office_kr),
        None,
        proposal,
        "proposal.eligible",
        outbox=("proposal.eligibility_decided",),
    )


@case("Proposal", "submitted", "ineligible")
def _proposal_ineligible() -> Move:
    proposal, c = submitted_proposal()
    call = c.call
    call.closes_at = timezone.now() - timedelta(minutes=1)
    call.save(update_fields=["closes_at"])
    # The deadline passes without the research offices' endorsements.
    return Move(
        lambda: call_svc.calls_open_and_close(now=timezone.now()),
        None,
        proposal,
        "proposal.ineligible",
        outbox=("proposal.eligibility_decided",),
    )


@case("Proposal", "eligible", "under_review")
def _proposal_start_review() -> Move:
    proposal, _c = eligible_proposal()
    who = officer()
    return Move(
        lambda: review_svc.proposal_start_review(proposal=proposal, actor=who),
        who,
        proposal,
        "proposal.under_review",
    )


@case("Proposal", "under_review", "awarded")
def _proposal_awarded() -> Move:
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    review_fund_pools(c.call, officers.jp)
    award_svc.award_approve(proposal=proposal, actor=officers.jp, outcome="award", reason="Top.")
    return Move(
        lambda: award_svc.award_approve(
            proposal=proposal, actor=officers.kr, outcome="award", reason="Agreed."
        ),
        officers.kr,
        proposal,
        "proposal.awarded",
        outbox=("award.decided", "project.created"),
    )


def _award_pending(outcome: str = "reject") -> tuple[Proposal, Any, AwardDecision]:
    officers = make_officers()
    proposal, c = proposal_under_review(officers.jp)
    decision = award_svc.award_approve(
        proposal=proposal, actor=officers.jp, outcome=outcome, reason="Weak reviews."
    )
    return proposal, (officers, c), decision


@case("Proposal", "under_review", "rejected")
def _proposal_rejected() -> Move:
    proposal, (officers, _c), _decision = _award_pending()
    return Move(
        lambda: award_svc.award_approve(
            proposal=proposal, actor=officers.kr, outcome="reject", reason="Agreed."
        ),
        officers.kr,
        proposal,
        "proposal.rejected",
        outbox=("award.decided",),
    )


# --------------------------------------------------------------------------- award decisions


@case("AwardDecision", "pending", "completed")
def _award_completed() -> Move:
    proposal, (officers, _c), decision = _award_pending()
    return Move(
        lambda: award_svc.award_approve(
            proposal=proposal, actor=officers.kr2, outcome="reject", reason="Agreed."
        ),
        officers.kr2,
        decision,
        "award.completed",
        outbox=("award.decided",),
    )


@case("AwardDecision", "pending", "withdrawn")
def _award_withdrawn() -> Move:
    _proposal, (officers, _c), decision = _award_pending()
    return Move(
        lambda: award_svc.award_decision_withdraw(decision=decision, actor=officers.jp),
        officers.jp,
        decision,
        "award.withdrawn",
    )


@case("AwardDecision", "pending", "declined")
def _award_declined() -> Move:
    _proposal, (officers, _c), decision = _award_pending()
    return Move(
        lambda: award_svc.award_decision_decline(
            decision=decision, actor=officers.kr, reason="The reviews disagree."
        ),
        officers.kr,
        decision,
        "award.declined",
    )


@case("AwardDecision", "pending", "cancelled")
def _award_cancelled() -> Move:
    proposal, (_officers, c), decision = _award_pending()
    # The consortium withdraws the proposal the decision was about.
    return Move(
        lambda: proposal_svc.proposal_withdraw(proposal=proposal, actor=c.pi_jp, reason="Merged."),
        c.pi_jp,
        decision,
        "award.cancelled",
    )


# --------------------------------------------------------------------------- reviews


def _assignment() -> tuple[ReviewerAssignment, User]:
    by = officer()
    proposal, _c = proposal_under_review(by)
    who = reviewer()
    return review_svc.reviewer_assign(proposal=proposal, reviewer=who, actor=by), who


@case("ReviewerAssignment", "awaiting_declaration", "active", conflict=False)
@case("ReviewerAssignment", "awaiting_declaration", "conflicted", conflict=True)
def _assignment_declare(conflict: bool) -> Move:
    assignment, who = _assignment()
    return Move(
        lambda: review_svc.assignment_declare(
            assignment=assignment, actor=who, conflict=conflict, note="Former colleague."
        ),
        who,
        assignment,
        "review.declared",
    )


@case("ReviewerAssignment", "active", "submitted")
def _review_submit() -> Move:
    assignment, who = _assignment()
    assignment = review_svc.assignment_declare(
        assignment=assignment, actor=who, conflict=False, note=""
    )
    proposal = assignment.proposal
    return Move(
        lambda: review_svc.review_submit(
            assignment=assignment,
            actor=who,
            scores=scores_for(proposal.call, 4, 3, 5),
            comment="Solid plan.",
            recommendation="fund",
        ),
        who,
        assignment,
        "review.submitted",
    )


# --------------------------------------------------------------------------- projects


@case("Project", "active", "suspended")
def _project_suspend() -> Move:
    e = engine_project()
    who = e.staff.jp
    return Move(
        lambda: project_suspend(project=e.project, actor=who, reason="Audit."),
        who,
        e.project,
        "project.suspended",
        outbox=("project.state_changed",),
    )


@case("Project", "suspended", "active")
def _project_resume() -> Move:
    e = engine_project()
    project_suspend(project=e.project, actor=e.staff.jp, reason="Audit.")
    who = e.staff.kr
    return Move(
        lambda: project_resume(project=e.project, actor=who, reason="Cleared."),
        who,
        e.project,
        "project.resumed",
        outbox=("project.state_changed",),
    )


@case("Project", "active", "terminated")
@case("Project", "suspended", "terminated", suspended=True)
def _project_terminate(suspended: bool = False) -> Move:
    e = engine_project()
    if suspended:
        project_suspend(project=e.project, actor=e.staff.jp, reason="Audit.")
    who = e.staff.kr
    return Move(
        lambda: project_terminate(project=e.project, actor=who, reason="Misconduct."),
        who,
        e.project,
        "project.terminated",
        outbox=("project.state_changed",),
    )


@case("Project", "active", "completed")
def _project_completed() -> Move:
    e = engine_project()
    register_result(e)
    decided_by_two(e, evaluated(e, 1), "release")()
    second = decided_by_two(e, evaluated(e, 2), "release")
    return Move(
        second,
        e.staff.kr,
        e.project,
        "project.completed",
        outbox=("project.state_changed", "gate.decided"),
    )


# --------------------------------------------------------------------------- stages, gates


@case("Stage", "planned", "active")
def _stage_started() -> Move:
    e = engine_project()
    second = decided_by_two(e, evaluated(e), "release")
    return Move(second, e.staff.kr, stage(e.project, 2), "stage.started")


@case("Stage", "active", "gate_pending")
def _stage_gate_pending() -> Move:
    e = engine_project()
    gate = gate_of(e.project, 1)
    return Move(
        lambda: gate_evaluate(gate=gate, actor=None, as_of=gate.due_on),
        None,
        stage(e.project, 1),
        "stage.gate_pending",
        outbox=("gate.evaluated", "gate.decision_needed"),
    )


def _extended(e: Engine) -> Any:
    gate = evaluated(e)
    decided_by_two(e, gate, "extend", extension_months=3)()
    gate.refresh_from_db()
    return gate


@case("Stage", "extended", "gate_pending")
def _stage_gate_pending_again() -> Move:
    e = engine_project()
    gate = _extended(e)
    who = e.staff.kr
    return Move(
        lambda: gate_evaluate(gate=gate, actor=who, as_of=gate.due_on),
        who,
        stage(e.project, 1),
        "stage.gate_pending",
        outbox=("gate.evaluated",),
    )


@case("Stage", "active", "failed")
def _stage_failed_on_termination() -> Move:
    e = engine_project()
    who = e.staff.jp
    return Move(
        lambda: project_terminate(project=e.project, actor=who, reason="Misconduct."),
        who,
        stage(e.project, 1),
        "stage.failed",
    )


@case("Stage", "extended", "failed")
def _stage_extended_failed() -> Move:
    e = engine_project()
    _extended(e)
    who = e.staff.kr
    return Move(
        lambda: project_terminate(project=e.project, actor=who, reason="Misconduct."),
        who,
        stage(e.project, 1),
        "stage.failed",
    )


@case("Stage", "gate_pending", "failed")
def _stage_failed_at_gate() -> Move:
    e = engine_project()
    second = decided_by_two(e, evaluated(e), "terminate")
    return Move(
        second,
        e.staff.kr,
        stage(e.project, 1),
        "stage.failed",
        outbox=("project.state_changed",),
    )


@case("Stage", "gate_pending", "extended")
def _stage_extended() -> Move:
    e = engine_project()
    second = decided_by_two(e, evaluated(e), "extend", extension_months=3)
    return Move(second, e.staff.kr, stage(e.project, 1), "stage.extended")


@case("Stage", "gate_pending", "passed", kind="release")
@case("Stage", "gate_pending", "conditional", kind="release_reduced")
def _stage_released(kind: str) -> Move:
    e = engine_project()
    second = decided_by_two(e, evaluated(e), kind)
    return Move(
        second,
        e.staff.kr,
        stage(e.project, 1),
        f"stage.{'passed' if kind == 'release' else 'conditional'}",
        outbox=("gate.decided",),
    )


@case("Gate", "pending", "evaluated")
def _gate_evaluated() -> Move:
    e = engine_project()
    gate = gate_of(e.project, 1)
    who = e.staff.jp
    return Move(
        lambda: gate_evaluate(gate=gate, actor=who, as_of=gate.due_on),
        who,
        gate,
        "gate.evaluated",
        outbox=("gate.decision_needed",),
    )


@case("Gate", "evaluated", "evaluated")
def _gate_evaluated_again() -> Move:
    e = engine_project()
    gate = evaluated(e)
    return Move(
        lambda: gate_evaluate(gate=gate, actor=None, as_of=gate.due_on),
        None,
        gate,
        "gate.evaluated",
    )


@case("Gate", "evaluated", "decided")
def _gate_decided() -> Move:
    e = engine_project()
    gate = evaluated(e)
    second = decided_by_two(e, gate, "release")
    return Move(second, e.staff.kr, gate, "gate.decided")


@case("Gate", "evaluated", "pending")
def _gate_extended() -> Move:
    e = engine_project()
    gate = evaluated(e)
    second = decided_by_two(e, gate, "extend", extension_months=3)
    return Move(second, e.staff.kr, gate, "gate.extended")


# --------------------------------------------------------------------------- gate decisions


def _gate_pending_decision() -> tuple[Engine, Any, GateDecision]:
    e = engine_project()
    gate = evaluated(e)
    decision = gate_decision_approve(
        gate=gate, actor=e.staff.jp, kind="extend", extension_months=3, justification="More data."
    )
    return e, gate, decision


@case("GateDecision", "pending", "completed")
def _gate_decision_completed() -> Move:
    e, gate, decision = _gate_pending_decision()
    return Move(
        lambda: gate_decision_approve(
            gate=gate, actor=e.staff.kr, kind="extend", extension_months=3
        ),
        e.staff.kr,
        decision,
        "gate_decision.completed",
    )


@case("GateDecision", "pending", "withdrawn")
def _gate_decision_withdrawn() -> Move:
    e, _gate, decision = _gate_pending_decision()
    return Move(
        lambda: gate_decision_withdraw(decision=decision, actor=e.staff.jp),
        e.staff.jp,
        decision,
        "gate_decision.withdrawn",
    )


@case("GateDecision", "pending", "declined")
def _gate_decision_declined() -> Move:
    e, _gate, decision = _gate_pending_decision()
    return Move(
        lambda: gate_decision_decline(decision=decision, actor=e.staff.kr2, reason="Too long."),
        e.staff.kr2,
        decision,
        "gate_decision.declined",
    )


@case("GateDecision", "pending", "cancelled")
def _gate_decision_cancelled() -> Move:
    e, _gate, decision = _gate_pending_decision()
    # The project is terminated while the second approval is awaited.
    who = e.staff.kr
    return Move(
        lambda: project_terminate(project=e.project, actor=who, reason="Misconduct."),
        who,
        decision,
        "gate_decision.cancelled",
    )


# --------------------------------------------------------------------------- money


@case("Tranche", "planned", "decided")
def _tranche_decided() -> Move:
    e = engine_project()
    second = decided_by_two(e, evaluated(e), "release")
    tranche = Tranche.objects.get(project=e.project, stage__number=2, side="KR")
    return Move(second, e.staff.kr, tranche, "tranche.decided")


@case("Tranche", "planned", "cancelled", number=2)
@case("Tranche", "decided", "cancelled", number=1)
def _tranche_cancelled(number: int) -> Move:
    e = engine_project()
    tranche = Tranche.objects.get(project=e.project, stage__number=number, side="JP")
    who = e.staff.jp
    # Recorded on the project the termination ends, in the same transaction.
    return Move(
        lambda: project_terminate(project=e.project, actor=who, reason="Misconduct."),
        who,
        tranche,
        "project.terminated",
        about=e.project,
        outbox=("project.state_changed",),
    )


@case("Tranche", "decided", "released")
def _tranche_released() -> Move:
    e = engine_project()
    tranche = Tranche.objects.get(project=e.project, stage__number=1, side="KR")
    return Move(lambda: tranche_release(tranche_id=tranche.pk), None, tranche, "tranche.released")


@case("Disbursement", "payable", "paid")
def _disbursement_paid() -> Move:
    e = engine_project()
    disbursement = released_disbursement(e)
    who = e.staff.finance_jp
    return Move(
        lambda: disbursement_confirm(
            disbursement=disbursement, actor=who, paid_on=_today(), reference="PAY-1"
        ),
        who,
        disbursement,
        "disbursement.confirmed",
    )


@case("Disbursement", "payable", "cancelled")
def _disbursement_clawed_back() -> Move:
    e = engine_project()
    disbursement = released_disbursement(e)
    who = e.staff.jp
    return Move(
        lambda: project_terminate(project=e.project, actor=who, reason="Misconduct."),
        who,
        disbursement,
        "project.terminated",
        about=e.project,
        outbox=("project.state_changed",),
    )


# --------------------------------------------------------------------------- deliverables (§24)


def _deliverable_world() -> tuple[Engine, Any]:
    from projects.models import Deliverable
    from tests.factories.engine import deliverable

    staff = make_staff()
    fund_pools(staff)
    proposal, c = engine_proposal(deliverables={1: [deliverable("Test-chip report")]})
    e = Engine(award(proposal, staff, started_on=START), staff, c)
    return e, Deliverable.objects.get(project=e.project)


def _deliverable_file() -> SimpleUploadedFile:
    return SimpleUploadedFile("report.csv", b"run,value\n1,2\n", content_type="text/csv")


@case("Deliverable", "pending", "submitted")
def _deliverable_submitted() -> Move:
    from projects.services.deliverables import deliverable_submit

    e, target = _deliverable_world()
    who = e.consortium.pi_jp
    return Move(
        lambda: deliverable_submit(deliverable=target, actor=who, files=[_deliverable_file()]),
        who,
        target,
        "deliverable.submitted",
    )


@case("Deliverable", "submitted", "accepted")
def _deliverable_accepted() -> Move:
    from projects.services.deliverables import deliverable_accept, deliverable_submit

    e, target = _deliverable_world()
    deliverable_submit(deliverable=target, actor=e.consortium.pi_kr, files=[_deliverable_file()])
    who = e.staff.kr
    return Move(
        lambda: deliverable_accept(deliverable=target, actor=who),
        who,
        target,
        "deliverable.accepted",
    )


@case("Deliverable", "submitted", "changes_requested")
def _deliverable_changes_requested() -> Move:
    from projects.services.deliverables import deliverable_request_changes, deliverable_submit

    e, target = _deliverable_world()
    deliverable_submit(deliverable=target, actor=e.consortium.pi_jp, files=[_deliverable_file()])
    who = e.staff.jp
    return Move(
        lambda: deliverable_request_changes(deliverable=target, actor=who, reason="Add logs."),
        who,
        target,
        "deliverable.changes_requested",
    )


@case("Deliverable", "changes_requested", "submitted")
def _deliverable_submitted_again() -> Move:
    from projects.services.deliverables import deliverable_request_changes, deliverable_submit

    e, target = _deliverable_world()
    deliverable_submit(deliverable=target, actor=e.consortium.pi_jp, files=[_deliverable_file()])
    deliverable_request_changes(deliverable=target, actor=e.staff.jp, reason="Add logs.")
    who = e.consortium.pi_jp
    return Move(
        lambda: deliverable_submit(deliverable=target, actor=who, files=[_deliverable_file()]),
        who,
        target,
        "deliverable.submitted",
    )


# --------------------------------------------------------------------------- amendments (§24)


def _amendment() -> tuple[Any, Any]:
    from tests.factories.amendments import amend_world, propose

    w = amend_world()
    return w, propose(w, {"kind": "kpi", "kpi": w.kpi_id("K2A"), "target": "25"})


def _amendment_pending() -> tuple[Any, Any, Any]:
    from projects.services.amendments import amendment_approve

    w, amendment = _amendment()
    decision = amendment_approve(amendment=amendment, actor=w.staff.jp)
    return w, amendment, decision


@case("Amendment", "proposed", "approved")
def _amendment_approved() -> Move:
    from projects.services.amendments import amendment_approve

    w, amendment, _decision = _amendment_pending()
    who = w.staff.kr
    return Move(
        lambda: amendment_approve(amendment=amendment, actor=who),
        who,
        amendment,
        "amendment.approved",
        outbox=("amendment.decided",),
    )


@case("Amendment", "proposed", "declined")
def _amendment_declined() -> Move:
    from projects.services.amendments import amendment_decline

    w, amendment = _amendment()
    who = w.staff.kr
    return Move(
        lambda: amendment_decline(amendment=amendment, actor=who, reason="Not now."),
        who,
        amendment,
        "amendment.declined",
        outbox=("amendment.decided",),
    )


@case("Amendment", "proposed", "withdrawn")
def _amendment_withdrawn() -> Move:
    from projects.services.amendments import amendment_withdraw

    w, amendment = _amendment()
    who = w.c.pi_jp
    return Move(
        lambda: amendment_withdraw(amendment=amendment, actor=who),
        who,
        amendment,
        "amendment.withdrawn",
        outbox=("amendment.decided",),
    )


@case("AmendmentDecision", "pending", "completed")
def _amendment_decision_completed() -> Move:
    from projects.services.amendments import amendment_approve

    w, amendment, decision = _amendment_pending()
    who = w.staff.kr
    return Move(
        lambda: amendment_approve(amendment=amendment, actor=who),
        who,
        decision,
        "amendment_decision.completed",
    )


@case("AmendmentDecision", "pending", "withdrawn")
def _amendment_decision_withdrawn() -> Move:
    from projects.services.amendments import amendment_withdraw

    w, amendment, decision = _amendment_pending()
    who = w.staff.jp
    return Move(
        lambda: amendment_withdraw(amendment=amendment, actor=who),
        who,
        decision,
        "amendment_decision.withdrawn",
    )


@case("AmendmentDecision", "pending", "declined")
def _amendment_decision_declined() -> Move:
    from projects.services.amendments import amendment_decline

    w, amendment, decision = _amendment_pending()
    who = w.staff.kr
    return Move(
        lambda: amendment_decline(amendment=amendment, actor=who, reason="Not now."),
        who,
        decision,
        "amendment_decision.declined",
    )


@case("AmendmentDecision", "pending", "cancelled")
def _amendment_decision_cancelled() -> Move:
    from projects.services.amendments import amendment_withdraw

    # The proposer withdraws the amendment while its second approval is awaited.
    w, amendment, decision = _amendment_pending()
    who = w.c.pi_jp
    return Move(
        lambda: amendment_withdraw(amendment=amendment, actor=who),
        who,
        decision,
        "amendment_decision.cancelled",
    )


# --------------------------------------------------------------------------- imports


CSV = b"kpi_code,value,measured_at,note\nK1A,15,2026-05-01T10:00:00+09:00,bench\n"


def _import_job(content: bytes = CSV) -> ImportJob:
    e = engine_project()
    pi = e.consortium.pi_jp
    upload = SimpleUploadedFile("m.csv", content, content_type="text/csv")
    return import_svc.measurements_import_csv(project=e.project, actor=pi, file=upload)


class WorkerDied(Exception):
    pass


def _run_until_the_worker_dies(job: ImportJob) -> None:
    with (
        mock.patch.object(import_svc, "_check_rows", side_effect=WorkerDied),
        pytest.raises(WorkerDied),
    ):
        import_svc.measurements_import_run(job_id=job.pk)


@case("ImportJob", "queued", "running")
def _import_running() -> Move:
    job = _import_job()
    return Move(lambda: _run_until_the_worker_dies(job), None, job, "measurement_import.started")


@case("ImportJob", "running", "running")
def _import_restarted() -> Move:
    job = _import_job()
    _run_until_the_worker_dies(job)
    return Move(lambda: _run_until_the_worker_dies(job), None, job, "measurement_import.started")


@case("ImportJob", "running", "succeeded")
def _import_succeeded() -> Move:
    job = _import_job()
    _run_until_the_worker_dies(job)
    return Move(
        lambda: import_svc.measurements_import_run(job_id=job.pk),
        None,
        job,
        "measurement.imported",
        outbox=("measurement.created",),
    )


@case("ImportJob", "running", "failed")
def _import_failed() -> Move:
    job = _import_job(b"kpi_code,value,measured_at,note\nNOPE,15,2026-05-01T10:00:00+09:00,\n")
    _run_until_the_worker_dies(job)
    return Move(
        lambda: import_svc.measurements_import_run(job_id=job.pk),
        None,
        job,
        "measurement_import.failed",
    )


NOT_PERFORMED[("ImportJob", "queued", "failed")] = (
    "the import task marks its job running before it reads the file; every failure it "
    "records is of a running job"
)


# --------------------------------------------------------------------------- transaction exports


def _export() -> TransactionExport:
    """A queued export of a finance officer (the task's message is not sent: no commit)."""
    finance = UserFactory.create(role=Role.FINANCE_OFFICER, side="JP")
    return export_svc.transaction_export_request(actor=finance, filters={})


class ExportWorkerKilled(BaseException):
    """A worker killed mid-export (the export fails any ordinary error it meets)."""


def _export_until_the_worker_dies(export: TransactionExport) -> None:
    with (
        mock.patch.object(export_svc, "_write", side_effect=ExportWorkerKilled),
        pytest.raises(ExportWorkerKilled),
    ):
        export_svc.transaction_export_run(export_id=export.pk)


@case("TransactionExport", "queued", "running")
def _export_running() -> Move:
    export = _export()
    return Move(
        lambda: _export_until_the_worker_dies(export), None, export, "transaction_export.started"
    )


@case("TransactionExport", "running", "running")
def _export_restarted() -> Move:
    export = _export()
    _export_until_the_worker_dies(export)
    return Move(
        lambda: _export_until_the_worker_dies(export), None, export, "transaction_export.started"
    )


@case("TransactionExport", "running", "completed")
def _export_completed() -> Move:
    export = _export()
    _export_until_the_worker_dies(export)
    return Move(
        lambda: export_svc.transaction_export_run(export_id=export.pk),
        None,
        export,
        "transaction_export.completed",
    )


@case("TransactionExport", "running", "failed")
def _export_failed() -> Move:
    export = _export()
    _export_until_the_worker_dies(export)
    User.objects.filter(pk=export.requested_by_id).update(role=Role.RESEARCHER)
    return Move(
        lambda: export_svc.transaction_export_run(export_id=export.pk),
        None,
        export,
        "transaction_export.failed",
    )


@case("TransactionExport", "queued", "failed")
def _export_given_up() -> Move:
    export = _export()
    later = timezone.now() + export_svc.EXPORT_STUCK_AFTER + timedelta(minutes=1)
    return Move(
        lambda: export_svc.transaction_exports_tidy(now=later),
        None,
        export,
        "transaction_export.failed",
    )


@case("TransactionExport", "completed", "expired")
def _export_expired() -> Move:
    export = _export()
    export_svc.transaction_export_run(export_id=export.pk)
    later = timezone.now() + export_svc.EXPORT_LIFETIME + timedelta(minutes=1)
    return Move(
        lambda: export_svc.transaction_exports_tidy(now=later),
        None,
        export,
        "transaction_export.expired",
    )


# --------------------------------------------------------------------------- notifications


def _notification(**user: Any) -> Notification:
    (notification,) = notify(
        users=[UserFactory.create(**user)],
        message="gate.evaluated",
        params={"number": 1, "outcome": "pass", "score": "1.0000"},
    )
    return notification


@case("Notification", "pending", "sent")
def _email_sent() -> Move:
    notification = _notification()
    return Move(
        lambda: notification_emails_send(notification_ids=[notification.pk]),
        None,
        notification,
        action="",
    )


NOT_AUDITED[("Notification", "pending", "sent")] = (
    "an e-mail that goes out is recorded by the notification's emailed_at; sending runs "
    "after the commit that notified and writes nothing else"
)


@case("Notification", "pending", "skipped")
def _email_skipped() -> Move:
    notification = _notification()
    User.objects.filter(pk=notification.user_id).update(email="")
    return Move(
        lambda: notification_emails_send(notification_ids=[notification.pk]),
        None,
        notification,
        "notification.email_skipped",
    )


@case("Notification", "pending", "failed")
def _email_failed() -> Move:
    notification = _notification()
    return Move(
        lambda: notification_emails_expire(now=timezone.now() + timedelta(days=30)),
        None,
        notification,
        "notification.email_failed",
    )


# --------------------------------------------------------------------------- webhook deliveries


def _delivery(statuses: list[int], *, finished: str | None = None) -> WebhookDelivery:
    """A ping's delivery to a receiver on loopback answering ``statuses`` in turn; with
    ``finished``, already delivered until it reached that state."""
    receiver = Receiver(statuses=statuses)
    receiver.start()
    with override_settings(WEBHOOKS_ALLOW_LOOPBACK=True):
        created = webhook_subscription_create(
            actor=None, organisation_id=OrganisationFactory.create().pk, url=receiver.url
        )
        delivery = webhook_subscription_ping(subscription=created.subscription)
        if finished is not None:
            webhook_delivery_attempt(delivery_id=delivery.pk)
            assert WebhookDelivery.objects.get(pk=delivery.pk).state == finished
    _RECEIVERS.append(receiver)
    return delivery


_RECEIVERS: list[Receiver] = []


@pytest.fixture(autouse=True)
def _receivers_stopped() -> Iterator[None]:
    yield
    while _RECEIVERS:
        _RECEIVERS.pop().stop()


def _attempt(delivery: WebhookDelivery) -> Callable[[], Any]:
    def run() -> Any:
        with override_settings(WEBHOOKS_ALLOW_LOOPBACK=True):
            return webhook_delivery_attempt(delivery_id=delivery.pk)

    return run


@case("WebhookDelivery", "pending", "succeeded")
def _delivery_succeeded() -> Move:
    delivery = _delivery([204])
    return Move(_attempt(delivery), None, delivery, action="")


@case("WebhookDelivery", "pending", "failed")
def _delivery_gone() -> Move:
    delivery = _delivery([410])
    return Move(_attempt(delivery), None, delivery, action="")


@case("WebhookDelivery", "succeeded", "pending", finished="succeeded", status=200)
@case("WebhookDelivery", "failed", "pending", finished="failed", status=410)
def _delivery_again(finished: str, status: int) -> Move:
    delivery = _delivery([status], finished=finished)
    office = member_of(delivery.subscription.organisation, research_office=True)
    return Move(
        lambda: webhook_delivery_redeliver(delivery=delivery, actor=office),
        office,
        delivery,
        action="",
    )


for _edge in (("pending", "succeeded"), ("pending", "failed")):
    NOT_AUDITED[("WebhookDelivery", *_edge)] = (
        "a delivery's attempts are its record: each is a WebhookAttempt row with its time, "
        "status, duration and error, shown on the subscription's page and in the API"
    )
for _edge in (("succeeded", "pending"), ("failed", "pending")):
    NOT_AUDITED[("WebhookDelivery", *_edge)] = (
        "a redelivery sends an event already recorded once more; it shows as a new attempt "
        "in the delivery's log, like the first"
    )


# --------------------------------------------------------------------------- screening


@case("DuplicateFundingFlag", "open", "resolved")
def _duplicate_flag_resolved() -> Move:
    flag, _c, _other = flagged_pair()
    who = officer("KR")
    return Move(
        lambda: duplicate_flag_resolve(
            flag=flag, actor=who, resolution="not_duplicate", note="Different chemistry."
        ),
        who,
        flag,
        "duplicate_flag.resolved",
    )


@case("ScreeningCase", "open", "cleared", decision="clear")
@case("ScreeningCase", "open", "blocked", decision="block")
def _screening_decided(decision: str) -> Move:
    screening_case = open_case(subject_id=1)
    who = UserFactory.create(role=Role.SCREENING_OFFICER)
    return Move(
        lambda: screening_case_decide(
            case=screening_case, actor=who, decision=decision, reason="Checked the end use."
        ),
        who,
        screening_case,
        f"screening.case_{'cleared' if decision == 'clear' else 'blocked'}",
    )


@case("ScreeningCase", "cleared", "superseded")
def _screening_superseded() -> Move:
    load_list()
    screening_case = open_case(parties=[party(1, "Toyo Denshi Ltd")])
    who = UserFactory.create(role=Role.SCREENING_OFFICER)
    screening_case_decide(case=screening_case, actor=who, decision="clear", reason="Civil use.")
    parties = [party(1, "Toyo Denshi Ltd"), party(2, "Northwind Dynamics", country="US")]
    return Move(
        lambda: open_case(parties=parties), None, screening_case, "screening.case_superseded"
    )


# --------------------------------------------------------------------------- IP assets


FILING = {"jurisdiction": "JP", "filing_number": "2026-000321"}


def _asset(status: str) -> tuple[IPAsset, User]:
    world = lic.make_world()
    asset, who = world.asset, world.office_licensor
    for step in ("filed", "granted")[: ("draft", "filed", "granted").index(status)]:
        asset = asset_update(asset=asset, actor=who, data={"status": step, **FILING})
    return asset, who


@case("IPAsset", "draft", "filed")
@case("IPAsset", "draft", "lapsed", target="lapsed")
@case("IPAsset", "filed", "granted", source="filed", target="granted")
@case("IPAsset", "filed", "lapsed", source="filed", target="lapsed")
@case("IPAsset", "granted", "lapsed", source="granted", target="lapsed")
def _asset_status(source: str = "draft", target: str = "filed") -> Move:
    asset, who = _asset(source)
    data: dict[str, Any] = {"status": target}
    if target in ("filed", "granted"):
        data.update(FILING)
    return Move(
        lambda: asset_update(asset=asset, actor=who, data=data), who, asset, "ip_asset.updated"
    )


# --------------------------------------------------------------------------- licences


def _licence(state: str, *, start_in: int = 10, days: int = 365) -> tuple[Licence, lic.World]:
    """A licence walked to ``state`` through the services; its term starts in ``start_in``
    days (an approval then leaves it approved) and lasts ``days``."""
    world = lic.make_world()
    overrides = {
        "start_on": lic.days(start_in).isoformat(),
        "end_on": lic.days(start_in + days).isoformat(),
    }
    licence = lic.draft(world, **overrides)
    if state in ("pending", "approved", "active", "suspended"):
        licence_svc.licence_accept(licence=licence, actor=world.office_licensor)
        licence = licence_svc.licence_accept(licence=licence, actor=world.office_licensee)
    if state in ("approved", "active", "suspended"):
        licence_svc.licence_approve(licence=licence, actor=world.jp)
        licence = licence_svc.licence_approve(licence=licence, actor=world.kr)
    if state in ("active", "suspended") and licence.state != "active":
        licence_svc.licences_activate_and_expire(today=licence.start_on)
    if state == "suspended":
        licence_svc.licence_suspend(licence=licence, actor=world.jp, reason="Audit.")
    licence.refresh_from_db()
    assert licence.state == state, licence.state
    return licence, world


@case("Licence", "draft", "pending")
def _licence_pending() -> Move:
    licence, world = _licence("draft")
    licence_svc.licence_accept(licence=licence, actor=world.office_licensor)
    who = world.office_licensee
    return Move(
        lambda: licence_svc.licence_accept(licence=licence, actor=who),
        who,
        licence,
        "licence.accepted",
        outbox=("licence.pending",),
    )


@case("Licence", "draft", "terminated", by="party")
@case("Licence", "pending", "terminated", source="pending")
@case("Licence", "approved", "terminated", source="approved")
@case("Licence", "active", "terminated", source="active")
@case("Licence", "suspended", "terminated", source="suspended")
def _licence_terminated(source: str = "draft", by: str = "officer") -> Move:
    licence, world = _licence(source)
    who = world.office_licensor if by == "party" else world.kr
    return Move(
        lambda: licence_svc.licence_terminate(licence=licence, actor=who, reason="Withdrawn."),
        who,
        licence,
        "licence.terminated",
    )


@case("Licence", "pending", "approved")
def _licence_approved() -> Move:
    licence, world = _licence("pending")
    licence_svc.licence_approve(licence=licence, actor=world.jp)
    return Move(
        lambda: licence_svc.licence_approve(licence=licence, actor=world.kr),
        world.kr,
        licence,
        "licence.approved",
    )


@case("Licence", "approved", "active")
def _licence_activated() -> Move:
    licence, _world = _licence("approved")
    return Move(
        lambda: licence_svc.licences_activate_and_expire(today=licence.start_on),
        None,
        licence,
        "licence.activated",
    )


@case("Licence", "active", "suspended")
def _licence_suspended() -> Move:
    licence, world = _licence("active")
    return Move(
        lambda: licence_svc.licence_suspend(licence=licence, actor=world.jp, reason="Audit."),
        world.jp,
        licence,
        "licence.suspended",
    )


@case("Licence", "suspended", "active")
def _licence_resumed() -> Move:
    licence, world = _licence("suspended")
    return Move(
        lambda: licence_svc.licence_resume(licence=licence, actor=world.kr, reason="Cleared."),
        world.kr,
        licence,
        "licence.resumed",
    )


@case("Licence", "approved", "expired", source="approved")
@case("Licence", "active", "expired", source="active")
@case("Licence", "suspended", "expired", source="suspended")
def _licence_expired(source: str) -> Move:
    licence, _world = _licence(source)
    after_the_term = licence.end_on + timedelta(days=1)

    def run() -> Any:
        if source != "approved":
            return licence_svc.licences_activate_and_expire(today=after_the_term)
        # The daily job activates an approved licence before it expires it; only one whose
        # activation is refused (its upfront fee cannot be posted) expires from approved.
        refused = Conflict("The upfront fee cannot be posted.", code="ledger_refused")
        with mock.patch.object(licence_svc, "_activate", side_effect=refused):
            return licence_svc.licences_activate_and_expire(today=after_the_term)

    return Move(run, None, licence, "licence.expired")


NOT_PERFORMED[("Licence", "pending", "draft")] = (
    "no service takes a party's acceptance back: a pending licence is approved or terminated"
)


# --------------------------------------------------------------------------- licence approvals


def _licence_approval() -> tuple[Licence, lic.World, LicenceApproval]:
    licence, world = _licence("pending")
    licence_svc.licence_approve(licence=licence, actor=world.jp)
    return licence, world, LicenceApproval.objects.get(licence=licence, state="pending")


@case("LicenceApproval", "pending", "completed")
def _licence_approval_completed() -> Move:
    licence, world, approval = _licence_approval()
    return Move(
        lambda: licence_svc.licence_approve(licence=licence, actor=world.kr2),
        world.kr2,
        approval,
        "licence_approval.completed",
        outbox=("licence.approved",),
    )


@case("LicenceApproval", "pending", "withdrawn")
def _licence_approval_withdrawn() -> Move:
    _licence_row, world, approval = _licence_approval()
    return Move(
        lambda: licence_svc.licence_approval_withdraw(approval=approval, actor=world.jp),
        world.jp,
        approval,
        "licence_approval.withdrawn",
    )


@case("LicenceApproval", "pending", "declined")
def _licence_approval_declined() -> Move:
    _licence_row, world, approval = _licence_approval()
    return Move(
        lambda: licence_svc.licence_approval_decline(
            approval=approval, actor=world.kr, reason="Terms unclear."
        ),
        world.kr,
        approval,
        "licence_approval.declined",
    )


@case("LicenceApproval", "pending", "cancelled")
def _licence_approval_cancelled() -> Move:
    licence, world, approval = _licence_approval()
    # The licence it would approve is terminated: recorded on the licence.
    return Move(
        lambda: licence_svc.licence_terminate(licence=licence, actor=world.kr, reason="Ended."),
        world.kr,
        approval,
        "licence.terminated",
        about=licence,
    )


# --------------------------------------------------------------------------- allocation changes


def _allocation_change() -> tuple[Any, AllocationChange]:
    pw = make_project_world()
    table = [[pw.partner_jp.pk, 5000], [pw.partner_kr.pk, 5000]]
    change = allocation_svc.allocation_change_approve(
        project=pw.project, actor=pw.jp, table=table, reason="The KR partner builds the line."
    )
    return (pw, table), change


@case("AllocationChange", "pending", "completed")
def _allocation_completed() -> Move:
    (pw, table), change = _allocation_change()
    return Move(
        lambda: allocation_svc.allocation_change_approve(
            project=pw.project, actor=pw.kr, table=table, reason="Agreed."
        ),
        pw.kr,
        change,
        "allocation_change.completed",
    )


@case("AllocationChange", "pending", "withdrawn")
def _allocation_withdrawn() -> Move:
    (pw, _table), change = _allocation_change()
    return Move(
        lambda: allocation_svc.allocation_change_withdraw(change=change, actor=pw.jp),
        pw.jp,
        change,
        "allocation_change.withdrawn",
    )


@case("AllocationChange", "pending", "declined")
def _allocation_declined() -> Move:
    (pw, _table), change = _allocation_change()
    return Move(
        lambda: allocation_svc.allocation_change_decline(
            change=change, actor=pw.kr, reason="Not agreed with the partners."
        ),
        pw.kr,
        change,
        "allocation_change.declined",
    )


NOT_PERFORMED[("AllocationChange", "pending", "cancelled")] = (
    "nothing ends a pending change of return allocation on the fund's side; the first "
    "approver withdraws it (``allocation_change_cancel`` is another name for the withdrawal)"
)


# --------------------------------------------------------------------------- sublicence consents


def _sublicence() -> tuple[Any, Licence, Licence]:
    """A pending sublicence (consent requested) of an active sublicensable licence."""
    from tests.factories.licensing import make_licence, make_sublicence
    from tests.factories.licensing import make_world as make_licensing_world

    world = make_licensing_world()
    parent = make_licence(world, sublicensable=True, sublicence_share_bp=1000)
    return world, parent, make_sublicence(world, parent, state="pending")


@case("SublicenceConsent", "requested", "consented")
def _consent_consented() -> Move:
    world, _parent, sub = _sublicence()
    return Move(
        lambda: sublicence_svc.sublicence_consent(sublicence=sub, actor=world.office_licensor),
        world.office_licensor,
        sub.consent,
        "sublicence.granted",
        about=sub,
    )


@case("SublicenceConsent", "requested", "refused")
def _consent_refused() -> Move:
    world, _parent, sub = _sublicence()
    return Move(
        lambda: sublicence_svc.sublicence_refuse(
            sublicence=sub, actor=world.office_licensor, reason="Not to them."
        ),
        world.office_licensor,
        sub.consent,
        "sublicence.refused",
        about=sub,
    )


@case("SublicenceConsent", "requested", "cancelled")
def _consent_cancelled() -> Move:
    world, parent, sub = _sublicence()
    return Move(
        lambda: licence_svc.licence_terminate(licence=parent, actor=world.kr, reason="Breach."),
        world.kr,
        sub.consent,
        "licence.terminated",
        about=sub,
    )


# --------------------------------------------------------------------------- obligations (§23)


def _obligation(overdue: bool = False) -> tuple[Any, Any]:
    from tests.factories.licensing import days, make_world
    from tests.factories.obligations import add_obligation, exclusive_licence
    from tests.factories.obligations import overdue as make_overdue

    world = make_world()
    licence = exclusive_licence(world)
    if overdue:
        return world, make_overdue(world, licence, due_on=days(1))
    return world, add_obligation(world, licence, due_on=days(1))


def _accepted(overdue: bool) -> Move:
    from ip_licensing.services import obligations as ob_svc

    world, obligation = _obligation(overdue)
    ob_svc.obligation_submit_evidence(
        obligation=obligation, actor=world.office_licensee, note="Done."
    )
    return Move(
        lambda: ob_svc.obligation_accept(obligation=obligation, actor=world.office_licensor),
        world.office_licensor,
        obligation,
        "obligation.cured" if overdue else "obligation.met",
    )


case("Obligation", "open", "met", overdue=False)(_accepted)
case("Obligation", "overdue", "cured", overdue=True)(_accepted)


@case("Obligation", "open", "overdue")
def _obligation_overdue() -> Move:
    from ip_licensing.services import obligations as ob_svc

    _world, obligation = _obligation()
    day = obligation.due_on + timedelta(days=1)
    return Move(
        lambda: ob_svc.obligations_mark_due(today=day), None, obligation, "obligation.overdue"
    )


@case("Obligation", "overdue", "breached")
def _obligation_breached() -> Move:
    from ip_licensing.services import obligations as ob_svc

    _world, obligation = _obligation(overdue=True)
    day = obligation.cure_ends_on + timedelta(days=1)
    return Move(
        lambda: ob_svc.obligations_mark_due(today=day), None, obligation, "obligation.breached"
    )


def _waived(overdue: bool) -> Move:
    from ip_licensing.services import obligations as ob_svc

    world, obligation = _obligation(overdue)
    ob_svc.obligation_waive(obligation=obligation, actor=world.jp, reason="Market closed.")
    return Move(
        lambda: ob_svc.obligation_waive(obligation=obligation, actor=world.kr, reason="Agreed."),
        world.kr,
        obligation,
        "obligation.waived",
    )


case("Obligation", "open", "waived", overdue=False)(_waived)
case("Obligation", "overdue", "waived", overdue=True)(_waived)


def _waiver() -> tuple[Any, Any]:
    from ip_licensing.models import ObligationWaiver
    from ip_licensing.services import obligations as ob_svc

    world, obligation = _obligation()
    ob_svc.obligation_waive(obligation=obligation, actor=world.jp, reason="Market closed.")
    return world, ObligationWaiver.objects.get(obligation=obligation)


@case("ObligationWaiver", "pending", "completed")
def _waiver_completed() -> Move:
    from ip_licensing.services import obligations as ob_svc

    world, waiver = _waiver()
    return Move(
        lambda: ob_svc.obligation_waive(obligation=waiver.obligation, actor=world.kr, reason="Ok."),
        world.kr,
        waiver,
        "obligation_waiver.completed",
    )


@case("ObligationWaiver", "pending", "withdrawn")
def _waiver_withdrawn() -> Move:
    from ip_licensing.services import obligations as ob_svc

    world, waiver = _waiver()
    return Move(
        lambda: ob_svc.obligation_waiver_withdraw(waiver=waiver, actor=world.jp),
        world.jp,
        waiver,
        "obligation_waiver.withdrawn",
    )


@case("ObligationWaiver", "pending", "declined")
def _waiver_declined() -> Move:
    from ip_licensing.services import obligations as ob_svc

    world, waiver = _waiver()
    return Move(
        lambda: ob_svc.obligation_waiver_decline(waiver=waiver, actor=world.kr, reason="No."),
        world.kr,
        waiver,
        "obligation_waiver.declined",
    )


NOT_PERFORMED[("ObligationWaiver", "pending", "cancelled")] = (
    "nothing ends a pending waiver on the fund's side: the first approver withdraws it or "
    "an officer of the other side declines it"
)


def _breach_decision() -> tuple[Any, Any]:
    from ip_licensing.models import BreachDecision
    from ip_licensing.services import obligations as ob_svc
    from tests.factories.licensing import make_world
    from tests.factories.obligations import breached, exclusive_licence

    world = make_world()
    licence = exclusive_licence(world)
    obligation = breached(world, licence)
    ob_svc.breach_decide(
        licence=licence, obligation=obligation, actor=world.jp, remedy="convert", reason="r"
    )
    return world, BreachDecision.objects.get(licence=licence)


@case("BreachDecision", "pending", "completed")
def _breach_completed() -> Move:
    from ip_licensing.services import obligations as ob_svc

    world, decision = _breach_decision()
    return Move(
        lambda: ob_svc.breach_decide(
            licence=decision.licence,
            obligation=decision.obligation,
            actor=world.kr,
            remedy="convert",
            reason="r",
        ),
        world.kr,
        decision,
        "breach_decision.completed",
        outbox=("licence.converted_non_exclusive",),
    )


@case("BreachDecision", "pending", "withdrawn")
def _breach_withdrawn() -> Move:
    from ip_licensing.services import obligations as ob_svc

    world, decision = _breach_decision()
    return Move(
        lambda: ob_svc.breach_decision_withdraw(decision=decision, actor=world.jp),
        world.jp,
        decision,
        "breach_decision.withdrawn",
    )


@case("BreachDecision", "pending", "declined")
def _breach_declined() -> Move:
    from ip_licensing.services import obligations as ob_svc

    world, decision = _breach_decision()
    return Move(
        lambda: ob_svc.breach_decision_decline(decision=decision, actor=world.kr, reason="No."),
        world.kr,
        decision,
        "breach_decision.declined",
    )


NOT_PERFORMED[("BreachDecision", "pending", "cancelled")] = (
    "nothing ends a pending answer to a breach on the fund's side: the first approver "
    "withdraws it or an officer of the other side declines it"
)


# --------------------------------------------------------------------------- talent exchange: applications


def _exchange_draft() -> tuple[Any, Any]:
    from tests.factories.mobility import draft_application, exchange

    x = exchange()
    return x, draft_application(x)


def _exchange_in(state: str) -> tuple[Any, Any]:
    from tests.factories import mobility as world

    x = world.exchange()
    build = {
        "submitted": world.submitted_application,
        "endorsed": world.endorsed_application,
        "under_review": world.application_under_review,
    }[state]
    return x, build(x)


@case("VisitApplication", "draft", "submitted")
def _visit_application_submitted() -> Move:
    from mobility.services.applications import application_submit

    x, application = _exchange_draft()
    return Move(
        lambda: application_submit(application=application, actor=x.visitor),
        x.visitor,
        application,
        "visit_application.submitted",
    )


@case("VisitApplication", "draft", "withdrawn")
@case("VisitApplication", "submitted", "withdrawn", state="submitted")
@case("VisitApplication", "endorsed", "withdrawn", state="endorsed")
@case("VisitApplication", "under_review", "withdrawn", state="under_review")
def _visit_application_withdrawn(state: str = "draft") -> Move:
    from mobility.services.applications import application_withdraw

    x, application = _exchange_draft() if state == "draft" else _exchange_in(state)
    return Move(
        lambda: application_withdraw(application=application, actor=x.visitor, reason="Later."),
        x.visitor,
        application,
        "visit_application.withdrawn",
    )


@case("VisitApplication", "submitted", "endorsed")
def _visit_application_endorsed() -> Move:
    from mobility.services.endorsements import application_endorse

    x, application = _exchange_in("submitted")
    return Move(
        lambda: application_endorse(application=application, actor=x.host_office),
        x.host_office,
        application,
        "visit_application.endorsed",
    )


@case("VisitApplication", "submitted", "draft")
def _visit_application_returned() -> Move:
    from mobility.services.endorsements import application_return

    x, application = _exchange_in("submitted")
    return Move(
        lambda: application_return(
            application=application, actor=x.host_office, reason="Start later."
        ),
        x.host_office,
        application,
        "visit_application.returned",
    )


@case("VisitApplication", "submitted", "ineligible")
def _visit_application_ineligible() -> Move:
    from projects.models import Call

    x, application = _exchange_in("submitted")
    Call.objects.filter(pk=x.call.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    x.call.refresh_from_db()
    return Move(
        lambda: call_svc.call_close(actor=None, call=x.call),
        None,
        application,
        "visit_application.ineligible",
    )


@case("VisitApplication", "endorsed", "under_review")
def _visit_application_under_review() -> Move:
    from mobility.services.reviews import application_start_review

    x, application = _exchange_in("endorsed")
    return Move(
        lambda: application_start_review(application=application, actor=x.officers.jp),
        x.officers.jp,
        application,
        "visit_application.under_review",
    )


def _visit_award_pending(outcome: str = "award") -> tuple[Any, Any, Any]:
    from mobility.services.awards import visit_award_approve
    from tests.factories.mobility import fund_exchange_pools

    x, application = _exchange_in("under_review")
    fund_exchange_pools(x)
    decision = visit_award_approve(
        application=application, actor=x.officers.jp, outcome=outcome, reason="Strong plan."
    )
    return x, application, decision


@case("VisitApplication", "under_review", "awarded", outcome="award")
@case("VisitApplication", "under_review", "rejected", outcome="reject")
def _visit_application_decided(outcome: str) -> Move:
    from mobility.services.awards import visit_award_approve

    x, application, _decision = _visit_award_pending(outcome)
    target = "awarded" if outcome == "award" else "rejected"
    return Move(
        lambda: visit_award_approve(
            application=application, actor=x.officers.kr, outcome=outcome, reason="Agreed."
        ),
        x.officers.kr,
        application,
        f"visit_application.{target}",
        outbox=("visit.awarded",) if outcome == "award" else (),
    )


@case("VisitAwardDecision", "pending", "completed")
def _visit_award_completed() -> Move:
    from mobility.services.awards import visit_award_approve

    x, application, decision = _visit_award_pending()
    return Move(
        lambda: visit_award_approve(
            application=application, actor=x.officers.kr, outcome="award", reason="Agreed."
        ),
        x.officers.kr,
        decision,
        "visit_award.completed",
        outbox=("visit.awarded",),
    )


@case("VisitAwardDecision", "pending", "withdrawn")
def _visit_award_withdrawn() -> Move:
    from mobility.services.awards import visit_award_withdraw

    x, _application, decision = _visit_award_pending()
    return Move(
        lambda: visit_award_withdraw(decision=decision, actor=x.officers.jp),
        x.officers.jp,
        decision,
        "visit_award.withdrawn",
    )


@case("VisitAwardDecision", "pending", "declined")
def _visit_award_declined() -> Move:
    from mobility.services.awards import visit_award_decline

    x, _application, decision = _visit_award_pending()
    return Move(
        lambda: visit_award_decline(decision=decision, actor=x.officers.kr, reason="Too long."),
        x.officers.kr,
        decision,
        "visit_award.declined",
    )


@case("VisitAwardDecision", "pending", "cancelled")
def _visit_award_cancelled() -> Move:
    from mobility.services.applications import application_withdraw

    x, application, decision = _visit_award_pending()
    return Move(
        lambda: application_withdraw(application=application, actor=x.visitor),
        x.visitor,
        decision,
        "visit_award.cancelled",
    )


def _visit_assignment() -> tuple[Any, Any, Any]:
    from mobility.services.reviews import application_reviewer_assign

    x, application = _exchange_in("under_review")
    who = reviewer()
    assignment = application_reviewer_assign(
        application=application, reviewer=who, actor=x.officers.jp
    )
    return x, assignment, who


@case("VisitReviewerAssignment", "awaiting_declaration", "active", conflict=False)
@case("VisitReviewerAssignment", "awaiting_declaration", "conflicted", conflict=True)
def _visit_assignment_declare(conflict: bool) -> Move:
    from mobility.services.reviews import application_assignment_declare

    _x, assignment, who = _visit_assignment()
    return Move(
        lambda: application_assignment_declare(
            assignment=assignment, actor=who, conflict=conflict, note="Former colleague."
        ),
        who,
        assignment,
        "visit_review.declared",
    )


@case("VisitReviewerAssignment", "active", "submitted")
def _visit_review_submit() -> Move:
    from mobility.services.reviews import application_assignment_declare, application_review_submit

    x, assignment, who = _visit_assignment()
    assignment = application_assignment_declare(assignment=assignment, actor=who, conflict=False)
    return Move(
        lambda: application_review_submit(
            assignment=assignment,
            actor=who,
            scores=scores_for(x.call, 4, 3, 5),
            comment="Solid plan.",
            recommendation="fund",
        ),
        who,
        assignment,
        "visit_review.submitted",
    )


# --------------------------------------------------------------------------- talent exchange: visits

# --------------------------------------------------------------------------- the test


def test_every_edge_has_a_case():
    assert set(CASES).isdisjoint(NOT_PERFORMED)
    assert set(CASES) | set(NOT_PERFORMED) == set(EDGES)
    assert set(NOT_AUDITED) <= set(CASES)


def _current_txid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        return int(cursor.fetchone()[0])


def _last_id(model: type[models.Model]) -> int:
    return model._default_manager.order_by("-pk").values_list("pk", flat=True).first() or 0


def _outbox_checked(kind: str, after: int) -> Iterator[OutboxEvent]:
    found = list(OutboxEvent.objects.filter(kind=kind, pk__gt=after))
    assert found, f"no {kind} event in the outbox"
    schema = event_type(kind).schema
    assert schema is not None
    for event in found:
        envelope = event.envelope()
        jsonschema.validate(envelope, ENVELOPE_SCHEMA)
        jsonschema.validate(envelope["data"], schema)
        yield event


# --------------------------------------------------------------------------- royalty integrity


def _royalty_period(state: str) -> tuple[Any, Licence, str, Any]:
    """A period of an active licence's whole past quarter, written by the daily job:
    ``due`` (run 30 days after the quarter) or ``overdue`` (run today)."""
    pw = make_project_world()
    licence = project_licence(pw, start_on=licensing_days(-300).isoformat())
    day = licensing_days(-200)
    quarter = (day.year, (day.month - 1) // 3 + 1)
    label = rules.format_quarter(*quarter)
    on = royalty_rules.reminder_day(quarter) if state == "due" else licensing_days(0)
    royalty_overdue_run(today=on)
    period = RoyaltyPeriod.objects.get(licence=licence, quarter=label)
    assert period.state == state
    return pw, licence, label, period


@case("RoyaltyPeriod", "due", "overdue")
def _royalty_period_overdue() -> Move:
    _pw, _licence_row, label, period = _royalty_period("due")
    on = royalty_rules.overdue_day(rules.parse_quarter(label))
    return Move(
        lambda: royalty_overdue_run(today=on),
        None,
        period,
        "royalty_period.overdue",
        outbox=("royalty.overdue",),
    )


@case("RoyaltyPeriod", "due", "reported", source="due")
@case("RoyaltyPeriod", "overdue", "reported", source="overdue")
def _royalty_period_reported(source: str) -> Move:
    pw, licence, label, period = _royalty_period(source)
    return Move(
        lambda: royalty_report_submit(
            licence=licence, actor=pw.office_licensee, quarter=label, net_sales=1_000_000
        ),
        pw.office_licensee,
        period,
        "royalty_period.reported",
        outbox=("royalty.posted",),
    )


@case("RoyaltyAudit", "open", "closed")
def _royalty_audit_closed() -> Move:
    pw, licence, label, _period = _royalty_period("overdue")
    audit = royalty_audit_open(licence=licence, actor=pw.jp, quarter=label)
    return Move(
        lambda: royalty_audit_close(
            audit=audit, actor=pw.kr, finding_amount=50_000, note="Under-reported."
        ),
        pw.kr,
        audit,
        "royalty_audit.closed",
        outbox=("royalty.posted",),
    )


PERFORMED = [pytest.param(key, id="-".join(key)) for key in EDGES if key not in NOT_PERFORMED]


@pytest.mark.parametrize("key", PERFORMED)
def test_the_service_performs_the_move(key):
    name, source, target = key
    model = MODELS[name]
    workflow: Workflow = model.workflow  # type: ignore[attr-defined]
    edge = workflow.edge(source, target)
    assert edge is not None
    move = CASES[key]()
    assert type(move.obj) is model
    assert actor_kinds(move.actor) & edge.by, (move.actor, edge.by)
    row = model._default_manager.get(pk=move.obj.pk)
    assert getattr(row, workflow.field) == source
    audit_mark, outbox_mark = _last_id(AuditEvent), _last_id(OutboxEvent)

    move.run()

    row = model._default_manager.get(pk=move.obj.pk)
    assert getattr(row, workflow.field) == target
    if key in NOT_AUDITED:
        assert not move.action
        return
    about = move.about or move.obj
    events = list(
        AuditEvent.objects.filter(
            pk__gt=audit_mark,
            object_type=object_type_of(about),
            object_id=str(about.pk),
            action=move.action,
        )
    )
    assert events, f"no {move.action} audit event about {about!r}"
    event_type(move.action)  # registered (an unregistered one cannot be written anyway)
    txid = _current_txid()
    assert all(event.txid == txid for event in events)
    if about is move.obj:
        # The event records this move: the state it left and the state it reached.
        assert any(
            (e.after or {}).get(workflow.field) == target
            and (e.before or {}).get(workflow.field, source) == source
            for e in events
        ), [(e.before, e.after) for e in events]
    if isinstance(move.actor, User):
        assert any(e.actor_user_id == move.actor.pk for e in events)
    elif isinstance(move.actor, ApiKey):
        assert any(e.actor_api_key_id == move.actor.pk for e in events)
    kinds = set(move.outbox) | ({move.action} if event_type(move.action).outbox else set())
    for kind in sorted(kinds):
        list(_outbox_checked(kind, outbox_mark))


# --------------------------------------------------------------------------- stage reports (§24)


def _report_world_and_report(state: str = "draft") -> tuple[Any, Any]:
    from projects.services.reports import report_return, report_submit
    from tests.factories.reports import filled_report, report_world

    w = report_world()
    report = filled_report(w)
    if state in ("submitted", "returned"):
        report = report_submit(report=report, actor=w.c.pi_jp)
    if state == "returned":
        report = report_return(report=report, actor=w.staff.jp, reason="More detail.")
    return w, report


@case("StageReport", "draft", "submitted")
def _report_submitted() -> Move:
    from projects.services.reports import report_submit

    w, report = _report_world_and_report()
    who = w.c.pi_jp
    return Move(lambda: report_submit(report=report, actor=who), who, report, "report.submitted")


@case("StageReport", "returned", "submitted")
def _report_resubmitted() -> Move:
    from projects.services.reports import report_submit

    w, report = _report_world_and_report("returned")
    who = w.c.pi_kr
    return Move(lambda: report_submit(report=report, actor=who), who, report, "report.submitted")


@case("StageReport", "submitted", "accepted")
def _report_accepted() -> Move:
    from projects.services.reports import report_accept

    w, report = _report_world_and_report("submitted")
    who = w.staff.kr
    return Move(lambda: report_accept(report=report, actor=who), who, report, "report.accepted")


@case("StageReport", "submitted", "returned")
def _report_returned() -> Move:
    from projects.services.reports import report_return

    w, report = _report_world_and_report("submitted")
    who = w.staff.jp
    return Move(
        lambda: report_return(report=report, actor=who, reason="Travel is over budget."),
        who,
        report,
        "report.returned",
    )


# --------------------------------------------------------------------------- talent exchange: visits


def _visit_arrived_today() -> Any:
    from mobility.services.visits import visit_confirm_arrival
    from tests.factories.mobility import awarded_visit

    visit = awarded_visit()
    return visit_confirm_arrival(visit=visit, actor=officer("KR"), arrived_on=_today())


@case("Visit", "awarded", "active")
def _visit_arrive() -> Move:
    from mobility.services.visits import visit_confirm_arrival
    from tests.factories.mobility import awarded_visit

    visit = awarded_visit()
    who = member_of(visit.application.host_organisation, research_office=True)
    return Move(
        lambda: visit_confirm_arrival(visit=visit, actor=who, arrived_on=_today()),
        who,
        visit,
        "visit.arrived",
    )


@case("Visit", "awarded", "cancelled")
def _visit_cancel() -> Move:
    from mobility.services.visits import visit_cancel
    from tests.factories.mobility import awarded_visit

    visit = awarded_visit()
    who = officer("KR")
    return Move(lambda: visit_cancel(visit=visit, actor=who), who, visit, "visit.cancelled")


@case("Visit", "active", "ended")
def _visit_depart() -> Move:
    from mobility.services.visits import visit_confirm_departure

    visit = _visit_arrived_today()
    who = member_of(visit.application.host_organisation, research_office=True)
    return Move(
        lambda: visit_confirm_departure(visit=visit, actor=who, ended_on=_today()),
        who,
        visit,
        "visit.departed",
        # Month 1, due on the arrival day, is paid with the departure if the job has not.
        outbox=("visit.stipend_released",),
    )


@case("Visit", "ended", "closed")
def _visit_close() -> Move:
    from mobility.services.visits import visit_confirm_departure, visit_final_report_submit

    visit = visit_confirm_departure(
        visit=_visit_arrived_today(), actor=officer("KR"), ended_on=_today()
    )
    who = visit.application.visitor
    return Move(
        lambda: visit_final_report_submit(visit=visit, actor=who, report={"en": "Done."}),
        who,
        visit,
        "visit.closed",
    )
