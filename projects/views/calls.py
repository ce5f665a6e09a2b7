"""Calls in the browser (§4, §15): the public list and detail, and officers' call management.

Management pages answer 404 to anyone but a fund officer, signed in or not (§2: no
existence leak).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


def _call_or_404(actor: User | None, pk: int) -> Call:
    try:
        return get_call_for_actor(actor, pk)
    except NotFound:
        raise Http404 from None


def officer_or_404(request: HttpRequest) -> User:
    """The signed-in fund officer; 404 to anyone else, signed in or not."""
    user = _actor(request)
    if user is None or not is_fund_officer(user):
        raise Http404
    return user


# --- public -------------------------------------------------------------------------------


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Open calls with their areas and deadlines; two queries whatever their number."""
    now = timezone.now()
    return render(request, "home.html", {"calls": list(open_calls(now=now)), "now": now})


@require_safe
def call_public_detail(request: HttpRequest, pk: int) -> HttpResponse:
    call = _call_or_404(_actor(request), pk)
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
    officer_or_404(request)
    state = request.GET.get("state") or None
    if state not in CallState.values:
        state = None
    calls = calls_list(actor=_actor(request), state=state).annotate(
        proposal_count=Count("proposals")
    )
    context = {"calls": list(calls), "state": state, "states": CallState.choices}
    return render(request, "projects/calls/manage_list.html", context)


@dataclass(frozen=True)
class CallManagement:
    """A kind of call's management pages. The flow is shared by the research calls' pages
    and the talent exchange's: fund officers only (404 to anyone else, signed in or not),
    the call's form beside the review criteria formset, the service's field errors back on
    the fields they name (422), the transitions open, close and archive. What a kind has of
    its own is said here."""

    template: str
    # The URL name of a call's edit page (the page every save and transition returns to).
    edit_url: str
    # The edit form (``initial_for(call)``, ``editable=``) and the new call's form (a fund).
    form: type[Any]
    create_form: type[Any]
    # Creates the call (``call`` None) or saves it, from the valid form and criteria.
    save: Callable[[User, Call | None, Any, list[Any]], Call]
    # The call of this kind the officer asked for, or Http404.
    call_or_404: Callable[[User, int], Call]

    def new(self, request: HttpRequest) -> HttpResponse:
        """The new call's page (GET) and its creation as a draft (POST)."""
        actor = officer_or_404(request)
        if request.method == "POST":
            form = self.create_form(request.POST)
            formset = CriterionFormSet(request.POST, prefix="criteria")
            return self._save(request, actor=actor, form=form, formset=formset, call=None)
        form = self.create_form(initial=self.form.initial_for(None))
        formset = CriterionFormSet(prefix="criteria")
        return self.render(request, form=form, formset=formset, call=None)

    def edit(self, request: HttpRequest, pk: int) -> HttpResponse:
        """A call's page (GET) and its save (POST): once published, only what
        ``EDITABLE_AFTER_DRAFT`` allows may change, and of the criteria only their names."""
        actor = officer_or_404(request)
        call = self.call_or_404(actor, pk)
        editable = None if call.state == CallState.DRAFT else EDITABLE_AFTER_DRAFT[call.state]
        names_only = editable is not None
        initial = self.form.initial_for(call)
        criteria_initial = CriterionFormSet.initial_for(call)
        if request.method == "POST":
            form = self.form(request.POST, initial=initial, editable=editable)
            formset = CriterionFormSet(
                request.POST, initial=criteria_initial, prefix="criteria", names_only=names_only
            )
            return self._save(request, actor=actor, form=form, formset=formset, call=call)
        form = self.form(initial=initial, editable=editable)
        formset = CriterionFormSet(
            initial=criteria_initial, prefix="criteria", names_only=names_only
        )
        return self.render(request, form=form, formset=formset, call=call)

    def transition(self, request: HttpRequest, pk: int, transition: str) -> HttpResponse:
        """Open, close or archive the call (404 for any other word), then back to its page
        with the outcome as a message."""
        actor = officer_or_404(request)
        call = self.call_or_404(actor, pk)
        service = TRANSITIONS.get(transition)
        if service is None:
            raise Http404
        try:
            call = service(actor=actor, call=call)
        except PermissionDenied:
            raise Http404 from None
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(
                request,
                _("The call's state is now: %(state)s.") % {"state": CallState(call.state).label},
            )
        return redirect(self.edit_url, pk=call.pk)

    def render(
        self,
        request: HttpRequest,
        *,
        form: Any,
        formset: Any,
        call: Call | None,
        loose_errors: list[str] | None = None,
        status: int = 200,
    ) -> HttpResponse:
        """The form page: the call's history and the transitions its state allows."""
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
        return render(request, self.template, context, status=status)

    def _save(
        self, request: HttpRequest, *, actor: User, form: Any, formset: Any, call: Call | None
    ) -> HttpResponse:
        """Validate both forms, hand the values to the service, map its errors back."""
        if form.is_valid() and formset.is_valid():
            criteria, sources = formset.criteria()
            try:
                saved = self.save(actor, call, form, criteria)
            except PermissionDenied:
                raise Http404 from None
            except ValidationFailed as exc:
                loose = apply_errors(exc.errors, form=form, criterion_forms=sources)
                return self.render(
                    request, form=form, formset=formset, call=call, loose_errors=loose, status=422
                )
            if call is None:
                messages.success(request, _("The call was created as a draft."))
            else:
                messages.success(request, _("The call was saved."))
            return redirect(self.edit_url, pk=saved.pk)
        return self.render(request, form=form, formset=formset, call=call, status=422)


def _research_call_save(actor: User, call: Call | None, form: Any, criteria: list[Any]) -> Call:
    if call is None:
        return call_create(actor=actor, fund=form.cleaned_data["fund"], data=form.to_data(criteria))
    data = form.to_data(criteria, base=CallData.from_call(call))
    return call_update(actor=actor, call=call, data=data)


RESEARCH_CALLS = CallManagement(
    template="projects/calls/manage_form.html",
    edit_url="calls_manage_edit",
    form=CallForm,
    create_form=CallCreateForm,
    save=_research_call_save,
    call_or_404=_call_or_404,
)


@require_http_methods(["GET", "POST"])
def calls_manage_create(request: HttpRequest) -> HttpResponse:
    return RESEARCH_CALLS.new(request)


@require_http_methods(["GET", "POST"])
def calls_manage_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return RESEARCH_CALLS.edit(request, pk)


@require_POST
def calls_manage_transition(request: HttpRequest, pk: int, transition: str) -> HttpResponse:
    return RESEARCH_CALLS.transition(request, pk, transition)


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
