"""Browser pages of licence obligations (§23, §15): the obligations panel of the licence
page and its actions (add, submit evidence, accept, waive, answer a breach), the fund
officers' "obligations due" queue and the licensee's "my obligations".

As on the licence page, everything is fetched through the selectors (a licence one may
not see answers 404) and every POST calls one service; a refusal renders the licence page
again with the service's message and status, and nothing typed is lost.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from fundapp.accounts.models import Membership, User
from fundapp.actors import is_fund_officer
from fundapp.errors import DomainError, NotFound
from fundapp.kernel.approval_pages import DeclineForm, two_person_panel
from fundapp.kernel.approvals import LIVE_STATES, DecisionState
from ip_licensing import permissions
from ip_licensing.forms import ServiceForm
from ip_licensing.models import (
    BreachDecision,
    BreachRemedy,
    Exclusivity,
    Licence,
    Obligation,
    ObligationKind,
    ObligationState,
    ObligationWaiver,
)
from ip_licensing.models.obligations import PENDING_STATES
from ip_licensing.selectors import get_licence_for_actor, licence_ids_visible_to
from ip_licensing.services import obligations as obligation_services

PAGE_SIZE = 25


# --------------------------------------------------------------------------- forms


class ObligationForm(ServiceForm):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=ObligationKind.choices)
    description_en = forms.CharField(
        label=gettext_lazy("Description (English)"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    description_ja = forms.CharField(
        label=gettext_lazy("Description (Japanese)"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    description_ko = forms.CharField(
        label=gettext_lazy("Description (Korean)"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    due_on = forms.DateField(
        label=gettext_lazy("Due date"), widget=forms.DateInput(attrs={"type": "date"})
    )


class EvidenceForm(ServiceForm):
    note = forms.CharField(
        label=gettext_lazy("Evidence"),
        max_length=8000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("What was done, with references to the documents."),
    )


class WaiveForm(ServiceForm):
    reason = forms.CharField(
        label=gettext_lazy("Reason for waiving"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class BreachForm(ServiceForm):
    remedy = forms.ChoiceField(label=gettext_lazy("Remedy"), choices=BreachRemedy.choices)
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )


# --------------------------------------------------------------------------- the panel


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _licence_or_404(user: User, pk: object) -> Licence:
    try:
        return get_licence_for_actor(user, pk)
    except NotFound:
        raise Http404 from None


def _with_live_waivers(obligations: QuerySet[Obligation]) -> QuerySet[Obligation]:
    live = (
        ObligationWaiver.objects.filter(state__in=LIVE_STATES)
        .select_related("first_officer", "second_officer")
        .order_by("-id")
    )
    return obligations.prefetch_related(Prefetch("waivers", queryset=live, to_attr="live_waivers"))


def obligations_panel(
    user: User, licence: Licence, forms_: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The licence page's obligations section as ``user`` sees it: each obligation with
    what the person may do to it, and the forms. Three queries (obligations, their live
    waivers, the pending breach decision) plus the person's permissions."""
    forms_ = forms_ or {}
    rows = list(_with_live_waivers(Obligation.objects.filter(licence=licence)))
    may_submit = permissions.can_submit_obligation_evidence(user, licence)[0]
    may_accept = permissions.can_accept_obligation_evidence(user, licence)[0]
    may_decide = permissions.can_decide_obligation(user)[0]
    items = []
    for obligation in rows:
        live = getattr(obligation, "live_waivers", [])
        waiver = live[0] if live else None
        pending = obligation.state in PENDING_STATES
        key = f"evidence-{obligation.pk}"
        items.append(
            {
                "obligation": obligation,
                "submit": pending and may_submit,
                "accept": pending and may_accept and obligation.evidence_submitted_at is not None,
                "waive": pending and may_decide and waiver is None,
                "evidence_form": forms_.get(key) or EvidenceForm(prefix=key),
                "waive_form": forms_.get(f"waive-{obligation.pk}")
                or WaiveForm(prefix=f"waive-{obligation.pk}"),
                "waiver": two_person_panel(
                    user,
                    waiver,
                    withdraw_url=reverse("ip:obligation_act", args=[obligation.pk, "withdraw"]),
                    decline_url=reverse("ip:obligation_act", args=[obligation.pk, "decline"]),
                    decline_form=forms_.get(f"decline-{obligation.pk}"),
                )
                if waiver is not None and may_decide
                else None,
                "waiver_state": waiver.state if waiver is not None else "",
            }
        )
    breached = [o for o in rows if o.state == ObligationState.BREACHED]
    was_exclusive = (
        licence.exclusivity == Exclusivity.EXCLUSIVE or licence.exclusivity_lost_on is not None
    )
    pending_decision = (
        BreachDecision.objects.filter(licence=licence, state=DecisionState.PENDING)
        .select_related("first_officer", "obligation")
        .first()
        if breached and was_exclusive
        else None
    )
    breach_form: BreachForm | None = None
    if breached and was_exclusive and may_decide:
        breach_form = forms_.get("breach") or BreachForm(prefix="breach")
    return {
        "items": items,
        "add": permissions.can_add_obligation(user, licence)[0],
        "add_form": forms_.get("obligation_add") or ObligationForm(prefix="obligation"),
        "breached": breached[0] if breached else None,
        "breach_form": breach_form,
        "breach_decision": pending_decision,
        "breach_panel": two_person_panel(
            user,
            pending_decision,
            withdraw_url=reverse("ip:breach_act", args=[licence.pk, "withdraw"]),
            decline_url=reverse("ip:breach_act", args=[licence.pk, "decline"]),
            decline_form=forms_.get("breach_decline"),
        )
        if pending_decision is not None and may_decide
        else None,
    }


