"""Project pages (§7, §8, §15): the project list, the project page with its stage / gate /
tranche timeline and KPI charts, and the gate review with the two-person decision form.

Projects and gates are fetched through ``projects_visible_to`` (anything not visible
answers 404: reviewers and other organisations' researchers never learn a project
exists). Everyone who sees a project sees its gate review; only fund officers get the
"Evaluate now" button and the decision form, and the services check again. A refused
action renders the page again with the service's message beside the field and the
service's status (403, 409, 422); nothing typed is lost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from fundapp.accounts.models import User
from fundapp.actors import is_fund_officer, is_fund_staff
from fundapp.audit.services import history_for
from fundapp.errors import DomainError, NotFound
from fundapp.kernel.approval_pages import DeclineForm, two_person_panel
from fundapp.kernel.approvals import LIVE_STATES
from fundapp.kernel.approvals import DecisionState as TwoPersonState
from fundapp.kernel.calendar import today_in_tokyo
from projects import permissions as engine_perms
from projects.models import (
    KPI,
    Amendment,
    AnomalyKind,
    Call,
    ConsortiumRole,
    DecisionState,
    Deliverable,
    Disbursement,
    ExclusionReason,
    Gate,
    GateDecision,
    GateDecisionKind,
    GateEvaluation,
    GateOutcome,
    GateState,
    Measurement,
    Project,
    ProjectState,
    Stage,
    Tranche,
)
from projects.rules import gates as rules
from projects.selectors.decisions import PendingApproval, gate_pending_approval
from projects.selectors.gates import (
    evaluation_history,
    get_gate_for_actor,
    kpi_progress,
    latest_evaluation,
    with_evidence_files,
)
from projects.selectors.projects import get_project_for_actor, projects_visible_to
from projects.services import decisions as decision_svc
from projects.services import gates as gate_svc
from projects.services.forecast import gate_forecast

PAGE_SIZE = 25
EVIDENCE_PAGE = 50


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _project_or_404(user: User, pk: object) -> Project:
    try:
        return get_project_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


# Ended by an officer (not by a re-evaluation): shown on the gate with who and why.
ENDED_BY_OFFICERS = (TwoPersonState.WITHDRAWN, TwoPersonState.DECLINED)


def _gate_or_404(user: User, pk: object) -> Gate:
    try:
        return get_gate_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


# --------------------------------------------------------------------------- list


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    """The projects the person may see, filtered by state and call, 25 a page.

    Four queries whatever the page size: the count, the page (with call, area, running
    stage and its gate joined), the calls for the filter, and the session.
    """
    user = _user(request)
    visible = projects_visible_to(user)
    state = request.GET.get("state", "")
    call_id = request.GET.get("call", "")
    rows = visible
    if state in ProjectState.values:
        rows = rows.filter(state=state)
    if call_id.isdigit():
        rows = rows.filter(call_id=int(call_id))
    rows = rows.select_related("call", "research_area", "current_stage__gate").order_by(
        "-awarded_at", "-id"
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    calls = (
        Call.objects.filter(pk__in=visible.values("call_id"))
        .only("id", "title_en", "title_ja", "title_ko")
        .order_by("-opens_at", "id")
    )
    return render(
        request,
        "projects/projects/list.html",
        {
            "page": page,
            "states": ProjectState.choices,
            "selected_state": state,
            "calls": calls,
            "selected_call": int(call_id) if call_id.isdigit() else None,
            "query": query.urlencode(),
        },
    )


# --------------------------------------------------------------------------- project page


def _organisation_rows(project: Project) -> list[dict[str, Any]]:
    """Each consortium organisation with its share of its side's budget (§5)."""
    members = list(project.organisations.select_related("organisation").order_by("order", "id"))
    totals: dict[str, int] = defaultdict(int)
    for member in members:
        totals[member.side] += member.budget
    roles = dict(ConsortiumRole.choices)
    return [
        {
            "member": member,
            "role": roles.get(member.role, member.role),
            "share": (member.budget * 100 / totals[member.side]) if totals[member.side] else None,
        }
        for member in members
    ]


