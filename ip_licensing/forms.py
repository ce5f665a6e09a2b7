"""Forms of the IP registry and licence pages (§10, §15).

The forms only shape what a person typed into the plain data the services take; the
services validate the domain rules and their per-field errors are put back on the form
(:meth:`ServiceForm.add_service_errors`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Organisation
from fundapp.kernel.models import ResearchArea
from ip_licensing.models import AssetKind, AssetStatus, Exclusivity, IPAsset, Purpose


class ServiceForm(forms.Form):
    def add_service_errors(self, errors: dict[str, list[Any]], message: object) -> None:
        """Put a ``DomainError``'s field errors beside their fields, the rest on top."""
        placed = False
        for key, texts in errors.items():
            field = key if key in self.fields else None
            if key == "owners" and "owner" in self.fields:
                field = "owner"
            if key == "fields_of_use" and "field" in self.fields:
                field = "field"
            for text in texts:
                self.add_error(field, str(text))
                placed = True
        if not placed and message:
            self.add_error(None, str(message))


class AssetFilterForm(forms.Form):
    """The registry's filters; unknown values are ignored rather than refused."""

    q = forms.CharField(label=_("Title contains"), required=False, max_length=200)
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All kinds")), *AssetKind.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All statuses")), *AssetStatus.choices]
    )
    owner = forms.CharField(label=_("Owner (organisation code)"), required=False, max_length=32)
    project = forms.IntegerField(label=_("Project number"), required=False, min_value=1)


class _OrganisationChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.code} — {obj.name}"


class _ProjectChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"#{obj.pk} {obj.title}"


