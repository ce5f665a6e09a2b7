"""Browser forms for accounts: the officer's API-key form."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from fundapp.errors import DomainError

from .models import ApiKey, Organisation, Scope
from .templatetags.fund_format import TOKYO

SCOPE_DESCRIPTIONS = {
    Scope.PROPOSALS_READ: _("read the organisation's proposals"),
    Scope.PROPOSALS_WRITE: _("draft, submit and withdraw proposals"),
    Scope.PROJECTS_READ: _("read projects, stages and KPIs"),
    Scope.KPI_WRITE: _("report KPI measurements"),
    Scope.KPI_ATTEST: _("attest or dispute the KPI measurements it verifies"),
    Scope.GATES_READ: _("read stage gates and their evaluations"),
    Scope.GATES_WRITE: _("evaluate stage gates"),
    Scope.PAYMENTS_WRITE: _("confirm payments of disbursements"),
    Scope.LEDGER_READ: _("read its side's ledger (agencies only)"),
    Scope.LICENCES_READ: _("read licences"),
    Scope.LICENCES_CHECK: _("check whether a use is licensed"),
    Scope.ROYALTIES_WRITE: _("submit royalty reports"),
    Scope.WEBHOOKS_MANAGE: _("manage webhook subscriptions"),
}


def scope_choices() -> list[tuple[str, Any]]:
    return [
        (value, format_html("<code>{}</code> — {}", value, SCOPE_DESCRIPTIONS[Scope(value)]))
        for value in Scope.values
    ]


def end_of_day(day) -> datetime:
    """A key valid "until" a date works through that whole day in Japan and Korea."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=TOKYO)


class ApiKeyIssueForm(forms.Form):
    organisation = forms.ModelChoiceField(
        label=_("Organisation"), queryset=Organisation.objects.order_by("code")
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=ApiKey._meta.get_field("name").max_length,
        help_text=_("How you will recognise the key, e.g. the partner system's name."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=scope_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Grant only what the partner system needs."),
    )
    expires_on = forms.DateField(
        label=_("Valid until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty for a key that does not expire."),
    )

    # Service field names → form field names, for errors the service raises.
    service_fields = {"expires_at": "expires_on"}

    def clean_expires_on(self):
        day = self.cleaned_data.get("expires_on")
        if day is not None and day < timezone.localdate(timezone=TOKYO):
            raise forms.ValidationError(_("The expiry cannot be in the past."))
        return day

    @property
    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        return end_of_day(day) if day else None

    def add_domain_error(self, exc: DomainError) -> None:
        """Show a service's refusal on the fields it names, else above the form."""
        if not exc.errors:
            self.add_error(None, str(exc.message))
            return
        for field, messages in exc.errors.items():
            target = self.service_fields.get(field, field)
            for message in messages:
                self.add_error(target if target in self.fields else None, str(message))


class ResearcherNumbersForm(forms.Form):
    """A person's own researcher numbers and ORCID iD (§5, §22)."""

    erad_number = forms.CharField(
        label=_("e-Rad researcher number"),
        max_length=16,
        required=False,
        help_text=_("Japan's e-Rad 研究者番号, if you have one."),
    )
    kr_researcher_number = forms.CharField(
        label=_("Korean researcher number"),
        max_length=16,
        required=False,
        help_text=_("Your number in Korea's researcher registry, if you have one."),
    )
    orcid = forms.CharField(
        label=_("ORCID iD"),
        max_length=40,
        required=False,
        help_text=_("As 0000-0000-0000-0000; the last character may be X."),
    )

    def add_domain_error(self, exc: DomainError) -> None:
        if not exc.errors:
            self.add_error(None, str(exc.message))
            return
        for field, messages in exc.errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, str(message))
