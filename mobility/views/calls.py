"""Officers' mobility call pages (§25, §4, §15): a new mobility call and its edit page, with
the call's wording, areas, dates and review criteria (the projects' call form and criteria
formset) and the terms only a mobility call has.

Like the projects' call management, these pages answer 404 to anyone but a fund officer
(§2: no existence leak); the services' field errors come back on the fields they name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from fundapp.accounts.models import User
from fundapp.actors import is_fund_officer
from fundapp.audit.services import history_for
from fundapp.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from fundapp.money import MAX_AMOUNT
from mobility.models import MobilityCountry, MobilityTerms
from mobility.rules import MOBILITY_COUNTRIES
from mobility.services.calls import (
    MAX_VISIT_MONTHS,
    MobilityTermsData,
    mobility_call_create,
    mobility_call_update,
)
from projects.forms.calls import DATETIME_FORMATS, DATETIME_INPUT, CriterionFormSet, apply_errors
from projects.models import Call, CallKind, CallState, Fund, ResearchArea
from projects.selectors.calls import get_call_for_actor
from projects.services.calls import (
    EDITABLE_AFTER_DRAFT,
    CallData,
    call_archive,
    call_close,
    call_open,
)

TRANSITIONS: dict[str, Callable[..., Call]] = {
    "open": call_open,
    "close": call_close,
    "archive": call_archive,
}

CALL_FIELDS = (
    "title_en",
    "title_ja",
    "title_ko",
    "description_en",
    "description_ja",
    "description_ko",
    "opens_at",
    "closes_at",
)
TERMS_FIELDS = (
    "stipend_month_jpy",
    "stipend_month_krw",
    "travel_jpy",
    "travel_krw",
    "min_months",
    "max_months",
    "eligible_countries",
)


def _amount(label: Any) -> forms.IntegerField:
    return forms.IntegerField(label=label, min_value=0, max_value=MAX_AMOUNT)


def _months(label: Any) -> forms.IntegerField:
    return forms.IntegerField(label=label, min_value=1, max_value=MAX_VISIT_MONTHS)


def _text(label: Any) -> forms.CharField:
    return forms.CharField(label=label, required=False, widget=forms.Textarea(attrs={"rows": 4}))


class MobilityCallForm(forms.Form):
    title_en = forms.CharField(label=gettext_lazy("Title (English)"), max_length=300)
    title_ja = forms.CharField(
        label=gettext_lazy("Title (Japanese)"), max_length=300, required=False
    )
    title_ko = forms.CharField(label=gettext_lazy("Title (Korean)"), max_length=300, required=False)
    description_en = _text(gettext_lazy("Description (English)"))
    description_ja = _text(gettext_lazy("Description (Japanese)"))
    description_ko = _text(gettext_lazy("Description (Korean)"))
    research_areas = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Research areas"),
        queryset=ResearchArea.objects.order_by("code"),
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    opens_at = forms.DateTimeField(
        label=gettext_lazy("Opens at (Asia/Tokyo)"),
        widget=DATETIME_INPUT,
        input_formats=DATETIME_FORMATS,
    )
    closes_at = forms.DateTimeField(
        label=gettext_lazy("Closes at (Asia/Tokyo)"),
        widget=DATETIME_INPUT,
        input_formats=DATETIME_FORMATS,
    )
    stipend_month_jpy = _amount(gettext_lazy("Monthly stipend, JP side (JPY)"))
    stipend_month_krw = _amount(gettext_lazy("Monthly stipend, KR side (KRW)"))
    travel_jpy = _amount(gettext_lazy("Travel lump sum, JP side (JPY)"))
    travel_krw = _amount(gettext_lazy("Travel lump sum, KR side (KRW)"))
    min_months = _months(gettext_lazy("Minimum visit months"))
    max_months = _months(gettext_lazy("Maximum visit months"))
    eligible_countries = forms.MultipleChoiceField(
        label=gettext_lazy("Eligible countries"),
        choices=MobilityCountry.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, editable: frozenset[str] | None = None, **kwargs: Any) -> None:
        """``editable``: the only fields that may still change (the rest shown disabled)."""
        super().__init__(*args, **kwargs)
        if editable is not None:
            for name, field in self.fields.items():
                if name not in editable:
                    field.disabled = True

    def call_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in (*CALL_FIELDS[:6], "research_areas", *CALL_FIELDS[6:])]

    def terms_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in TERMS_FIELDS]

    @staticmethod
    def initial_for(call: Call | None) -> dict[str, Any]:
        if call is None:
            return {
                "min_months": 1,
                "max_months": MAX_VISIT_MONTHS,
                "eligible_countries": list(MOBILITY_COUNTRIES),
            }
        terms = MobilityTerms.objects.get(call=call)
        initial: dict[str, Any] = {name: getattr(call, name) for name in CALL_FIELDS}
        initial["research_areas"] = [area.pk for area in call.research_areas.all()]
        initial.update({name: getattr(terms, name) for name in TERMS_FIELDS})
        return initial

    def terms(self) -> MobilityTermsData:
        data = self.cleaned_data
        return MobilityTermsData(
            **{name: data[name] for name in TERMS_FIELDS if name != "eligible_countries"},
            eligible_countries=tuple(data["eligible_countries"]),
        )

    def call_data(self, criteria: Any, base: CallData | None) -> CallData:
        values: dict[str, Any] = {
            name: self.cleaned_data[name]
            for name in CALL_FIELDS
            if base is None or name in self.changed_data
        }
        if base is None or "research_areas" in self.changed_data:
            values["research_areas"] = list(self.cleaned_data["research_areas"])
        if base is None:
            # The budget is derived from the terms by the service.
            return CallData(**values, max_budget_jpy=0, max_budget_krw=0, criteria=criteria)
        return dataclasses.replace(base, **values, criteria=criteria)


class MobilityCallCreateForm(MobilityCallForm):
    fund = forms.ModelChoiceField(
        label=gettext_lazy("Fund"), queryset=Fund.objects.order_by("id"), empty_label=None
    )

    field_order = ["fund"]


def _officer(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not is_fund_officer(user):
        raise Http404
    return user


def _mobility_call_or_404(user: User, pk: int) -> Call:
    try:
        call = get_call_for_actor(user, pk)
    except NotFound:
        raise Http404 from None
    if call.kind != CallKind.MOBILITY:
        raise Http404
    return call


def _render(
    request: HttpRequest,
    *,
    form: MobilityCallForm,
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
    return render(request, "mobility/calls/form.html", context, status=status)


def _save(
    request: HttpRequest, user: User, form: MobilityCallForm, formset: Any, call: Call | None
) -> HttpResponse:
    """Validate both forms, hand the values to the service, map its errors back."""
    if form.is_valid() and formset.is_valid():
        criteria, sources = formset.criteria()
        try:
            if call is None:
                saved = mobility_call_create(
                    actor=user,
                    fund=form.cleaned_data["fund"],
                    call=form.call_data(criteria, None),
                    terms=form.terms(),
                )
                messages.success(request, _("The call was created as a draft."))
            else:
                saved = mobility_call_update(
                    actor=user,
                    call=call,
                    data=form.call_data(criteria, CallData.from_call(call)),
                    terms=form.terms(),
                )
                messages.success(request, _("The call was saved."))
        except PermissionDenied:
            raise Http404 from None
        except ValidationFailed as exc:
            loose = apply_errors(exc.errors, form=form, criterion_forms=sources)
            return _render(
                request, form=form, formset=formset, call=call, loose_errors=loose, status=422
            )
        return redirect("mobility_calls:edit", pk=saved.pk)
    return _render(request, form=form, formset=formset, call=call, status=422)


@require_http_methods(["GET", "POST"])
def call_new(request: HttpRequest) -> HttpResponse:
    """A new mobility call (a draft) with its terms and review criteria."""
    user = _officer(request)
    if request.method == "POST":
        form = MobilityCallCreateForm(request.POST)
        formset = CriterionFormSet(request.POST, prefix="criteria")
        return _save(request, user, form, formset, None)
    form = MobilityCallCreateForm(initial=MobilityCallForm.initial_for(None))
    formset = CriterionFormSet(prefix="criteria")
    return _render(request, form=form, formset=formset, call=None)


@require_http_methods(["GET", "POST"])
def call_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """A mobility call's page: its values (only wording and the deadline once published),
    the buttons that open, close and archive it, and its history."""
    user = _officer(request)
    call = _mobility_call_or_404(user, pk)
    editable = None if call.state == CallState.DRAFT else EDITABLE_AFTER_DRAFT[call.state]
    names_only = editable is not None
    initial = MobilityCallForm.initial_for(call)
    criteria_initial = CriterionFormSet.initial_for(call)
    if request.method == "POST":
        form = MobilityCallForm(request.POST, initial=initial, editable=editable)
        formset = CriterionFormSet(
            request.POST, initial=criteria_initial, prefix="criteria", names_only=names_only
        )
        return _save(request, user, form, formset, call)
    form = MobilityCallForm(initial=initial, editable=editable)
    formset = CriterionFormSet(initial=criteria_initial, prefix="criteria", names_only=names_only)
    return _render(request, form=form, formset=formset, call=call)


@require_POST
def call_transition(request: HttpRequest, pk: int, transition: str) -> HttpResponse:
    user = _officer(request)
    call = _mobility_call_or_404(user, pk)
    service = TRANSITIONS.get(transition)
    if service is None:
        raise Http404
    try:
        call = service(actor=user, call=call)
    except PermissionDenied:
        raise Http404 from None
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request,
            _("The call's state is now: %(state)s.") % {"state": CallState(call.state).label},
        )
    return redirect("mobility_calls:edit", pk=call.pk)


call_patterns: list[URLPattern] = [
    path("new/", call_new, name="new"),
    path("<int:pk>/", call_edit, name="edit"),
    path("<int:pk>/<slug:transition>/", call_transition, name="transition"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "manage/mobility-calls/",
        include((call_patterns, "mobility_calls"), namespace="mobility_calls"),
    ),
]