def _latest_evaluations(gate_ids: Sequence[int]) -> dict[int, GateEvaluation]:
    """The latest snapshot of each gate, in one query (PostgreSQL ``DISTINCT ON``)."""
    if not gate_ids:
        return {}
    rows = (
        GateEvaluation.objects.filter(gate_id__in=gate_ids)
        .order_by("gate_id", "-id")
        .distinct("gate_id")
        .only("id", "gate_id", "round", "score", "outcome", "evaluated_at")
    )
    return {row.gate_id: row for row in rows}


def _live_decisions(gate_ids: Sequence[int]) -> dict[int, GateDecision]:
    """The latest non-cancelled decision of each gate, in one query."""
    if not gate_ids:
        return {}
    rows = (
        GateDecision.objects.filter(gate_id__in=gate_ids)
        .filter(state__in=LIVE_STATES)
        .order_by("gate_id", "-round", "-id")
        .distinct("gate_id")
    )
    return {row.gate_id: row for row in rows}


def _window(stage: Stage | None) -> tuple[Any, Any]:
    """The stage's measurement window (§8): its start day to the end of its gate day."""
    if stage is None or stage.started_on is None:
        return None, None
    gate = getattr(stage, "gate", None)
    start = rules.stage_window_start(stage.started_on)
    cutoff = rules.gate_cutoff(gate.due_on) if gate is not None else None
    return start, cutoff


