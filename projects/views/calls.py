"""Calls in the browser (§4, §15): the public list and detail, and officers' call management.

Management pages answer 404 to anyone but a fund officer, signed in or not (§2: no
existence leak).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from fundapp.accounts.models import User
from fundapp.actors import is_fund_officer
from fundapp.audit.services import history_for
from fundapp.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from fundapp.money import format_amount
from projects.forms.calls import CallCreateForm, CallForm, CriterionFormSet, apply_errors
from projects.models import Call, CallState
from projects.selectors.calls import (
    call_accepts_submissions,
    calls_list,
    get_call_for_actor,
    open_calls,
)
from projects.services.calls import (
    EDITABLE_AFTER_DRAFT,
    CallData,
    call_archive,
    call_close,
    call_create,
    call_open,
    call_update,
)

TRANSITIONS: dict[str, Callable[..., Call]] = {
    "open": call_open,
    "close": call_close,
    "archive": call_archive,
}


def _actor(request: HttpRequest) -> User | None:
    """The signed-in person, or None for an anonymous visitor."""
    return request.user if isinstance(request.user, User) else None


def _call_or_404(request: HttpRequest, pk: int) -> Call:
    try:
        return get_call_for_actor(_actor(request), pk)
    except NotFound:
        raise Http404 from None


def _require_officer(request: HttpRequest) -> None:
    if not is_fund_officer(_actor(request)):
        raise Http404


# --- public -------------------------------------------------------------------------------


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Open calls with their areas and deadlines; two queries whatever their number."""
    now = timezone.now()
    return render(request, "home.html", {"calls": list(open_calls(now=now)), "now": now})


@require_safe
def call_public_detail(request: HttpRequest, pk: int) -> HttpResponse:
    call = _call_or_404(request, pk)
    now = timezone.now()
    context = {
        "call": call,
        "now": now,
        "accepting": call_accepts_submissions(call, now),
        "budget_jpy": format_amount(call.max_budget_jpy, "JPY"),
        "budget_krw": format_amount(call.max_budget_krw, "KRW"),
    }
    return render(request, "projects/calls/public_detail.html", context)


# --- fund officers ------------------------------------------------------------------------


@require_safe
def calls_manage_list(request: HttpRequest) -> HttpResponse:
    _require_officer(request)
    state = request.GET.get("state") or None
    if state not in CallState.values:
        state = None
    calls = calls_list(actor=_actor(request), state=state).annotate(
        proposal_count=Count("proposals")
    )
    context = {"calls": list(calls), "state": state, "states": CallState.choices}
    return render(request, "projects/calls/manage_list.html", context)


def _render_form(
    request: HttpRequest,
    *,
    form: CallForm,
    formset: Any,
    call: Call | None,
    loose_errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "form": form,
        "formset": formset,
        "call": call,
        "loose_errors": loose_errors or [],
    }
    if call is not None:
        context["history"] = list(history_for(call))
        context["transitions"] = [
            (name, label)
            for name, label, source in (
                ("open", _("Open now"), CallState.DRAFT),
                ("close", _("Close now"), CallState.OPEN),
                ("archive", _("Archive"), CallState.CLOSED),
            )
            if call.state == source
        ]
    return render(request, "projects/calls/manage_form.html", context, status=status)


def _save(request: HttpRequest, form: CallForm, formset: Any, call: Call | None) -> HttpResponse:
    """Validate both forms, hand the values to the service, map its errors back."""
    if form.is_valid() and formset.is_valid():
        criteria, sources = formset.criteria()
        try:
            if call is None:
                saved = call_create(
                    actor=_actor(request),
                    fund=form.cleaned_data["fund"],
                    data=form.to_data(criteria),
                )
                messages.success(request, _("The call was created as a draft."))
            else:
                data = form.to_data(criteria, base=CallData.from_call(call))
                saved = call_update(actor=_actor(request), call=call, data=data)
                messages.success(request, _("The call was saved."))
        except PermissionDenied:
            raise Http404 from None
        except ValidationFailed as exc:
            loose = apply_errors(exc.errors, form=form, criterion_forms=sources)
            return _render_form(
                request, form=form, formset=formset, call=call, loose_errors=loose, status=422
            )
        return redirect("calls_manage_edit", pk=saved.pk)
    return _render_form(request, form=form, formset=formset, call=call, status=422)


@require_http_methods(["GET", "POST"])
def calls_manage_create(request: HttpRequest) -> HttpResponse:
    _require_officer(request)
    if request.method == "POST":
        form = CallCreateForm(request.POST)
        formset = CriterionFormSet(request.POST, prefix="criteria")
        return _save(request, form, formset, None)
    form = CallCreateForm(initial=CallForm.initial_for(None))
    formset = CriterionFormSet(prefix="criteria")
    return _render_form(request, form=form, formset=formset, call=None)


@require_http_methods(["GET", "POST"])
def calls_manage_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require_officer(request)
    call = _call_or_404(request, pk)
    editable = None if call.state == CallState.DRAFT else EDITABLE_AFTER_DRAFT[call.state]
    names_only = editable is not None
    initial = CallForm.initial_for(call)
    criteria_initial = CriterionFormSet.initial_for(call)
    if request.method == "POST":
        form = CallForm(request.POST, initial=initial, editable=editable)
        formset = CriterionFormSet(
            request.POST, initial=criteria_initial, prefix="criteria", names_only=names_only
        )
        return _save(request, form, formset, call)
    form = CallForm(initial=initial, editable=editable)
    formset = CriterionFormSet(initial=criteria_initial, prefix="criteria", names_only=names_only)
    return _render_form(request, form=form, formset=formset, call=call)


@require_POST
def calls_manage_transition(request: HttpRequest, pk: int, transition: str) -> HttpResponse:
    _require_officer(request)
    call = _call_or_404(request, pk)
    service = TRANSITIONS.get(transition)
    if service is None:
        raise Http404
    try:
        call = service(actor=_actor(request), call=call)
    except PermissionDenied:
        raise Http404 from None
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request,
            _("The call's state is now: %(state)s.") % {"state": CallState(call.state).label},
        )
    return redirect("calls_manage_edit", pk=call.pk)


urlpatterns: list[URLPattern] = [
    path("", home, name="home"),
    path("calls/<int:pk>/", call_public_detail, name="calls_public_detail"),
    path("manage/calls/", calls_manage_list, name="calls_manage_list"),
    path("manage/calls/new/", calls_manage_create, name="calls_manage_create"),
    path("manage/calls/<int:pk>/", calls_manage_edit, name="calls_manage_edit"),
    path(
        "manage/calls/<int:pk>/<slug:transition>/",
        calls_manage_transition,
        name="calls_manage_transition",
    ),
]