class AssetRegisterForm(ServiceForm):
    """One owner organisation (results are never co-owned, §10.1)."""

    kind = forms.ChoiceField(label=_("Kind"), choices=AssetKind.choices)
    title_en = forms.CharField(label=_("Title (English)"), max_length=300, required=False)
    title_ja = forms.CharField(label=_("Title (Japanese)"), max_length=300, required=False)
    title_ko = forms.CharField(label=_("Title (Korean)"), max_length=300, required=False)
    owner = _OrganisationChoice(
        label=_("Owner organisation"), queryset=Organisation.objects.none(), to_field_name="code"
    )
    is_background = forms.BooleanField(
        label=_("Background IP (not a result of a project)"), required=False
    )
    project = _ProjectChoice(
        # The projects a person may name come from the projects domain, set per request.
        label=_("Project it came from"),
        queryset=None,
        required=False,
    )
    inventors = forms.CharField(
        label=_("Inventors / authors"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One name per line."),
    )
    jurisdiction = forms.CharField(
        label=_("Jurisdiction"), required=False, max_length=2, help_text=_("JP, KR, US …")
    )
    filing_number = forms.CharField(label=_("Filing number"), required=False, max_length=100)
    status = forms.ChoiceField(label=_("Status"), choices=AssetStatus.choices)
    research_area = forms.ModelChoiceField(
        label=_("Research area"),
        queryset=ResearchArea.objects.none(),
        to_field_name="code",
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        owners: QuerySet[Organisation],
        projects: QuerySet[Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        owner_field = self.fields["owner"]
        assert isinstance(owner_field, forms.ModelChoiceField)
        owner_field.queryset = owners
        project_field = self.fields["project"]
        assert isinstance(project_field, forms.ModelChoiceField)
        project_field.queryset = projects
        area_field = self.fields["research_area"]
        assert isinstance(area_field, forms.ModelChoiceField)
        area_field.queryset = ResearchArea.objects.order_by("code")

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        project = data.get("project")
        area = data.get("research_area")
        return {
            "kind": data["kind"],
            "title_en": data.get("title_en", ""),
            "title_ja": data.get("title_ja", ""),
            "title_ko": data.get("title_ko", ""),
            "owner": data["owner"].code,
            "is_background": bool(data.get("is_background")),
            "project": project.pk if project is not None else None,
            "inventors": [
                line.strip() for line in data.get("inventors", "").splitlines() if line.strip()
            ],
            "jurisdiction": data.get("jurisdiction", ""),
            "filing_number": data.get("filing_number", ""),
            "status": data["status"],
            "research_area": area.code if area is not None else None,
        }


class ReasonForm(ServiceForm):
    reason = forms.CharField(
        label=_("Reason"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )


class RenewForm(ServiceForm):
    start_on = forms.DateField(
        label=_("New start date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty: the day after the licence ends."),
    )
    end_on = forms.DateField(
        label=_("New end date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty: as long as the current term."),
    )

    def service_data(self) -> dict[str, Any]:
        return {
            name: self.cleaned_data[name].isoformat()
            for name in ("start_on", "end_on")
            if self.cleaned_data.get(name)
        }


class RoyaltyReportForm(ServiceForm):
    quarter = forms.RegexField(
        label=_("Quarter"),
        regex=r"^\s*\d{4}-Q[1-4]\s*$",
        max_length=7,
        help_text=_("YYYY-Qn, e.g. 2026-Q3."),
        error_messages={"invalid": _("Give a quarter as YYYY-Qn, e.g. 2026-Q3.")},
    )
    net_sales = forms.IntegerField(label=_("Net sales"), min_value=0)
    sublicence_income = forms.IntegerField(
        label=_("Sublicence income"),
        min_value=0,
        required=False,
        help_text=_("The quarter's income from your sublicences; the licence's share is due."),
    )


class LicenceCheckForm(ServiceForm):
    """May organisation X use asset A for purpose P in field F and territory T on day D?"""

    asset = forms.ModelChoiceField(label=_("Asset"), queryset=IPAsset.objects.none())
    licensee = forms.CharField(label=_("Licensee (organisation code)"), max_length=32)
    # No silent defaults: each choice starts empty and must be made.
    field = forms.ChoiceField(
        label=_("Field of use"),
        choices=(),
        error_messages={"required": _("Choose the field of use.")},
    )
    purpose = forms.ChoiceField(
        label=_("Purpose"),
        choices=[("", _("— choose —")), *Purpose.choices],
        error_messages={"required": _("Choose the purpose.")},
    )
    # No maxlength on the input: a browser would cut "Korea" to "Ko" without a word; the
    # code is checked here and refused with the reason.
    territory = forms.RegexField(
        label=_("Territory"),
        regex=r"^[A-Za-z]{2}$",
        strip=True,
        help_text=_("ISO 3166-1 alpha-2 code (JP, KR, US …)."),
        error_messages={"invalid": _("Use an ISO 3166-1 alpha-2 code (JP, KR, US …).")},
    )
    on = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, assets: QuerySet[IPAsset], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        asset_field = self.fields["asset"]
        assert isinstance(asset_field, forms.ModelChoiceField)
        asset_field.queryset = assets
        field_field = self.fields["field"]
        assert isinstance(field_field, forms.ChoiceField)
        field_field.choices = [
            ("", _("— choose —")),
            *(
                (code, f"{code} — {area.name}")
                for area in ResearchArea.objects.order_by("code")
                for code in [area.code]
            ),
        ]

    def service_check(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "asset": data["asset"].pk,
            "licensee": data["licensee"].strip().upper(),
            "field": data["field"],
            "purpose": data["purpose"],
            "territory": data["territory"].upper(),
            "on": data["on"].isoformat(),
        }


def _codes(text: str, *, upper: bool = False) -> list[str]:
    items = [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]
    return [item.upper() if upper else item for item in items]


class SublicenceForm(ServiceForm):
    """A sublicence's sublicensee and scope (§23); the service checks it lies inside the
    parent licence and names what does not."""

    licensee = forms.CharField(
        label=_("Sublicensee (organisation code)"), max_length=32, strip=True
    )
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
    exclusivity = forms.ChoiceField(
        label=_("Exclusivity"), choices=Exclusivity.choices, initial=Exclusivity.NON_EXCLUSIVE
    )

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "licensee": data["licensee"].upper(),
            "fields_of_use": _codes(data["fields_of_use"]),
            "purposes": list(data["purposes"]),
            "territories": _codes(data["territories"], upper=True),
            "start_on": data["start_on"].isoformat(),
            "end_on": data["end_on"].isoformat(),
            "exclusivity": data["exclusivity"],
        }
