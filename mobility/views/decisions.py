"""Officers' pages of a mobility call's applications (§25, §6, §15): the applications of a
call with their state and rank (the mean weighted score of their reviews), the button that
opens an endorsed application's review, and the award page: screening status and the
award/reject decision under the two-person rule (the one partial and panel of
``fundapp.kernel.approval_pages``).

These pages answer 404 to anyone but a fund officer; the services refuse what the rules
refuse (an award before screening clearance, the same officer twice) and the page shows
their message with their status.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from fundapp.accounts.models import User
from fundapp.actors import is_fund_officer
from fundapp.errors import DomainError, NotFound
from fundapp.kernel.approval_pages import DeclineForm, two_person_panel
from fundapp.kernel.approvals import LIVE_STATES, can_act_on_decision
from mobility.models import ApplicationState, VisitApplication, VisitAwardDecision
from mobility.permissions import get_application_for_actor
from mobility.selectors.reviews import screening_statuses
from mobility.services.awards import visit_award_approve, visit_award_decline, visit_award_withdraw
from mobility.services.reviews import application_start_review, ranking_for_call
from mobility.services.screening import application_screening_clearance
from projects.models import AwardOutcome, Call, CallKind
from projects.selectors.calls import get_call_for_actor

# The proposals' award page's words for the same clearance (§11).
SCREENING_LABELS = {
    "not_required": gettext_lazy("Not required (no reason and no restricted-party match)"),
    "open": gettext_lazy("Open: waiting for a screening officer"),
    "cleared": gettext_lazy("Cleared"),
    "blocked": gettext_lazy("Blocked"),
}


class AwardForm(forms.Form):
    outcome = forms.ChoiceField(
        label=gettext_lazy("Decision"), choices=AwardOutcome.choices, widget=forms.RadioSelect
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


def _officer(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not is_fund_officer(user):
        raise Http404
    return user


def _application(user: User, pk: int) -> VisitApplication:
    try:
        return get_application_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


@require_GET
def call_applications(request: HttpRequest, pk: int) -> HttpResponse:
    """A mobility call's submitted applications, ranked ones first by score, each with its
    screening status (the refusal's reason too), the mean of its reviews' weighted scores
    and their number. A fixed number of queries whatever their number."""
    user = _officer(request)
    try:
        call: Call = get_call_for_actor(user, pk)
    except NotFound:
        raise Http404 from None
    if call.kind != CallKind.MOBILITY:
        raise Http404
    ranking = {
        app_id: (rank, score, count)
        for rank, (app_id, score, count) in enumerate(ranking_for_call(call.pk), start=1)
    }
    applications = list(
        VisitApplication.objects.filter(call=call)
        .exclude(state=ApplicationState.DRAFT)
        .select_related("visitor", "home_organisation", "host_organisation")
        .order_by("id")
    )
    screening = screening_statuses(applications)
    ranked = [(ranking.get(a.pk, (None, None, 0)), a) for a in applications]
    ranked.sort(key=lambda pair: (pair[0][0] is None, pair[0][0] or 0, pair[1].pk))
    rows = [
        {
            "application": a,
            "rank": rank,
            "mean_score": rank[1],
            "reviews": rank[2],
            "screening": screening.get(a.pk),
            "screening_label": SCREENING_LABELS.get(screening[a.pk].state, "")
            if a.pk in screening
            else "",
        }
        for rank, a in ranked
    ]
    return render(request, "mobility/decisions/call.html", {"call": call, "rows": rows})


def _award_page(
    request: HttpRequest,
    application: VisitApplication,
    user: User,
    *,
    form: AwardForm | None = None,
    decline_form: DeclineForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    decisions = list(
        VisitAwardDecision.objects.filter(application=application)
        .select_related("first_officer", "second_officer")
        .order_by("-id")
    )
    live = next((d for d in decisions if d.state in LIVE_STATES), None)
    shown = live or (decisions[0] if decisions else None)
    # Once one officer has approved, only an officer of the other side may complete the
    # decision, and only with the outcome pending: the form is offered to them alone,
    # with that outcome chosen (the service refuses the rest).
    may_decide = application.state == ApplicationState.UNDER_REVIEW and (
        live is None or can_act_on_decision(user, live, "approve")[0]
    )
    if form is None:
        form = AwardForm(initial={"outcome": live.outcome} if live is not None else None)
    context: dict[str, Any] = {
        "application": application,
        "form": form,
        "error": error,
        "screening": SCREENING_LABELS.get(application_screening_clearance(application), ""),
        "may_decide": may_decide,
        "may_start_review": application.state == ApplicationState.ENDORSED,
        "two_person": two_person_panel(
            user,
            shown,
            withdraw_url=reverse("mobility_decisions:withdraw", args=[shown.pk]) if shown else "",
            decline_url=reverse("mobility_decisions:decline", args=[shown.pk]) if shown else "",
            decline_form=decline_form,
        ),
    }
    return render(request, "mobility/decisions/award.html", context, status=status)


@require_GET
def award(request: HttpRequest, pk: int) -> HttpResponse:
    user = _officer(request)
    return _award_page(request, _application(user, pk), user)


@require_POST
def start_review(request: HttpRequest, pk: int) -> HttpResponse:
    user = _officer(request)
    application = _application(user, pk)
    try:
        application_start_review(application=application, actor=user)
    except DomainError as exc:
        return _award_page(request, application, user, error=str(exc.message), status=exc.status)
    messages.success(request, _("The review of the application is open."))
    return redirect("mobility_decisions:award", pk=application.pk)


@require_POST
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    user = _officer(request)
    application = _application(user, pk)
    form = AwardForm(request.POST)
    if not form.is_valid():
        return _award_page(request, application, user, form=form, status=422)
    try:
        visit_award_approve(
            application=application,
            actor=user,
            outcome=form.cleaned_data["outcome"],
            reason=form.cleaned_data["reason"],
        )
    except DomainError as exc:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, str(error))
        return _award_page(
            request, application, user, form=form, error=str(exc.message), status=exc.status
        )
    messages.success(request, _("Your approval is recorded."))
    return redirect("mobility_decisions:award", pk=application.pk)


def _decision(user: User, pk: int) -> VisitAwardDecision:
    decision = VisitAwardDecision.objects.select_related("application").filter(pk=pk).first()
    if decision is None:
        raise Http404
    _application(user, decision.application_id)
    return decision


@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    user = _officer(request)
    decision = _decision(user, pk)
    try:
        visit_award_withdraw(decision=decision, actor=user)
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return redirect("mobility_decisions:award", pk=decision.application_id)


@require_POST
def decline(request: HttpRequest, pk: int) -> HttpResponse:
    user = _officer(request)
    decision = _decision(user, pk)
    form = DeclineForm(request.POST)
    application = _application(user, decision.application_id)
    if not form.is_valid():
        return _award_page(request, application, user, decline_form=form, status=422)
    try:
        visit_award_decline(decision=decision, actor=user, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        form.add_service_errors(exc.errors, exc.message)
        return _award_page(
            request, application, user, decline_form=form, error=str(exc.message), status=exc.status
        )
    return redirect("mobility_decisions:award", pk=decision.application_id)


decision_patterns: list[URLPattern | URLResolver] = [
    path("calls/<int:pk>/applications/", call_applications, name="call"),
    path("applications/<int:pk>/", award, name="award"),
    path("applications/<int:pk>/review/", start_review, name="start_review"),
    path("applications/<int:pk>/approve/", approve, name="approve"),
    path("decisions/<int:pk>/withdraw/", withdraw, name="withdraw"),
    path("decisions/<int:pk>/decline/", decline, name="decline"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "manage/mobility/",
        include((decision_patterns, "mobility_decisions"), namespace="mobility_decisions"),
    ),
]
