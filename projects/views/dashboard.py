"""The signed-in home: what needs the person's attention, by role (§15)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Exists, OuterRef
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path

from fundapp.accounts.models import Membership, User
from fundapp.actors import is_fund_officer, is_fund_staff
from projects.models import ConsortiumMember, Endorsement, GateOutcome, ProjectState, ProposalState
from projects.selectors.deliverables import submitted_deliverables
from projects.selectors.portfolio import kpis_behind_target
from projects.selectors.projects import projects_visible_to
from projects.selectors.proposals import proposals_visible_to
from projects.selectors.verification import live_assignments_for
from projects.services.forecast import gates_forecast

FORECAST_LIMIT = 20


def _forecasts(user: User) -> list[dict[str, Any]]:
    """The gate forecasts of the person's active projects' running stages. Six queries."""
    projects = list(
        projects_visible_to(user)
        .filter(state=ProjectState.ACTIVE, current_stage__isnull=False)
        .select_related("current_stage__gate")
        .order_by("pk")[:FORECAST_LIMIT]
    )
    gates = [
        gate
        for project in projects
        if (gate := getattr(project.current_stage, "gate", None)) is not None
    ]
    found = gates_forecast(gates)
    rows = []
    for project in projects:
        gate = getattr(project.current_stage, "gate", None)
        forecast = found.get(gate.pk) if gate is not None else None
        if forecast is not None:
            rows.append(
                {
                    "project": project,
                    "stage": project.current_stage,
                    "forecast": forecast,
                    "outcome": GateOutcome(forecast.outcome).label,
                    "met": f"{sum(k.met for k in forecast.kpis)} / {len(forecast.kpis)}",
                }
            )
    return rows


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)  # login_required
    visible = proposals_visible_to(user)
    context: dict = {"is_staff_view": is_fund_staff(user)}
    if context["is_staff_view"]:
        counts = dict(visible.values_list("state").annotate(n=Count("id")).order_by())
        context["state_counts"] = [
            (state, label, counts.get(state, 0)) for state, label in ProposalState.choices
        ]
        context["recent"] = visible.select_related("call").order_by("-updated_at")[:10]
        # Fund officers reach the deliverables awaiting acceptance from here (§24).
        if is_fund_officer(user):
            context["deliverables_waiting"] = submitted_deliverables().count()
    else:
        context["my_proposals"] = (
            visible.filter(people__user=user).select_related("call").order_by("-updated_at")[:20]
        )
        office_orgs = Membership.objects.filter(user=user, research_office=True).values(
            "organisation"
        )
        # A research office manages its organisation's webhook subscriptions (§13.3).
        context["research_office"] = office_orgs.exists()
        already = Endorsement.objects.filter(proposal=OuterRef("pk"), organisation__in=office_orgs)
        lead_of_office = ConsortiumMember.objects.filter(
            proposal=OuterRef("pk"), organisation__in=office_orgs, role__in=("lead_jp", "lead_kr")
        )
        context["to_endorse"] = (
            visible.filter(state=ProposalState.SUBMITTED)
            .filter(Exists(lead_of_office))
            .exclude(Exists(already))
            .select_related("call")
            .order_by("call__closes_at")[:20]
        )
        # KPIs of their running stages not yet at target (§15), as the gate would count them.
        context["kpis_behind"] = kpis_behind_target(user)
        # What each running stage's gate would give if evaluated today (§22).
        context["forecasts"] = _forecasts(user)
        # Verifiers reach their queue from here (§22); the navigation stays query-free.
        context["verifying"] = live_assignments_for(user).exists()
    return render(request, "projects/dashboard.html", context)


urlpatterns: list[URLPattern] = [path("dashboard/", dashboard, name="dashboard")]