def _refused(
    request: HttpRequest, licence: Licence, exc: DomainError, form: Any, key: str
) -> HttpResponse:
    from ip_licensing.views import _render_licence

    forms_: dict[str, Any] = {}
    if form is not None:
        form.add_service_errors(exc.errors, exc.message)
        forms_[key] = form
    licence.refresh_from_db()
    return _render_licence(
        request, licence, forms=forms_, error=str(exc.message), failed=key, status=exc.status
    )


def _invalid(request: HttpRequest, licence: Licence, form: Any, key: str) -> HttpResponse:
    from ip_licensing.views import _render_licence

    return _render_licence(request, licence, forms={key: form}, failed=key, status=422)


# --------------------------------------------------------------------------- actions


@login_required
@require_POST
def obligation_add(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    licence = _licence_or_404(user, pk)
    form = ObligationForm(request.POST, prefix="obligation")
    if not form.is_valid():
        return _invalid(request, licence, form, "obligation_add")
    try:
        obligation_services.obligation_create(licence=licence, actor=user, data=form.cleaned_data)
    except DomainError as exc:
        return _refused(request, licence, exc, form, "obligation_add")
    messages.success(request, _("The obligation is added."))
    return redirect(reverse("ip:licence", args=[licence.pk]) + "#obligations")


OBLIGATION_ACTIONS = ("evidence", "accept", "waive", "withdraw", "decline")


@login_required
@require_POST
def obligation_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One action on an obligation, through its service."""
    user = _user(request)
    obligation = Obligation.objects.filter(pk=pk).first()
    if obligation is None or action not in OBLIGATION_ACTIONS:
        raise Http404
    licence = _licence_or_404(user, obligation.licence_id)
    form: Any = None
    key = f"{action}-{obligation.pk}"
    try:
        if action == "evidence":
            form = EvidenceForm(request.POST, prefix=key)
            if not form.is_valid():
                return _invalid(request, licence, form, key)
            obligation_services.obligation_submit_evidence(
                obligation=obligation, actor=user, note=form.cleaned_data["note"]
            )
            done = _("Your evidence is submitted; the licensor is asked to accept it.")
        elif action == "accept":
            accepted = obligation_services.obligation_accept(obligation=obligation, actor=user)
            done = (
                _("The obligation is met.")
                if accepted.state == ObligationState.MET
                else _("The overdue obligation is cured.")
            )
        elif action == "waive":
            form = WaiveForm(request.POST, prefix=key)
            if not form.is_valid():
                return _invalid(request, licence, form, key)
            waived = obligation_services.obligation_waive(
                obligation=obligation, actor=user, reason=form.cleaned_data["reason"]
            )
            done = (
                _("The obligation is waived.")
                if waived.state == ObligationState.WAIVED
                else _("Your approval is recorded; an officer of the other side must complete it.")
            )
        else:
            waiver = ObligationWaiver.objects.filter(
                obligation=obligation, state=DecisionState.PENDING
            ).first()
            if waiver is None:
                raise Http404
            if action == "withdraw":
                obligation_services.obligation_waiver_withdraw(waiver=waiver, actor=user)
                done = _("Your pending approval has been withdrawn.")
            else:
                form = DeclineForm(request.POST)
                key = f"decline-{obligation.pk}"
                if not form.is_valid():
                    return _invalid(request, licence, form, key)
                obligation_services.obligation_waiver_decline(
                    waiver=waiver, actor=user, reason=form.cleaned_data["reason"]
                )
                done = _("The pending approval has been declined.")
    except DomainError as exc:
        return _refused(request, licence, exc, form, key)
    messages.success(request, done)
    return redirect(reverse("ip:licence", args=[licence.pk]) + "#obligations")


@login_required
@require_POST
def breach_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Fund officers answer a breach (approve a remedy), withdraw or decline it."""
    user = _user(request)
    licence = _licence_or_404(user, pk)
    if action not in ("approve", "withdraw", "decline"):
        raise Http404
    form: Any = None
    key = "breach"
    try:
        if action == "approve":
            form = BreachForm(request.POST, prefix="breach")
            if not form.is_valid():
                return _invalid(request, licence, form, key)
            obligation = (
                Obligation.objects.filter(licence=licence, state=ObligationState.BREACHED)
                .order_by("due_on", "id")
                .first()
            )
            if obligation is None:
                raise Http404
            decision = obligation_services.breach_decide(
                licence=licence,
                obligation=obligation,
                actor=user,
                remedy=form.cleaned_data["remedy"],
                reason=form.cleaned_data["reason"],
            )
            done = (
                _("The answer to the breach is applied.")
                if decision.state == DecisionState.COMPLETED
                else _("Your approval is recorded; an officer of the other side must complete it.")
            )
        else:
            pending = BreachDecision.objects.filter(
                licence=licence, state=DecisionState.PENDING
            ).first()
            if pending is None:
                raise Http404
            if action == "withdraw":
                obligation_services.breach_decision_withdraw(decision=pending, actor=user)
                done = _("Your pending approval has been withdrawn.")
            else:
                form = DeclineForm(request.POST)
                key = "breach_decline"
                if not form.is_valid():
                    return _invalid(request, licence, form, key)
                obligation_services.breach_decision_decline(
                    decision=pending, actor=user, reason=form.cleaned_data["reason"]
                )
                done = _("The pending approval has been declined.")
    except DomainError as exc:
        return _refused(request, licence, exc, form, key)
    messages.success(request, done)
    return redirect(reverse("ip:licence", args=[licence.pk]) + "#obligations")


# --------------------------------------------------------------------------- lists

# The officers' queue: obligations in their cure period first (the soonest end first),
# then breached ones awaiting an answer, then open ones by due date.
_QUEUE_ORDER = Case(
    When(state=ObligationState.OVERDUE, then=Value(0)),
    When(state=ObligationState.BREACHED, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def _listed(obligations: QuerySet[Obligation]) -> QuerySet[Obligation]:
    return obligations.select_related("licence", "licence__licensor", "licence__licensee")


@login_required
@require_GET
def obligations_due(request: HttpRequest) -> HttpResponse:
    """Fund officers' queue: overdue (in cure) first, then breached, then open; paginated,
    a fixed number of queries whatever the page holds."""
    user = _user(request)
    if not is_fund_officer(user):
        raise Http404
    rows = (
        _listed(
            Obligation.objects.filter(
                state__in=[
                    ObligationState.OVERDUE,
                    ObligationState.BREACHED,
                    ObligationState.OPEN,
                ]
            )
        )
        .annotate(queue_order=_QUEUE_ORDER)
        .order_by("queue_order", "cure_ends_on", "due_on", "id")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "ip_licensing/obligations/due.html",
        {"page": page, "title": _("Obligations due")},
    )


@login_required
@require_GET
def my_obligations(request: HttpRequest) -> HttpResponse:
    """The obligations the person's organisations owe as licensees, still open or overdue
    first; paginated, a fixed number of queries."""
    user = _user(request)
    orgs = Membership.objects.filter(user=user).values("organisation_id")
    visible = licence_ids_visible_to(user)
    rows = Obligation.objects.filter(licence__licensee_id__in=orgs)
    if visible is not None:
        rows = rows.filter(licence_id__in=visible)
    ordered = (
        _listed(rows).annotate(queue_order=_QUEUE_ORDER).order_by("queue_order", "due_on", "id")
    )
    page = Paginator(ordered, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "ip_licensing/obligations/mine.html",
        {"page": page, "title": _("My obligations")},
    )


routes: list[URLPattern] = [
    path("obligations/due/", obligations_due, name="obligations_due"),
    path("obligations/mine/", my_obligations, name="my_obligations"),
    path("licences/<int:pk>/obligations/add/", obligation_add, name="obligation_add"),
    path("licences/<int:pk>/breach/<slug:action>/", breach_act, name="breach_act"),
    path("obligations/<int:pk>/<slug:action>/", obligation_act, name="obligation_act"),
]