@login_required
@require_GET
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Header, consortium, the timeline of stages (gate, outcome, decision, tranches),
    disbursements and the KPI charts of the running stage; officers also see the history."""
    user = _user(request)
    project = _project_or_404(user, pk)
    stages = list(project.stages.select_related("gate").order_by("number"))
    gate_ids = [s.gate.pk for s in stages if getattr(s, "gate", None) is not None]
    evaluations = _latest_evaluations(gate_ids)
    decisions = _live_decisions(gate_ids)
    tranches = list(
        Tranche.objects.filter(project=project)
        .select_related("stage")
        .order_by("stage__number", "side")
    )
    tranches_by_stage: dict[int, list[Tranche]] = defaultdict(list)
    for tranche in tranches:
        tranches_by_stage[tranche.stage_id].append(tranche)
    timeline = []
    for stage in stages:
        gate = getattr(stage, "gate", None)
        timeline.append(
            {
                "stage": stage,
                "gate": gate,
                "evaluation": evaluations.get(gate.pk) if gate is not None else None,
                "decision": decisions.get(gate.pk) if gate is not None else None,
                "tranches": tranches_by_stage.get(stage.pk, []),
                "current": stage.pk == project.current_stage_id,
            }
        )
    # §24: each stage's deliverables with their state and due date (one query).
    deliverables: dict[int, list[Deliverable]] = defaultdict(list)
    for deliverable in Deliverable.objects.filter(project=project).order_by("due_on", "id"):
        deliverables[deliverable.stage_id].append(deliverable)
    for item, stage in zip(timeline, stages, strict=True):
        item["deliverables"] = deliverables.get(stage.pk, [])
    disbursements = list(
        Disbursement.objects.filter(tranche__project=project)
        .select_related("organisation", "tranche__stage")
        .order_by("tranche__stage__number", "tranche__side", "id")
    )
    current = next((s for s in stages if s.pk == project.current_stage_id), None)
    series = kpi_progress(project, stage=current) if current is not None else []
    window_start, cutoff = _window(current)
    # §22: what the running stage's gate would give if evaluated now (read-only).
    current_gate = getattr(current, "gate", None) if current is not None else None
    forecast = gate_forecast(current_gate) if current_gate is not None else None
    return render(
        request,
        "projects/projects/detail.html",
        {
            "project": project,
            "organisations": _organisation_rows(project),
            "timeline": timeline,
            "disbursements": disbursements,
            "has_deliverables": bool(deliverables),
            # §24: the latest amendments, with their state and the plan version each made.
            "amendments": list(
                Amendment.objects.filter(project=project).order_by("-proposed_at", "-id")[:5]
            ),
            "current_stage": current,
            "series": series,
            "window_start": window_start,
            "cutoff": cutoff,
            "forecast": forecast,
            "forecast_outcome": GateOutcome(forecast.outcome).label if forecast else "",
            "is_staff_view": is_fund_staff(user),
            # The CSV import is offered to those who may record measurements (§7).
            "can_import": engine_perms.can_record_measurement(user, project)[0],
            # The verifiers' page is the fund officers' (§22): offered only to them.
            "can_designate_verifiers": engine_perms.can_designate_verifier(user)[0],
            "history": list(history_for(project)) if is_fund_staff(user) else [],
        },
    )


# --------------------------------------------------------------------------- gate review


def _kind_label(kind: str, override: bool) -> str:
    label = str(GateDecisionKind(kind).label)
    if override:
        return _("%(kind)s — override, written justification required") % {"kind": label}
    return label


class GateDecisionForm(forms.Form):
    """One approval of a gate decision (§8). The kinds offered are those the outcome
    allows (``projects.rules.gates.decisions_for``) and, marked as such, the overrides;
    while a first approval is pending only its kind can be approved."""

    kind = forms.ChoiceField(
        label=gettext_lazy("Decision"),
        widget=forms.RadioSelect,
        error_messages={"required": gettext_lazy("Choose a decision.")},
    )
    justification = forms.CharField(
        label=gettext_lazy("Justification"),
        required=False,
        max_length=decision_svc.MAX_JUSTIFICATION,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy(
            "Required when the decision overrides the evaluation's outcome; shown to both sides."
        ),
    )
    extension_months = forms.IntegerField(
        label=gettext_lazy("Extension (months)"),
        required=False,
        min_value=1,
        max_value=120,
        help_text=gettext_lazy("Only for an extension."),
    )

    def __init__(
        self,
        *args: Any,
        evaluation: GateEvaluation | None,
        pending: PendingApproval | None = None,
        **kwargs: Any,
    ) -> None:
        if pending is not None:
            kwargs.setdefault(
                "initial", {"kind": pending.kind, "extension_months": pending.extension_months}
            )
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = []
        if evaluation is not None:
            offered = [
                (kind, override)
                for kind, override in decision_svc.decision_choices(evaluation)
                if pending is None or kind == pending.kind
            ]
            # The kinds §8 gives the outcome first, the overrides after them.
            offered.sort(key=lambda c: (c[1], GateDecisionKind.values.index(c[0])))
            choices = [(kind, _kind_label(kind, override)) for kind, override in offered]
        kind_field = cast(forms.ChoiceField, self.fields["kind"])
        kind_field.choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == GateDecisionKind.EXTEND and not data.get("extension_months"):
            self.add_error("extension_months", _("Give the extension in whole months."))
        return data

    def add_service_errors(self, errors: Mapping[str, Sequence[Any]], message: object) -> None:
        placed = False
        for key, texts in errors.items():
            for text in texts:
                self.add_error(key if key in self.fields else None, str(text))
                placed = True
        if not placed and message:
            self.add_error(None, str(message))


def _decision_status(user: User, pending: PendingApproval | None) -> tuple[bool, str]:
    """May this person approve now, and if not, why (shown instead of the form)?"""
    allowed, reason = engine_perms.can_decide_gate(user)
    if not allowed:
        return False, reason
    if pending is not None:
        return engine_perms.can_complete_gate_decision(user, pending.decision)
    return True, ""


def _evidence(stage: Stage, start: Any, cutoff: Any, page: Any) -> Page:
    """One page (``EVIDENCE_PAGE`` rows, newest first) of the stage's measurements in its
    window, with their notes and evidence files; a page number out of range gives the
    nearest page."""
    rows = Measurement.objects.filter(kpi__stage=stage).select_related(
        "kpi", "created_by", "created_by_api_key", "rejected_by"
    )
    if start is not None:
        rows = rows.filter(measured_at__gte=start)
    if cutoff is not None:
        rows = rows.filter(measured_at__lte=cutoff)
    return Paginator(
        with_evidence_files(rows.order_by("-measured_at", "-id")), EVIDENCE_PAGE
    ).get_page(page)


def _left_out(kpis: list[KPI], evaluation: GateEvaluation | None) -> list[dict[str, Any]]:
    """The measurements the evaluation left out (§22), each with its KPI and why, as a
    sentence in the reader's language; in the order they were measured."""
    if evaluation is None:
        return []
    by_id = {kpi.pk: kpi for kpi in kpis}
    rows = []
    for row in evaluation.excluded_measurements():
        reason = row["reason"]
        rows.append(
            {
                "id": row["id"],
                "kpi": by_id.get(row["kpi_id"]),
                "value": Decimal(row["value"]),
                "measured_at": datetime.fromisoformat(row["measured_at"]),
                "reason": reason,
                "why": ExclusionReason(reason).label
                if reason in ExclusionReason.values
                else reason,
            }
        )
    return rows


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _anomaly_flags(
    project: Project, kpis: list[KPI], evaluation: GateEvaluation | None
) -> list[dict[str, Any]]:
    """The evaluation's anomaly flags (§22), each with its kind's sentence, its KPI, the facts
    behind it and the measurements behind it (value, when measured, when and by whom
    entered). The measurements are read in one query, from this project only."""
    flags = [f for f in (evaluation.anomaly_flags if evaluation else None) or [] if f]
    if not flags:
        return []
    wanted = {pk for flag in flags for pk in flag.get("measurement_ids") or []}
    measurements = {
        m.pk: m
        for m in Measurement.objects.filter(project=project, pk__in=sorted(wanted)).select_related(
            "kpi", "created_by", "created_by_api_key"
        )
    }
    by_id = {kpi.pk: kpi for kpi in kpis}
    rows = []
    for flag in flags:
        kind = flag.get("kind", "")
        detail = flag.get("detail") or {}
        behind = [
            measurements[pk] for pk in flag.get("measurement_ids") or [] if pk in measurements
        ]
        other_kpis = sorted(
            {m.kpi.code for m in behind if m.kpi_id in set(detail.get("other_kpi_ids") or [])}
        )
        rows.append(
            {
                "kind": kind,
                "label": AnomalyKind(kind).label if kind in AnomalyKind.values else kind,
                "kpi": by_id.get(flag.get("kpi_id")),
                "measurements": behind,
                "value": _decimal_or_none(detail.get("value")),
                "target": _decimal_or_none(detail.get("target")),
                "value_without": _decimal_or_none(detail.get("value_without")),
                "entered_since": datetime.fromisoformat(detail["entered_since"])
                if detail.get("entered_since")
                else None,
                "median": _decimal_or_none(detail.get("median")),
                "mad": _decimal_or_none(detail.get("mad")),
                "mean_deviation": _decimal_or_none(detail.get("mean_deviation")),
                "earlier": detail.get("earlier"),
                "rejected_at": datetime.fromisoformat(detail["rejected_at"])
                if detail.get("rejected_at")
                else None,
                "sha256": detail.get("sha256", ""),
                "other_kpis": other_kpis,
            }
        )
    return rows


