"""Amendments to a project's frozen plan (§24): proposed by a PI of the project or a fund
officer, approved by two fund officers of different sides (the two-person component),
applied by the second approval.

Lock order (every writer here, the same as a gate's evaluation, so the two serialise on the
project without deadlocking): the project's gates, then the project, then its stages, its
tranches, its organisations and its KPIs, each kind in ``pk`` order; then the amendment and
its live decision; the ledger locks its accounts last (``ledger_post``).

The approval applies the change set in ONE transaction: KPIs, stage months (and the gate
days that follow), budget lines (the award's ``BudgetLine`` rows and each organisation's
``ProjectOrganisation.budget``, which shares every later release), planned tranches and
partners; it raises the plan version, stores the diff, and re-commits each side's
difference in the ledger (pool → committed when the unreleased tranches grow, committed →
pool when they shrink; a growth the pool cannot cover is refused and nothing changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from fundapp.accounts.models import Organisation, Role, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import Conflict, ValidationFailed
from fundapp.kernel import inputs
from fundapp.kernel.approvals import (
    DecisionState,
    clean_decline_reason,
    decision_approve,
    decision_decline,
    decision_withdraw,
    decisions_cancel,
    other_side,
)
from fundapp.kernel.decisions import require as _require
from fundapp.kernel.problems import Problems
from fundapp.ledger import rules as ledger_rules
from fundapp.ledger.models import TransactionKind
from fundapp.ledger.selectors import account_balance
from fundapp.ledger.services import InsufficientFunds, ledger_post
from fundapp.money import format_amount
from fundapp.notifications.outbox import event_record
from projects.events_amendments import amendment_data
from projects.models import (
    AMENDMENT_WORKFLOW,
    KPI,
    Amendment,
    AmendmentDecision,
    AmendmentState,
    BudgetLine,
    Disbursement,
    Gate,
    GateEvaluation,
    Project,
    ProjectOrganisation,
    ProjectPerson,
    ProjectState,
    Stage,
    StageState,
    Tranche,
    TrancheState,
)
from projects.permissions import (
    can_decide_amendment,
    can_propose_amendment,
    can_withdraw_amendment,
)
from projects.rules import amendments as rules
from projects.rules.schedule import gate_day
from projects.services.deliverables import StageDates, deliverables_follow_stages
from projects.services.notices import (
    notify_people,
    officers,
    project_organisation_ids,
    project_pis,
)
from projects.services.projects import stages_reschedule_after

REASON_MAX_LENGTH = 4000
FUNDED_SIDES = rules.FUNDED_SIDES


def _url(amendment: Amendment) -> str:
    return reverse("amendments:detail", args=[amendment.project_id, amendment.pk])


# --------------------------------------------------------------------------- the plan


@dataclass
class _Locked:
    """The project's rows under lock, and the plan they make."""

    project: Project
    stages: dict[int, Stage]  # by number
    tranches: dict[tuple[int, str], Tranche]
    organisations: dict[int, ProjectOrganisation]  # by organisation id
    kpis: dict[int, KPI]
    plan: rules.Plan
    bounds: rules.Bounds


