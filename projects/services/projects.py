"""Projects (§6, §7): created from the awarded proposal, suspended, resumed, terminated.

Lock order across the engine's services: gate → project → stage → tranche → disbursement
→ ledger accounts (see ``projects.services.tranches``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm

from fundapp.accounts.models import User, side_for_country
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, ValidationFailed
from fundapp.kernel import registry
from fundapp.kernel.approvals import decisions_cancel
from fundapp.kernel.calendar import today_in_tokyo as tokyo_today
from fundapp.kernel.decisions import require as _require
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import TransactionKind
from fundapp.ledger.services import ledger_pool_commit, ledger_post
from fundapp.money import format_amount
from projects import permissions as perms
from projects.models import (
    KPI,
    Deliverable,
    Disbursement,
    DisbursementState,
    EvidenceLevel,
    Gate,
    GateDecision,
    Project,
    ProjectOrganisation,
    ProjectPerson,
    ProjectState,
    Proposal,
    ResearchArea,
    Stage,
    StageState,
    Tranche,
    TrancheState,
)
from projects.models.projects import (
    DISBURSEMENT_WORKFLOW,
    PROJECT_WORKFLOW,
    STAGE_WORKFLOW,
    TRANCHE_WORKFLOW,
)
from projects.rules.schedule import (
    chained_gate_days,
    deliverable_due_on,
    gate_day,
    next_stage_start,
)
from projects.services.deliverables import StageDates, deliverables_follow_stages
from projects.services.outbox import project_event

from .tranches import (
    tranche_enqueue_release,
    tranches_decide,
)

FUNDED_SIDES = ("JP", "KR")
# Termination ends whichever stage is running or awaiting its gate (§7).
STAGE_ENDED_BY_TERMINATION = (StageState.ACTIVE, StageState.EXTENDED, StageState.GATE_PENDING)


# --------------------------------------------------------------------------- helpers


def lock_project(project_id: int) -> Project:
    return (
        Project.objects.select_for_update(of=("self",), no_key=True)
        .select_related("call", "call__fund")
        .get(pk=project_id)
    )


def stages_reschedule_after(stage: Stage) -> tuple[list[dict[str, Any]], list[StageDates]]:
    """Re-chain the provisional gate days of the planned stages after ``stage`` (§7).

    Each later stage starts the day after the previous gate day; its gate is that start
    plus its months. Returns what moved, for the caller's audit event, and where each
    re-chained planned stage now lies, for its deliverables
    (``deliverables_follow_stages``).
    """
    later = list(
        Stage.objects.filter(project_id=stage.project_id, number__gt=stage.number)
        .select_related("gate")
        .order_by("number")
    )
    if not later:
        return [], []
    days = chained_gate_days(next_stage_start(stage.gate.due_on), [s.months for s in later])
    moved = []
    planned: list[StageDates] = []
    for later_stage, (start, due) in zip(later, days, strict=True):
        if later_stage.state != StageState.PLANNED:
            break
        planned.append(StageDates(stage_id=later_stage.pk, started_on=start, gate_day=due))
        gate = later_stage.gate
        if gate.due_on != due:
            moved.append({"stage": later_stage.number, "from": gate.due_on, "to": due})
            gate.due_on = due
            gate.save(update_fields=["due_on"])
    return moved, planned


def stage_start(*, stage: Stage, started_on: date, actor: Actor | None) -> Stage:
    """Make a planned stage the running one from ``started_on``; its gate day follows, and
    the due dates of its deliverables and of the later planned stages' follow their
    stage (§24).

    The caller holds the project's lock and has ended the previous stage.
    """
    before = STAGE_WORKFLOW.move(stage, StageState.ACTIVE, actor=actor)
    stage.started_on = started_on
    stage.save(update_fields=["state", "started_on"])
    gate = stage.gate
    gate.due_on = gate_day(started_on, stage.months)
    gate.save(update_fields=["due_on"])
    moved, planned = stages_reschedule_after(stage)
    deliverables_moved = deliverables_follow_stages(
        stages=[
            StageDates(stage_id=stage.pk, started_on=started_on, gate_day=gate.due_on),
            *planned,
        ]
    )
    audit_record(
        actor=actor,
        action="stage.started",
        obj=stage,
        before={"state": before},
        after={
            "state": stage.state,
            "started_on": started_on,
            "gate_due_on": gate.due_on,
            "later_gates_moved": moved,
            "deliverables_moved": deliverables_moved,
        },
    )
    return stage


# --------------------------------------------------------------------------- award


def _snapshot(proposal: Proposal) -> dict[str, Any]:
    version = proposal.versions.order_by("-number").first()
    if version is None:
        raise Conflict(
            _("The proposal has no submitted version to create a project from."),
            code="no_version",
        )
    return version.content


def _commit_budget(project: Project, side: str, total: int, actor: Actor) -> None:
    ledger_pool_commit(
        side=side,
        currency=ledger_rules.SIDE_CURRENCY[side],
        total=total,
        committed_account=ledger_rules.account_code_project_committed(project.pk, side),
        reference=f"project:{project.pk}:{side}:commit",
        memo=f"Award of project {project.pk} (proposal {project.proposal_id})",
        refusal=_("The %(side)s pool holds %(held)s; this award would commit %(needed)s."),
        actor=actor,
    )


def project_create_from_proposal(
    *, proposal: Proposal, actor: Actor, started_on: date | None = None
) -> Project:
    """Create the project an award decides, from the proposal's frozen latest version (§6).

    Called by the award's completion inside its transaction (the proposal row locked).
    In one transaction (a savepoint inside the caller's), this creates the project (started
    today in Asia/Tokyo unless ``started_on`` is given), its organisations with their
    budgets, its people (each granted guardian's ``view_project``), stages (stage 1 active),
    gates (calendar months; later gates provisional), KPIs, one tranche per stage and side
    with a planned amount, and the default return-allocation table (§10.5); commits each
    side's whole budget in the ledger (pool → ``project:{id}:{side}:committed``); decides
    tranche 1 of each side (multiplier 1) and enqueues its release after commit.

    Refused, with nothing saved: a non-officer (``PermissionDenied``); a proposal that
    already has a project or has no submitted version, or a side whose pool cannot cover
    the award (``Conflict``, code ``pool_insufficient``). Audited throughout.
    """
    _require(perms.can_award_project(actor))
    with transaction.atomic():
        locked = (
            Proposal.objects.select_for_update(of=("self",))
            .select_related("call", "call__fund")
            .get(pk=proposal.pk)
        )
        if Project.objects.filter(proposal=locked).exists():
            raise Conflict(_("This proposal already has a project."), code="already_awarded")
        content = _snapshot(locked)
        start = started_on or tokyo_today()
        area_code = content.get("research_area")
        titles = content.get("title") or {}
        project = Project.objects.create(
            proposal=locked,
            call=locked.call,
            title_en=titles.get("en", ""),
            title_ja=titles.get("ja", ""),
            title_ko=titles.get("ko", ""),
            research_area=ResearchArea.objects.filter(code=area_code).first()
            if area_code
            else None,
            started_on=start,
        )

        budget_by_org: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for line in content.get("budget", []):
            budget_by_org[line["organisation_id"]][line["currency"]] += int(line["amount"])
        organisations = []
        for order, member in enumerate(content.get("members", [])):
            side = side_for_country(member["country"])
            currency = ledger_rules.SIDE_CURRENCY.get(side, "")
            org_id = member["organisation_id"]
            organisations.append(
                ProjectOrganisation(
                    project=project,
                    organisation_id=org_id,
                    role=member["role"],
                    side=side,
                    currency=currency,
                    budget=budget_by_org[org_id].get(currency, 0) if currency else 0,
                    order=order,
                )
            )
        ProjectOrganisation.objects.bulk_create(organisations)

        people = [
            ProjectPerson(
                project=project,
                organisation_id=person["organisation_id"],
                user_id=person["user"],
                role=person["role"],
                effort_percent=person["effort_percent"],
            )
            for person in content.get("people", [])
        ]
        ProjectPerson.objects.bulk_create(people)
        for user in User.objects.filter(pk__in=[p.user_id for p in people]).order_by("pk"):
            assign_perm("projects.view_project", user, project)

        stage_specs = sorted(content.get("stages", []), key=lambda s: s["number"])
        if not stage_specs:
            raise ValidationFailed(
                _("The proposal has no stages."), errors={"stages": [_("Add the stage plan.")]}
            )
        schedule = chained_gate_days(start, [int(s["months"]) for s in stage_specs])
        stages: list[Stage] = []
        totals = dict.fromkeys(FUNDED_SIDES, 0)
        tranches: list[Tranche] = []
        kpis: list[KPI] = []
        deliverables: list[Deliverable] = []
        for spec, (stage_start, due) in zip(stage_specs, schedule, strict=True):
            first = not stages
            stage = Stage.objects.create(
                project=project,
                number=spec["number"],
                title=spec["title"],
                months=spec["months"],
                deliverable=spec.get("deliverable", ""),
                state=StageState.ACTIVE if first else StageState.PLANNED,
                started_on=start if first else None,
            )
            Gate.objects.create(stage=stage, due_on=due)
            stages.append(stage)
            for k in spec.get("kpis", []):
                names = k.get("name") or {}
                # Proposals frozen before evidence levels (§22) carry neither field.
                verification = k.get("means_of_verification") or {}
                kpis.append(
                    KPI(
                        project=project,
                        stage=stage,
                        code=k["code"],
                        name_en=names.get("en", ""),
                        name_ja=names.get("ja", ""),
                        name_ko=names.get("ko", ""),
                        unit=k.get("unit", ""),
                        direction=k["direction"],
                        baseline=Decimal(str(k["baseline"])),
                        target=Decimal(str(k["target"])),
                        weight=Decimal(str(k["weight"])),
                        mandatory=bool(k.get("mandatory")),
                        aggregation=k["aggregation"],
                        means_of_verification_en=verification.get("en", ""),
                        means_of_verification_ja=verification.get("ja", ""),
                        means_of_verification_ko=verification.get("ko", ""),
                        evidence=k.get("evidence", EvidenceLevel.NONE),
                    )
                )
            # Proposals frozen before deliverables (§24) have none.
            for d in spec.get("deliverables", []):
                titles = d.get("title") or {}
                month = int(d.get("due_month") or spec["months"])
                deliverables.append(
                    Deliverable(
                        project=project,
                        stage=stage,
                        title_en=titles.get("en", ""),
                        title_ja=titles.get("ja", ""),
                        title_ko=titles.get("ko", ""),
                        kind=d["kind"],
                        due_month=month,
                        due_on=deliverable_due_on(stage_start, month, due),
                        mandatory=bool(d.get("mandatory", True)),
                    )
                )
            planned = spec.get("planned") or {}
            for side in FUNDED_SIDES:
                amount = int(planned.get(ledger_rules.SIDE_CURRENCY[side], 0))
                if amount > 0:
                    totals[side] += amount
                    tranches.append(
                        Tranche(
                            project=project,
                            stage=stage,
                            side=side,
                            currency=ledger_rules.SIDE_CURRENCY[side],
                            planned=amount,
                        )
                    )
        KPI.objects.bulk_create(kpis)
        Deliverable.objects.bulk_create(deliverables)
        Tranche.objects.bulk_create(tranches)
        project.current_stage = stages[0]
        project.save(update_fields=["current_stage"])

        if not any(po.budget for po in organisations):
            message = _("The proposal has no budget to fund.")
            raise ValidationFailed(message, errors={"budget": [message]})
        # In-kind organisations (no funded side) weigh nothing: 0 basis points.
        # The licensing domain writes the default return-allocation table (§10.5).
        table = registry.return_allocation_start.get()(
            project,
            [(po.organisation_id, po.currency or "JPY", po.budget) for po in organisations],
            locked.call.fund.reference_rate_krw_per_jpy,
        )
        audit_record(
            actor=actor,
            action="project.created",
            obj=project,
            after={
                "proposal": locked.pk,
                "started_on": start,
                "organisations": [
                    [po.organisation_id, po.role, po.side, po.budget] for po in organisations
                ],
                "people": [p.user_id for p in people],
                "stages": [
                    {"number": s.number, "months": s.months, "gate_due_on": due}
                    for s, (_s, due) in zip(stages, schedule, strict=True)
                ],
                "tranches": [[t.stage.number, t.side, t.planned] for t in tranches],
                "deliverables": [
                    [d.stage.number, d.title, d.due_on, d.mandatory] for d in deliverables
                ],
                "return_allocation_bp": [[org_id, bp] for org_id, bp in table],
                "committed": totals,
            },
        )
        project_event(
            "project.created",
            project,
            organisation_ids=[po.organisation_id for po in organisations],
        )
        for side in FUNDED_SIDES:
            if totals[side]:
                _commit_budget(project, side, totals[side], actor)
        first_tranches = [t for t in tranches if t.stage_id == stages[0].pk]
        tranches_decide(tranches=first_tranches, multiplier=Decimal(1), decision=None, actor=actor)
    return project


# --------------------------------------------------------------------------- state changes


def _clean_reason(reason: str) -> str:
    text = (reason or "").strip() if isinstance(reason, str) else ""
    if not text:
        message = _("Give the reason.")
        raise ValidationFailed(message, errors={"reason": [message]})
    if len(text) > 5000:
        message = _("The reason is longer than 5,000 characters.")
        raise ValidationFailed(message, errors={"reason": [message]})
    return text


def project_suspend(*, project: Project, actor: Actor, reason: str) -> Project:
    """Suspend an active project (§7): it releases nothing until resumed. Locked, audited."""
    _require(perms.can_change_project_state(actor))
    text = _clean_reason(reason)
    with transaction.atomic():
        locked = lock_project(project.pk)
        before = PROJECT_WORKFLOW.move(locked, ProjectState.SUSPENDED, actor=actor)
        locked.save(update_fields=["state"])
        audit_record(
            actor=actor,
            action="project.suspended",
            obj=locked,
            before={"state": before},
            after={"state": locked.state, "reason": text},
        )
        project_event("project.state_changed", locked, previous_state=before)
    return locked


def project_resume(*, project: Project, actor: Actor, reason: str = "") -> Project:
    """Resume a suspended project; its decided tranches are released again (after commit)."""
    _require(perms.can_change_project_state(actor))
    with transaction.atomic():
        locked = lock_project(project.pk)
        before = PROJECT_WORKFLOW.move(locked, ProjectState.ACTIVE, actor=actor)
        locked.save(update_fields=["state"])
        audit_record(
            actor=actor,
            action="project.resumed",
            obj=locked,
            before={"state": before},
            after={"state": locked.state, "reason": (reason or "").strip()},
        )
        project_event("project.state_changed", locked, previous_state=before)
        for tranche_id in Tranche.objects.filter(
            project=locked, state=TrancheState.DECIDED
        ).values_list("pk", flat=True):
            tranche_enqueue_release(tranche_id)
    return locked


def project_terminate(
    *, project: Project, actor: Actor, reason: str, clawback: bool = True
) -> Project:
    """Terminate an active or suspended project (§7, §9).

    In one transaction, after locking the project, its stages, tranches and (with
    ``clawback``) its payable disbursements in ``pk`` order: the running stage fails; a
    pending gate decision is cancelled; every planned or decided tranche is cancelled;
    per side, ONE ledger transaction (reference
    ``project:{id}:{side}:terminate``) returns the committed money — and with ``clawback``
    the released-but-unpaid money, whose disbursements are cancelled — to the side's pool;
    money already paid is recorded as a recovery claim (an audit event, and in
    ``end_reason``). Fund officers only; a reason is required.
    """
    _require(perms.can_change_project_state(actor))
    text = _clean_reason(reason)
    with transaction.atomic():
        locked = lock_project(project.pk)
        before = PROJECT_WORKFLOW.move(locked, ProjectState.TERMINATED, actor=actor)
        ended_stages = []
        for stage in (
            Stage.objects.select_for_update(of=("self",))
            .filter(project=locked, state__in=STAGE_ENDED_BY_TERMINATION)
            .order_by("pk")
        ):
            stage_before = STAGE_WORKFLOW.move(stage, StageState.FAILED, actor=actor)
            stage.save(update_fields=["state"])
            ended_stages.append(stage.number)
            audit_record(
                actor=actor,
                action="stage.failed",
                obj=stage,
                before={"state": stage_before},
                after={"state": stage.state, "by": "termination"},
            )
        decisions_cancel(
            GateDecision.objects.filter(gate__stage__project=locked),
            actor=actor,
            reason="project terminated",
        )
        returned: dict[str, list[tuple[str, int]]] = {side: [] for side in FUNDED_SIDES}
        committed = dict.fromkeys(FUNDED_SIDES, 0)
        cancelled_tranches = []
        for tranche in (
            Tranche.objects.select_for_update(of=("self",))
            .filter(project=locked, state__in=[TrancheState.PLANNED, TrancheState.DECIDED])
            .order_by("pk")
        ):
            TRANCHE_WORKFLOW.move(tranche, TrancheState.CANCELLED, actor=actor)
            tranche.save(update_fields=["state"])
            committed[tranche.side] += tranche.planned
            cancelled_tranches.append(tranche.pk)
        clawed: dict[str, int] = dict.fromkeys(FUNDED_SIDES, 0)
        cancelled_disbursements = []
        if clawback:
            for disbursement in (
                Disbursement.objects.select_for_update(of=("self",))
                .filter(tranche__project=locked, state=DisbursementState.PAYABLE)
                .select_related("tranche")
                .order_by("pk")
            ):
                DISBURSEMENT_WORKFLOW.move(disbursement, DisbursementState.CANCELLED, actor=actor)
                disbursement.save(update_fields=["state"])
                side = disbursement.tranche.side
                clawed[side] += disbursement.amount
                returned[side].append(
                    (
                        ledger_rules.account_code_org_payable(
                            disbursement.organisation_id, disbursement.currency
                        ),
                        -disbursement.amount,
                    )
                )
                cancelled_disbursements.append(disbursement.pk)
        postings = {}
        for side in FUNDED_SIDES:
            legs = list(returned[side])
            if committed[side]:
                legs.append(
                    (ledger_rules.account_code_project_committed(locked.pk, side), -committed[side])
                )
            total = committed[side] + clawed[side]
            if not total:
                continue
            legs.append((ledger_rules.account_code_fund_pool(side), total))
            txn = ledger_post(
                kind=TransactionKind.TERMINATION,
                currency=ledger_rules.SIDE_CURRENCY[side],
                legs=legs,
                reference=f"project:{locked.pk}:{side}:terminate",
                memo=f"Termination of project {locked.pk}",
                actor=actor,
            )
            postings[side] = txn.pk
        paid = {
            side: sum(
                Disbursement.objects.filter(
                    tranche__project=locked, tranche__side=side, state=DisbursementState.PAID
                ).values_list("amount", flat=True)
            )
            for side in FUNDED_SIDES
        }
        claim = [
            format_amount(paid[side], ledger_rules.SIDE_CURRENCY[side])
            for side in FUNDED_SIDES
            if paid[side]
        ]
        end_reason = text
        if claim:
            end_reason += "\n\n" + _("Recovery claim against money already paid: %(amounts)s.") % {
                "amounts": ", ".join(claim)
            }
        locked.ended_at = timezone.now()
        locked.end_reason = end_reason
        locked.save(update_fields=["state", "ended_at", "end_reason"])
        audit_record(
            actor=actor,
            action="project.terminated",
            obj=locked,
            before={"state": before},
            after={
                "state": locked.state,
                "reason": text,
                "clawback": clawback,
                "stages_failed": ended_stages,
                "tranches_cancelled": cancelled_tranches,
                "disbursements_cancelled": cancelled_disbursements,
                "returned_to_pool": {side: committed[side] + clawed[side] for side in FUNDED_SIDES},
                "ledger_transactions": postings,
            },
        )
        project_event("project.state_changed", locked, previous_state=before)
        if any(paid.values()):
            audit_record(
                actor=actor,
                action="project.recovery_claim",
                obj=locked,
                after={
                    "paid": {
                        ledger_rules.SIDE_CURRENCY[side]: paid[side]
                        for side in FUNDED_SIDES
                        if paid[side]
                    },
                    "reason": text,
                },
            )
    return locked
