"""The officer's call form (§4, §15): a call, its review criteria, its gate policy.

The forms check types (a whole number, a date); the rules of a call live in
``projects.services.calls`` and come back as field errors through ``apply_errors``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from fundapp.money import MAX_AMOUNT
from projects.models import Call, Fund, ResearchArea
from projects.services.calls import GATE_POLICY_FIELDS, SCALAR_FIELDS, CallData, CriterionData

# Seconds are kept so that a time set through the API survives a save in the browser.
DATETIME_INPUT = forms.DateTimeInput(
    attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S"
)
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]


def _decimal(label: Any, places: int = 4) -> forms.DecimalField:
    return forms.DecimalField(label=label, max_digits=6, decimal_places=places)


class CallForm(forms.Form):
    title_en = forms.CharField(label=_("Title (English)"), max_length=300)
    title_ja = forms.CharField(label=_("Title (Japanese)"), max_length=300, required=False)
    title_ko = forms.CharField(label=_("Title (Korean)"), max_length=300, required=False)
    description_en = forms.CharField(
        label=_("Description (English)"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    description_ja = forms.CharField(
        label=_("Description (Japanese)"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    description_ko = forms.CharField(
        label=_("Description (Korean)"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    research_areas = forms.ModelMultipleChoiceField(
        label=_("Research areas"),
        queryset=ResearchArea.objects.order_by("code"),
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    opens_at = forms.DateTimeField(
        label=_("Opens at (Asia/Tokyo)"), widget=DATETIME_INPUT, input_formats=DATETIME_FORMATS
    )
    closes_at = forms.DateTimeField(
        label=_("Closes at (Asia/Tokyo)"), widget=DATETIME_INPUT, input_formats=DATETIME_FORMATS
    )
    max_budget_jpy = forms.IntegerField(
        label=_("Maximum budget, JP side (JPY)"), min_value=0, max_value=MAX_AMOUNT
    )
    max_budget_krw = forms.IntegerField(
        label=_("Maximum budget, KR side (KRW)"), min_value=0, max_value=MAX_AMOUNT
    )
    min_stages = forms.IntegerField(label=_("Minimum number of stages"), min_value=2, max_value=5)
    max_stages = forms.IntegerField(label=_("Maximum number of stages"), min_value=2, max_value=5)
    max_project_months = forms.IntegerField(label=_("Maximum project months"), min_value=1)
    pass_threshold = _decimal(_("Pass threshold"))
    conditional_threshold = _decimal(_("Conditional threshold"))
    conditional_floor = _decimal(_("Conditional floor (mandatory KPIs)"))
    bonus_rate = _decimal(_("Bonus rate"))
    max_multiplier = _decimal(_("Maximum multiplier"))
    conditional_rate = _decimal(_("Release rate when conditional"))
    max_extensions = forms.IntegerField(label=_("Maximum extensions"), min_value=0)
    max_extension_months = forms.IntegerField(label=_("Maximum months per extension"), min_value=0)
    auto_release_on_pass = forms.BooleanField(
        label=_("Release automatically on pass"), required=False
    )

    def __init__(self, *args: Any, editable: Iterable[str] | None = None, **kwargs: Any) -> None:
        """``editable``: the only fields that may still change (the rest are shown disabled)."""
        super().__init__(*args, **kwargs)
        if editable is not None:
            allowed = set(editable)
            for name, field in self.fields.items():
                if name not in allowed:
                    field.disabled = True

    def main_fields(self) -> list[forms.BoundField]:
        return [bound for bound in self if bound.name not in GATE_POLICY_FIELDS]

    def policy_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in GATE_POLICY_FIELDS]

    @staticmethod
    def initial_for(call: Call | None = None) -> dict[str, Any]:
        if call is None:
            # A new call starts from the §4 defaults the model declares.
            blank = Call()
            return {
                name: getattr(blank, name)
                for name in SCALAR_FIELDS
                if name not in ("opens_at", "closes_at")
            }
        initial: dict[str, Any] = {name: getattr(call, name) for name in SCALAR_FIELDS}
        initial["research_areas"] = [area.pk for area in call.research_areas.all()]
        return initial

    def to_data(self, criteria: list[CriterionData], base: CallData | None = None) -> CallData:
        """The service's input; fields left as they were keep ``base``'s exact values
        (a rendered widget may drop microseconds, which is not a change)."""
        values = {
            name: self.cleaned_data[name]
            for name in (*SCALAR_FIELDS, "research_areas")
            if base is None or name in self.changed_data
        }
        if "research_areas" in values:
            values["research_areas"] = list(values["research_areas"])
        if base is None:
            return CallData(**values, criteria=criteria)
        return dataclasses.replace(base, **values, criteria=criteria)


class CallCreateForm(CallForm):
    fund = forms.ModelChoiceField(
        label=_("Fund"), queryset=Fund.objects.order_by("id"), empty_label=None
    )

    field_order = ["fund"]


class CriterionForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    name_en = forms.CharField(label=_("Criterion (English)"), max_length=200)
    name_ja = forms.CharField(label=_("Criterion (Japanese)"), max_length=200, required=False)
    name_ko = forms.CharField(label=_("Criterion (Korean)"), max_length=200, required=False)
    weight = forms.DecimalField(
        label=_("Weight"), max_digits=6, decimal_places=3, min_value=Decimal("0.001")
    )


class BaseCriterionFormSet(forms.BaseFormSet):
    def __init__(self, *args: Any, names_only: bool = False, **kwargs: Any) -> None:
        """``names_only``: the call is published, so only the criteria's names may change."""
        self.names_only = names_only
        if names_only:
            self.extra = 0
            self.can_delete = False
        super().__init__(*args, **kwargs)

    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if self.names_only:
            form.fields["weight"].disabled = True

    def criteria(self) -> tuple[list[CriterionData], list[forms.Form]]:
        """The criteria in order, with the form each came from (to place errors)."""
        items: list[CriterionData] = []
        sources: list[forms.Form] = []
        for form in self.forms:
            data = form.cleaned_data
            if not data or data.get("DELETE"):
                continue
            items.append(
                CriterionData(
                    id=data.get("id"),
                    name_en=data.get("name_en", ""),
                    name_ja=data.get("name_ja", ""),
                    name_ko=data.get("name_ko", ""),
                    weight=data["weight"],
                )
            )
            sources.append(form)
        return items, sources

    @staticmethod
    def initial_for(call: Call | None) -> list[dict[str, Any]]:
        if call is None:
            return []
        return [
            {
                "id": c.id,
                "name_en": c.name_en,
                "name_ja": c.name_ja,
                "name_ko": c.name_ko,
                "weight": c.weight,
            }
            for c in call.criteria.all()
        ]


CriterionFormSet = cast(
    "type[BaseCriterionFormSet]",
    forms.formset_factory(
        CriterionForm,
        formset=BaseCriterionFormSet,
        extra=1,
        can_delete=True,
        max_num=20,
        validate_max=True,
    ),
)


def apply_errors(
    errors: dict[str, list[str]], *, form: forms.Form, criterion_forms: list[forms.Form]
) -> list[str]:
    """Put a service's field errors on the fields they name; return the ones with no field."""
    loose: list[str] = []
    for key, messages in errors.items():
        parts = key.split(".")
        target: forms.Form | None = None
        field: str | None = None
        if parts[0] == "criteria" and len(parts) == 3 and parts[1].isdigit():
            index = int(parts[1])
            if index < len(criterion_forms) and parts[2] in criterion_forms[index].fields:
                target, field = criterion_forms[index], parts[2]
        elif key in form.fields:
            target, field = form, key
        if target is None or field is None:
            loose.extend(messages)
            continue
        for message in messages:
            if target.fields[field].disabled:
                target.add_error(None, message)
            else:
                target.add_error(field, message)
    return loose