def _read_plan(project: Project, *, lock: bool) -> _Locked:
    """The project's current plan (with ``lock``, its rows locked in the documented order;
    the caller holds the transaction)."""

    def rows(qs: Any) -> list[Any]:
        return list(qs.select_for_update(of=("self",)) if lock else qs)

    if lock:
        list(
            Gate.objects.select_for_update(of=("self",), no_key=True)
            .filter(stage__project_id=project.pk)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        project = (
            Project.objects.select_for_update(of=("self",), no_key=True)
            .select_related("call")
            .get(pk=project.pk)
        )
    stages = {s.number: s for s in rows(Stage.objects.filter(project=project).order_by("pk"))}
    tranches = {
        (t.stage.number, t.side): t
        for t in rows(
            Tranche.objects.filter(project=project).select_related("stage").order_by("pk")
        )
    }
    organisations = {
        o.organisation_id: o
        for o in rows(
            ProjectOrganisation.objects.filter(project=project)
            .select_related("organisation")
            .order_by("pk")
        )
    }
    kpis = {k.pk: k for k in rows(KPI.objects.filter(project=project).order_by("pk"))}
    evaluated = set(
        GateEvaluation.objects.filter(gate__stage__project=project)
        .values_list("gate__stage__number", flat=True)
        .distinct()
    )
    received = set(
        Disbursement.objects.filter(tranche__project=project)
        .values_list("organisation_id", flat=True)
        .distinct()
    )
    staffed = set(
        ProjectPerson.objects.filter(project=project)
        .values_list("organisation_id", flat=True)
        .distinct()
    )
    budget: dict[tuple[int, str], int] = {}
    for org_id, category, amount in BudgetLine.objects.filter(
        proposal_id=project.proposal_id, organisation_id__in=list(organisations)
    ).values_list("organisation_id", "category", "amount"):
        budget[(org_id, category)] = budget.get((org_id, category), 0) + amount
    for org_id, member in organisations.items():
        # Budgets without category lines (older awards) are read as ``other``.
        rest = member.budget - sum(a for (o, _c), a in budget.items() if o == org_id)
        if rest:
            budget[(org_id, "other")] = budget.get((org_id, "other"), 0) + rest
    plan = rules.Plan(
        stages=tuple(
            rules.StagePlan(n, s.months, evaluated=n in evaluated)
            for n, s in sorted(stages.items())
        ),
        kpis=tuple(
            rules.KpiPlan(
                k.pk,
                k.code,
                next(n for n, s in stages.items() if s.pk == k.stage_id),
                k.baseline,
                k.target,
                k.weight,
                k.evidence,
                k.mandatory,
            )
            for k in kpis.values()
        ),
        tranches=tuple(
            rules.TranchePlan(
                n,
                side,
                t.planned,
                open=t.state == TrancheState.PLANNED and stages[n].state == StageState.PLANNED,
            )
            for (n, side), t in sorted(tranches.items())
        ),
        organisations=tuple(
            rules.OrganisationPlan(
                org_id, o.side, o.role, received=org_id in received, staffed=org_id in staffed
            )
            for org_id, o in sorted(organisations.items(), key=lambda i: (i[1].order, i[1].pk))
        ),
        budget=budget,
    )
    call = project.call
    bounds = rules.Bounds(
        max_budget_jpy=call.max_budget_jpy,
        max_budget_krw=call.max_budget_krw,
        max_project_months=call.max_project_months,
    )
    return _Locked(project, stages, tranches, organisations, kpis, plan, bounds)


def _newcomers(changes: Any) -> dict[int, str]:
    """The sides of the organisations a change set would add (one query)."""
    ids = (
        {
            c.get("organisation")
            for c in changes
            if isinstance(c, dict) and c.get("kind") == "partner_add"
        }
        if isinstance(changes, list)
        else set()
    )
    wanted = [pk for pk in ids if isinstance(pk, int) and not isinstance(pk, bool)]
    return dict(Organisation.objects.filter(pk__in=wanted).values_list("pk", "side"))


def amendment_preview(*, project: Project, changes: Any) -> rules.Applied:
    """The change set against the current plan (nothing locked, nothing written)."""
    current = _read_plan(project, lock=False)
    return rules.amendment_apply(
        current.plan, changes, current.bounds, newcomers=_newcomers(changes)
    )


# --------------------------------------------------------------------------- propose


def amendment_propose(*, project: Project, actor: Actor, changes: Any, reason: Any) -> Amendment:
    """A PI of the project or a fund officer proposes a change set (§24).

    Guarantees: the actor may propose (403; the caller has checked they see the project);
    the reason and the change set are checked against the current plan before anything is
    written (422, field errors ``changes.<i>.<field>``; a change to an evaluated stage or
    released money is refused the same way); the project must be active (409). The
    amendment records the plan version it was written against and the diff it would make.
    Audited ``amendment.proposed``; the outbox event ``amendment.proposed`` and the
    notices to the project's PIs and the fund officers are written in the same transaction.
    """
    _require(can_propose_amendment(actor, project))
    assert isinstance(actor, User)
    problems = Problems()
    text = inputs.text(problems, "reason", reason, max_length=REASON_MAX_LENGTH, required=True)
    if problems:
        raise ValidationFailed(
            _("The amendment has errors; see the fields."), errors=problems.as_dict()
        )
    with transaction.atomic():
        current = _read_plan(project, lock=True)
        locked = current.project
        if locked.state != ProjectState.ACTIVE:
            raise Conflict(
                _("This project is “%(state)s”; only an active project's plan can be amended.")
                % {"state": ProjectState(locked.state).label},
                code="invalid_state",
            )
        applied = rules.amendment_apply(
            current.plan, changes, current.bounds, newcomers=_newcomers(changes)
        )
        if applied.all_problems:
            found = Problems()
            found.extend(applied.all_problems)
            raise ValidationFailed(
                _("The amendment has errors; see the fields."), errors=found.as_dict()
            )
        amendment = Amendment.objects.create(
            project=locked,
            base_version=locked.plan_version,
            reason=text,
            changes=changes,
            diff=applied.diff,
            proposed_by=actor,
        )
        audit_record(
            actor=actor,
            action="amendment.proposed",
            obj=amendment,
            after={
                "state": amendment.state,
                "project": locked.pk,
                "base_version": amendment.base_version,
                "reason": text,
                "changes": changes,
            },
        )
        _event("amendment.proposed", amendment)
        _tell(amendment, "amendment.proposed", exclude=actor)
    return amendment


# --------------------------------------------------------------------------- decide


def _stale(amendment: Amendment, current: _Locked) -> rules.Applied:
    """The change set against the locked current plan; 409 when it has gone stale."""
    if current.project.plan_version != amendment.base_version:
        raise Conflict(
            _(
                "The plan has changed since this amendment was proposed (version %(base)d, now "
                "%(now)d); decline or withdraw it and propose it again."
            )
            % {"base": amendment.base_version, "now": current.project.plan_version},
            code="amendment_stale",
        )
    applied = rules.amendment_apply(
        current.plan,
        amendment.changes,
        current.bounds,
        newcomers=_newcomers(amendment.changes),
    )
    if applied.all_problems:
        found = Problems()
        found.extend(applied.all_problems)
        raise Conflict(
            _("This amendment no longer fits the plan: %(why)s")
            % {"why": applied.all_problems[0].message},
            code="amendment_stale",
            errors=found.as_dict(),
        )
    return applied


def _lock(amendment: Amendment) -> tuple[_Locked, Amendment]:
    current = _read_plan(amendment.project, lock=True)
    locked = Amendment.objects.select_for_update(of=("self",)).get(pk=amendment.pk)
    return current, locked


def amendment_approve(*, amendment: Amendment, actor: Actor) -> AmendmentDecision:
    """A fund officer approves an amendment under the two-person rule (§2, §24).

    Guarantees: fund officers of the JP or KR side only (403); the rows are locked in the
    documented order; the amendment must be proposed (409) and still fit the plan: a plan
    version moved on, or a stage it changes evaluated meanwhile, is refused as stale
    (409, ``amendment_stale``). The first approval is a pending ``AmendmentDecision`` (the
    other side's officers are told); the second, by another officer of the other side,
    completes it and applies the amendment in the same transaction (``_apply``); any
    refusal there (a pool that cannot cover a growth: 409 ``pool_insufficient``) rolls all
    of it back and the approval stays pending.
    """
    _require(can_decide_amendment(actor))
    assert isinstance(actor, User)
    with transaction.atomic():
        current, locked = _lock(amendment)
        if locked.state != AmendmentState.PROPOSED:
            raise Conflict(
                _("This amendment is “%(state)s”; it can no longer be approved.")
                % {"state": AmendmentState(locked.state).label},
                code="invalid_state",
            )
        applied = _stale(locked, current)
        live = (
            AmendmentDecision.objects.select_for_update(of=("self",))
            .filter(amendment=locked, state=DecisionState.PENDING)
            .first()
        )
        decision = decision_approve(
            live=live,
            new=lambda: AmendmentDecision(amendment=locked),
            actor=actor,
            on_complete=lambda _done: _apply(current, locked, applied, actor),
            audit_first={"amendment": locked.pk, "project": locked.project_id},
            audit_complete={"amendment": locked.pk, "project": locked.project_id},
        )
        if live is None:
            notify_people(
                users=officers(roles=[Role.FUND_OFFICER], side=other_side(actor.side)),
                message="amendment.awaits_approval",
                params={"project": locked.project_id, "amendment": locked.pk},
                url=_url(locked),
            )
    return decision


def _apply(current: _Locked, amendment: Amendment, applied: rules.Applied, actor: User) -> None:
    """The completed approval's consequence, in its transaction (rows already locked)."""
    project = current.project
    before, after = current.plan, applied.plan
    # KPIs
    for kpi_plan in after.kpis:
        kpi = current.kpis[kpi_plan.kpi_id]
        fields = [
            name
            for name in ("target", "weight", "evidence")
            if getattr(kpi, name) != getattr(kpi_plan, name)
        ]
        for name in fields:
            setattr(kpi, name, getattr(kpi_plan, name))
        if fields:
            kpi.save(update_fields=fields)
    # Stages: months, then the gate days that follow.
    moved_from: Stage | None = None
    for stage_plan in after.stages:
        stage = current.stages[stage_plan.number]
        if stage.months != stage_plan.months:
            stage.months = stage_plan.months
            stage.save(update_fields=["months"])
            if moved_from is None:
                moved_from = stage
    if moved_from is not None:
        gate = Gate.objects.get(stage=moved_from)
        if moved_from.started_on is not None:
            gate.due_on = gate_day(moved_from.started_on, moved_from.months)
            gate.save(update_fields=["due_on"])
            _, planned = stages_reschedule_after(moved_from)
            # The running stage's deliverables stay due_month into it, never after its
            # new gate day; the re-chained stages' deliverables follow their new starts.
            moved_stage = StageDates(
                stage_id=moved_from.pk, started_on=moved_from.started_on, gate_day=gate.due_on
            )
            deliverables_follow_stages(stages=[moved_stage, *planned])
        else:
            # A stage not started yet: re-chain from the stage before it.
            previous = current.stages.get(moved_from.number - 1)
            if previous is not None:
                _, planned = stages_reschedule_after(previous)
                deliverables_follow_stages(stages=planned)
    # Tranches
    for tranche_plan in after.tranches:
        tranche = current.tranches[(tranche_plan.stage, tranche_plan.side)]
        if tranche.planned != tranche_plan.planned:
            tranche.planned = tranche_plan.planned
            tranche.save(update_fields=["planned"])
    # Consortium and budget
    leaving = set(current.organisations) - {o.organisation_id for o in after.organisations}
    joining = [o for o in after.organisations if o.organisation_id not in current.organisations]
    if joining:
        next_order = (
            ProjectOrganisation.objects.filter(project=project).aggregate(m=Max("order"))["m"] or 0
        )
        for offset, org in enumerate(joining, start=1):
            current.organisations[org.organisation_id] = ProjectOrganisation.objects.create(
                project=project,
                organisation_id=org.organisation_id,
                role=org.role,
                side=org.side,
                currency=ledger_rules.SIDE_CURRENCY[org.side],
                budget=0,
                order=next_order + offset,
            )
    for org_id, member in current.organisations.items():
        if org_id in leaving:
            continue
        budget = after.budget_of(org_id)
        if member.budget != budget:
            member.budget = budget
            member.save(update_fields=["budget"])
    if before.budget != after.budget:
        BudgetLine.objects.filter(proposal_id=project.proposal_id).delete()
        currencies = {o.organisation_id: o.side for o in after.organisations}
        BudgetLine.objects.bulk_create(
            BudgetLine(
                proposal_id=project.proposal_id,
                organisation_id=org_id,
                category=category,
                currency=ledger_rules.SIDE_CURRENCY[currencies[org_id]],
                amount=amount,
            )
            for (org_id, category), amount in sorted(after.budget.items())
            if amount
        )
    if leaving:
        ProjectOrganisation.objects.filter(project=project, organisation_id__in=leaving).delete()
    # The ledger: each side's committed follows its unreleased tranches.
    recommitted: dict[str, int] = {}
    for side in FUNDED_SIDES:
        delta = after.open_tranches(side) - before.open_tranches(side)
        if delta:
            _recommit(project, amendment, side, delta, actor)
            recommitted[side] = delta
    # The plan version, the amendment's state and what it did.
    version = project.plan_version + 1
    Project.objects.filter(pk=project.pk).update(plan_version=version)
    project.plan_version = version
    state_before = AMENDMENT_WORKFLOW.move(
        amendment, AmendmentState.APPROVED, actor=actor, agreed=True
    )
    amendment.plan_version = version
    amendment.diff = applied.diff
    amendment.recommitted = recommitted
    amendment.decided_at = timezone.now()
    amendment.save(update_fields=["state", "plan_version", "diff", "recommitted", "decided_at"])
    audit_record(
        actor=actor,
        action="amendment.approved",
        obj=amendment,
        before={"state": state_before, "plan_version": amendment.base_version},
        after={
            "state": amendment.state,
            "plan_version": version,
            "diff": applied.diff,
            "recommitted": recommitted,
        },
    )
    _event("amendment.decided", amendment)
    _tell(amendment, "amendment.decided")


def _recommit(project: Project, amendment: Amendment, side: str, delta: int, actor: User) -> None:
    """Pool → committed for a growth, committed → pool for a shrink (§9, §24)."""
    currency = ledger_rules.SIDE_CURRENCY[side]
    pool = ledger_rules.account_code_fund_pool(side)
    committed = ledger_rules.account_code_project_committed(project.pk, side)
    refusal = _("The %(side)s pool holds %(held)s; this amendment would commit %(needed)s more.")
    try:
        ledger_post(
            kind=TransactionKind.ADJUSTMENT,
            currency=currency,
            legs=[(pool, -delta), (committed, delta)],
            reference=f"amendment:{amendment.pk}:{side}:recommit",
            memo=f"Amendment {amendment.pk} of project {project.pk}",
            actor=actor,
        )
    except InsufficientFunds as exc:
        message = refusal % {
            "side": side,
            "held": format_amount(account_balance(pool), currency),
            "needed": format_amount(delta, currency),
        }
        raise Conflict(message, code="pool_insufficient") from exc


def amendment_decline(*, amendment: Amendment, actor: Actor, reason: Any) -> Amendment:
    """A fund officer declines an amendment, with a reason (§2, §24).

    With a pending approval, the two-person component declines it (another officer of the
    other side than the first approver; the same refusals as every decision); with none, a
    fund officer declines the proposal outright. Either way the amendment is declined
    (final), audited ``amendment.declined``, and the outbox event ``amendment.decided``
    and the notices are written in the same transaction. Locks in the documented order.
    """
    _require(can_decide_amendment(actor))
    assert isinstance(actor, User)
    with transaction.atomic():
        _current, locked = _lock(amendment)
        if locked.state != AmendmentState.PROPOSED:
            raise Conflict(
                _("This amendment is “%(state)s”; it can no longer be declined.")
                % {"state": AmendmentState(locked.state).label},
                code="invalid_state",
            )
        live = (
            AmendmentDecision.objects.filter(amendment=locked, state=DecisionState.PENDING)
            .order_by("pk")
            .first()
        )
        if live is not None:
            declined = decision_decline(decision=live, actor=actor, reason=reason)
            text = declined.decline_reason
        else:
            text = clean_decline_reason(reason)
        state_before = AMENDMENT_WORKFLOW.move(locked, AmendmentState.DECLINED, actor=actor)
        locked.decided_at = timezone.now()
        locked.save(update_fields=["state", "decided_at"])
        audit_record(
            actor=actor,
            action="amendment.declined",
            obj=locked,
            before={"state": state_before},
            after={"state": locked.state, "reason": text},
        )
        _event("amendment.decided", locked)
        _tell(locked, "amendment.decided")
    return locked


def amendment_withdraw(*, amendment: Amendment, actor: Actor) -> Amendment:
    """Withdraw (§2, §24): the officer who approved first takes a pending approval back
    (the amendment stays proposed, ``amendment_decision.withdrawn``); otherwise whoever
    proposed the amendment (or, for a PI's amendment, another PI of the project) withdraws
    the amendment itself while it is proposed: a pending approval is cancelled, the
    amendment is withdrawn (final, ``amendment.withdrawn``, the outbox event
    ``amendment.decided``). 403 for anyone else, 409 unless proposed."""
    pending = (
        AmendmentDecision.objects.filter(amendment=amendment, state=DecisionState.PENDING)
        .order_by("pk")
        .first()
    )
    if pending is not None and isinstance(actor, User) and pending.first_officer_id == actor.pk:
        decision_withdraw(decision=pending, actor=actor, lock_subject=lambda: _lock(amendment))
        amendment.refresh_from_db()
        return amendment
    _require(can_withdraw_amendment(actor, amendment))
    with transaction.atomic():
        _current, locked = _lock(amendment)
        if locked.state != AmendmentState.PROPOSED:
            raise Conflict(
                _("This amendment is “%(state)s”; it can no longer be withdrawn.")
                % {"state": AmendmentState(locked.state).label},
                code="invalid_state",
            )
        decisions_cancel(
            AmendmentDecision.objects.filter(amendment=locked),
            actor=actor,
            reason="amendment withdrawn",
        )
        state_before = AMENDMENT_WORKFLOW.move(locked, AmendmentState.WITHDRAWN, actor=actor)
        locked.decided_at = timezone.now()
        locked.save(update_fields=["state", "decided_at"])
        audit_record(
            actor=actor,
            action="amendment.withdrawn",
            obj=locked,
            before={"state": state_before},
            after={"state": locked.state},
        )
        _event("amendment.decided", locked)
        _tell(locked, "amendment.decided", exclude=actor)
    return locked


# --------------------------------------------------------------------------- telling


def _event(kind: str, amendment: Amendment) -> None:
    event_record(
        kind=kind,
        obj=amendment,
        organisation_ids=project_organisation_ids([amendment.project_id])[amendment.project_id],
        payload=amendment_data(amendment),
    )


def _tell(amendment: Amendment, message: str, *, exclude: Actor | None = None) -> None:
    """The project's PIs and the fund officers (§13.1)."""
    people = {u.pk: u for u in project_pis(amendment.project)}
    for user in officers(roles=[Role.FUND_OFFICER]):
        people.setdefault(user.pk, user)
    if isinstance(exclude, User):
        people.pop(exclude.pk, None)
    notify_people(
        users=[people[pk] for pk in sorted(people)],
        message=message,
        params={
            "project": amendment.project_id,
            "amendment": amendment.pk,
            "state": amendment.state,
        },
        url=_url(amendment),
    )


__all__ = [
    "amendment_approve",
    "amendment_decline",
    "amendment_preview",
    "amendment_propose",
    "amendment_withdraw",
]
