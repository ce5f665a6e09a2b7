"""Officers' mobility call pages (§25, §4, §15): a new mobility call and its edit page, with
the call's wording, areas, dates and review criteria (the projects' call form and criteria
formset) and the terms only a mobility call has.

Like the projects' call management, these pages answer 404 to anyone but a fund officer
(§2: no existence leak); the services' field errors come back on the fields they name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from fundapp.accounts.models import User
from fundapp.errors import NotFound
from fundapp.money import MAX_AMOUNT
from mobility.models import MobilityCountry, MobilityTerms
from mobility.rules import MOBILITY_COUNTRIES
from mobility.services.calls import (
    MAX_VISIT_MONTHS,
    MobilityTermsData,
    mobility_call_create,
    mobility_call_update,
)
from projects.forms.calls import DATETIME_FORMATS, DATETIME_INPUT
from projects.models import Call, CallKind, Fund, ResearchArea
from projects.selectors.calls import get_call_for_actor
from projects.services.calls import CallData
from projects.views.calls import CallManagement

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


def _mobility_call_or_404(user: User, pk: int) -> Call:
    try:
        call = get_call_for_actor(user, pk)
    except NotFound:
        raise Http404 from None
    if call.kind != CallKind.MOBILITY:
        raise Http404
    return call


def _mobility_call_save(
    actor: User, call: Call | None, form: MobilityCallForm, criteria: list[Any]
) -> Call:
    if call is None:
        return mobility_call_create(
            actor=actor,
            fund=form.cleaned_data["fund"],
            call=form.call_data(criteria, None),
            terms=form.terms(),
        )
    return mobility_call_update(
        actor=actor,
        call=call,
        data=form.call_data(criteria, CallData.from_call(call)),
        terms=form.terms(),
    )


MOBILITY_CALLS = CallManagement(
    template="mobility/calls/form.html",
    edit_url="mobility_calls:edit",
    form=MobilityCallForm,
    create_form=MobilityCallCreateForm,
    save=_mobility_call_save,
    call_or_404=_mobility_call_or_404,
)


@require_http_methods(["GET", "POST"])
def call_new(request: HttpRequest) -> HttpResponse:
    """A new mobility call (a draft) with its terms and review criteria."""
    return MOBILITY_CALLS.new(request)


@require_http_methods(["GET", "POST"])
def call_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """A mobility call's page: its values (only wording and the deadline once published),
    the buttons that open, close and archive it, and its history."""
    return MOBILITY_CALLS.edit(request, pk)


@require_POST
def call_transition(request: HttpRequest, pk: int, transition: str) -> HttpResponse:
    return MOBILITY_CALLS.transition(request, pk, transition)


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
