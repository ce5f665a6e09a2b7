"""The browser's form to propose a licence (§10.2, §23): one or more assets, each with an
optional share of the royalties in basis points (equal shares when none is given)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from ip_licensing.forms import ServiceForm
from ip_licensing.models import Exclusivity, IPAsset, Purpose

CURRENCIES = [("JPY", "JPY"), ("KRW", "KRW")]


def _codes(text: str, *, upper: bool = False) -> list[str]:
    items = [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]
    return [item.upper() for item in items] if upper else items


class _AssetChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.title} (#{obj.pk})"


class LicenceCreateForm(ServiceForm):
    assets = _AssetChoice(
        label=_("Assets"),
        queryset=IPAsset.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("One or more assets of one owner: the licensor."),
    )
    licensee = forms.CharField(label=_("Licensee (organisation code)"), max_length=32)
    fields_of_use = forms.CharField(
        label=_("Fields of use"),
        max_length=2000,
        help_text=_("Research-area codes, separated by commas."),
    )
    purposes = forms.MultipleChoiceField(
        label=_("Purposes"), choices=Purpose.choices, widget=forms.CheckboxSelectMultiple
    )
    territories = forms.CharField(
        label=_("Territories"),
        max_length=1000,
        help_text=_("ISO 3166-1 alpha-2 codes separated by commas, or WW."),
    )
    start_on = forms.DateField(label=_("Start"), widget=forms.DateInput(attrs={"type": "date"}))
    end_on = forms.DateField(label=_("End"), widget=forms.DateInput(attrs={"type": "date"}))
    exclusivity = forms.ChoiceField(label=_("Exclusivity"), choices=Exclusivity.choices)
    sublicensable = forms.BooleanField(label=_("Sublicensable"), required=False)
    royalty_rate = forms.DecimalField(
        label=_("Royalty rate"),
        min_value=Decimal(0),
        max_value=Decimal(1),
        decimal_places=6,
        help_text=_("A decimal fraction of net sales, e.g. 0.035."),
    )
    minimum_annual_royalty = forms.IntegerField(
        label=_("Minimum annual royalty"), min_value=0, initial=0
    )
    upfront_fee = forms.IntegerField(label=_("Upfront fee"), min_value=0, initial=0)
    currency = forms.ChoiceField(label=_("Currency"), choices=CURRENCIES)

    def __init__(self, *args: Any, assets: QuerySet[IPAsset], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["assets"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = assets
        # One optional share per asset on offer, beside its checkbox.
        self.share_names: dict[int, str] = {}
        for asset in assets:
            name = f"share_{asset.pk}"
            self.share_names[asset.pk] = name
            self.fields[name] = forms.IntegerField(
                label=_("Share of %(asset)s (basis points)") % {"asset": asset.title},
                required=False,
                min_value=1,
                max_value=10_000,
            )

    def share_fields(self) -> list[Any]:
        return [self[name] for name in self.share_names.values()]

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        chosen = sorted(asset.pk for asset in data["assets"])
        shares = [data.get(self.share_names[pk]) for pk in chosen]
        payload: dict[str, Any] = {
            "assets": chosen,
            "licensee": data["licensee"].strip(),
            "fields_of_use": _codes(data["fields_of_use"]),
            "purposes": list(data["purposes"]),
            "territories": _codes(data["territories"], upper=True),
            "start_on": data["start_on"].isoformat(),
            "end_on": data["end_on"].isoformat(),
            "exclusivity": data["exclusivity"],
            "sublicensable": data["sublicensable"],
            "royalty_rate": str(data["royalty_rate"]),
            "minimum_annual_royalty": data["minimum_annual_royalty"],
            "upfront_fee": data["upfront_fee"],
            "currency": data["currency"],
        }
        if any(share is not None for share in shares):
            payload["asset_shares"] = ["" if share is None else share for share in shares]
        return payload