def _kpi_rows(kpis: list[KPI], evaluation: GateEvaluation | None) -> list[dict[str, Any]]:
    """One row per KPI of the stage, with the latest evaluation's figures for it."""
    results: dict[int, dict[str, Any]] = {}
    if evaluation is not None and isinstance(evaluation.kpi_results, list):
        for result in evaluation.kpi_results:
            if isinstance(result, dict) and "kpi_id" in result:
                results[int(result["kpi_id"])] = result
    return [{"kpi": kpi, "result": results.get(kpi.pk)} for kpi in kpis]


def _render_gate(
    request: HttpRequest,
    gate: Gate,
    *,
    form: GateDecisionForm | None = None,
    decline_form: DeclineForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    stage = gate.stage
    project = stage.project
    evaluation = latest_evaluation(gate)
    pending = gate_pending_approval(gate)
    kpis = list(KPI.objects.filter(stage=stage).order_by("id"))
    if evaluation is not None and evaluation.round == gate.round:
        window_start, cutoff = evaluation.window_start, evaluation.cutoff
    else:
        # Not evaluated in this round (e.g. extended since): the window as it now stands.
        window_start, cutoff = _window(stage)
    decisions = list(
        GateDecision.objects.filter(gate=gate)
        .select_related("first_officer", "second_officer", "evaluation")
        .order_by("-round", "-id")
    )
    completed = next(
        (d for d in decisions if d.state == DecisionState.COMPLETED and d.round == gate.round),
        None,
    )
    if completed is None and gate.state == GateState.DECIDED:
        completed = next((d for d in decisions if d.state == DecisionState.COMPLETED), None)
    is_officer = is_fund_officer(user)
    open_for_decision = (
        gate.state != GateState.DECIDED
        and evaluation is not None
        and project.state in (ProjectState.ACTIVE, ProjectState.SUSPENDED)
    )
    # A first approval taken on an older snapshot is cancelled by the next approval, which
    # starts over; the form then offers every kind again.
    live_pending = pending if pending is not None and not pending.stale else None
    can_approve, approve_reason = _decision_status(user, live_pending)
    if is_officer and open_for_decision and form is None:
        form = GateDecisionForm(evaluation=evaluation, pending=live_pending)
    # The two-person block: the pending approval, the completed officers' decision, or the
    # round's last withdrawn or declined one (who declined it and why).
    shown = (
        pending.decision
        if pending is not None
        else completed
        if completed is not None and not completed.automatic
        else next(
            (d for d in decisions if d.round == gate.round and d.state in ENDED_BY_OFFICERS),
            None,
        )
        if completed is None
        else None
    )
    two_person = two_person_panel(
        user,
        shown,
        withdraw_url=reverse("projects:gate_decision_withdraw", args=[shown.pk]) if shown else "",
        decline_url=reverse("projects:gate_decision_decline", args=[shown.pk]) if shown else "",
        decline_form=decline_form,
    )
    may_evaluate = (
        is_officer
        and gate.state != GateState.DECIDED
        and pending is None
        and project.state == ProjectState.ACTIVE
        and stage.state in gate_svc.EVALUABLE_STAGE_STATES
    )
    # Before the gate day evaluating is refused (§8): the button waits for the day.
    can_evaluate = may_evaluate and gate.due_on <= today_in_tokyo()
    evaluable_from = gate.due_on if may_evaluate and not can_evaluate else None
    # §22: what the gate would give if evaluated now, until it is decided (read-only).
    forecast = gate_forecast(gate) if gate.state != GateState.DECIDED else None
    return render(
        request,
        "projects/projects/gate.html",
        {
            "forecast": forecast,
            "forecast_outcome": GateOutcome(forecast.outcome).label if forecast else "",
            "gate": gate,
            "stage": stage,
            "project": project,
            "evaluation": evaluation,
            "kpi_rows": _kpi_rows(kpis, evaluation),
            "left_out": _left_out(kpis, evaluation),
            "anomaly_flags": _anomaly_flags(project, kpis, evaluation),
            "series": kpi_progress(project, stage=stage),
            "window_start": window_start,
            "cutoff": cutoff,
            "evidence": _evidence(stage, window_start, cutoff, request.GET.get("evidence_page")),
            "history": list(evaluation_history(gate)),
            "decisions": decisions,
            "two_person": two_person,
            "completed": completed,
            "pending": pending,
            "is_officer": is_officer,
            "read_only": not is_officer,
            "open_for_decision": open_for_decision,
            "can_approve": can_approve and open_for_decision,
            "approve_reason": approve_reason,
            "can_evaluate": can_evaluate,
            "evaluable_from": evaluable_from,
            "form": form,
            "error": error,
            "error_status": status if error else "",
        },
        status=status,
    )


@login_required
@require_GET
def gate_review(request: HttpRequest, pk: int) -> HttpResponse:
    """The gate review (§15): per-KPI table and charts, evidence, evaluation history and, for
    fund officers, "Evaluate now" and the decision form with the two-person state."""
    gate = _gate_or_404(_user(request), pk)
    return _render_gate(request, gate)


@login_required
@require_POST
def gate_evaluate_now(request: HttpRequest, pk: int) -> HttpResponse:
    """Evaluate the gate now (a new snapshot, §8); the service checks who may."""
    user = _user(request)
    gate = _gate_or_404(user, pk)
    try:
        evaluation = gate_svc.gate_evaluate(gate=gate, actor=user)
    except DomainError as exc:
        gate.refresh_from_db()
        return _render_gate(request, gate, error=str(exc.message), status=exc.status)
    messages.success(
        request,
        _("Evaluated: %(outcome)s with a score of %(score)s.")
        % {"outcome": GateOutcome(evaluation.outcome).label, "score": evaluation.score},
    )
    return redirect("projects:gate", pk=gate.pk)


@login_required
@require_POST
def gate_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve a gate decision: the first approval is stored as pending, the second (the
    other side) completes it (§2, §8)."""
    user = _user(request)
    gate = _gate_or_404(user, pk)
    allowed, reason = engine_perms.can_decide_gate(user)
    if not allowed:
        return _render_gate(request, gate, error=reason, status=403)
    evaluation = latest_evaluation(gate)
    if evaluation is None:
        message = _("Evaluate the gate first; a decision is taken on an evaluation.")
        return _render_gate(request, gate, error=message, status=409)
    pending = gate_pending_approval(gate)
    if pending is not None and pending.stale:
        pending = None
    form = GateDecisionForm(request.POST, evaluation=evaluation, pending=pending)
    if not form.is_valid():
        return _render_gate(request, gate, form=form, status=422)
    data = form.cleaned_data
    try:
        decision = decision_svc.gate_decision_approve(
            gate=gate,
            actor=user,
            kind=data["kind"],
            justification=data.get("justification") or "",
            extension_months=data.get("extension_months")
            if data["kind"] == GateDecisionKind.EXTEND
            else None,
        )
    except DomainError as exc:
        form.add_service_errors(exc.errors, exc.message)
        gate.refresh_from_db()
        return _render_gate(request, gate, form=form, error=str(exc.message), status=exc.status)
    if decision.state == DecisionState.COMPLETED:
        messages.success(request, _("The decision is complete."))
    else:
        messages.success(
            request,
            _("Your approval is recorded; a fund officer of the other side must approve too."),
        )
    return redirect("projects:gate", pk=gate.pk)


def _gate_decision_or_404(user: User, pk: int) -> GateDecision:
    decision = GateDecision.objects.filter(pk=pk).only("pk", "gate_id").first()
    if decision is None:
        raise Http404
    _gate_or_404(user, decision.gate_id)
    return GateDecision.objects.get(pk=pk)


@login_required
@require_POST
def gate_decision_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The first approver withdraws a pending gate decision or override (§2)."""
    user = _user(request)
    decision = _gate_decision_or_404(user, pk)
    try:
        decision_svc.gate_decision_withdraw(decision=decision, actor=user)
    except DomainError as exc:
        gate = _gate_or_404(user, decision.gate_id)
        return _render_gate(request, gate, error=str(exc.message), status=exc.status)
    messages.success(request, _("Your pending approval has been withdrawn."))
    return redirect("projects:gate", pk=decision.gate_id)


@login_required
@require_POST
def gate_decision_decline_view(request: HttpRequest, pk: int) -> HttpResponse:
    """An officer of the other side declines a pending gate decision with a reason (§2)."""
    user = _user(request)
    decision = _gate_decision_or_404(user, pk)
    form = DeclineForm(request.POST)
    if not form.is_valid():
        gate = _gate_or_404(user, decision.gate_id)
        return _render_gate(request, gate, decline_form=form, status=422)
    try:
        decision_svc.gate_decision_decline(
            decision=decision, actor=user, reason=form.cleaned_data["reason"]
        )
    except DomainError as exc:
        form.add_service_errors(exc.errors, exc.message)
        gate = _gate_or_404(user, decision.gate_id)
        return _render_gate(
            request, gate, decline_form=form, error=str(exc.message), status=exc.status
        )
    messages.success(request, _("The pending decision has been declined."))
    return redirect("projects:gate", pk=decision.gate_id)


_routes: list[URLPattern | URLResolver] = [
    path("projects/", project_list, name="list"),
    path("projects/<int:pk>/", project_detail, name="project"),
    path("gates/<int:pk>/", gate_review, name="gate"),
    path("gates/<int:pk>/evaluate/", gate_evaluate_now, name="gate_evaluate"),
    path("gates/<int:pk>/decide/", gate_decide, name="gate_decide"),
    path(
        "gate-decisions/<int:pk>/withdraw/",
        gate_decision_withdraw_view,
        name="gate_decision_withdraw",
    ),
    path(
        "gate-decisions/<int:pk>/decline/",
        gate_decision_decline_view,
        name="gate_decision_decline",
    ),
]

# Namespaced "projects:…" (``projects:project`` is the name the notifications link to).
urlpatterns: list[URLPattern | URLResolver] = [path("", include((_routes, "projects")))]
