"""Browser forms of the webhook pages (§13.3, §15): subscribe, change, rotate the secret.

The forms only shape the input; the services decide (address guard, registered event
types, who may manage which organisation) and their refusals land on the fields they name.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Organisation
from fundapp.errors import DomainError
from fundapp.kernel.events import event_sentence, event_types

from .models import URL_MAX_LENGTH, WebhookSubscription
from .services import PING


def event_type_description(name: str) -> str:
    """The registered sentence of an outbox event type in the current language, read as a
    description of every event of that type ("Someone approved the licence")."""
    described = event_sentence(name, {"actor": gettext("someone")})
    return described[:1].upper() + described[1:]


def event_type_choices() -> list[tuple[str, str]]:
    """Every partner-facing event type (§13.2) but the ping, with its sentence."""
    return [
        (t.name, format_html("<code>{}</code> — {}", t.name, event_type_description(t.name)))
        for t in event_types()
        if t.outbox and t.name != PING
    ]


class _DomainErrors:
    """Show a service's refusal on the fields it names, else above the form."""

    def add_domain_error(self: Any, exc: DomainError) -> None:
        if not exc.errors:
            self.add_error(None, str(exc.message))
            return
        for field, messages in exc.errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, str(message))


class SubscriptionForm(_DomainErrors, forms.Form):
    url = forms.URLField(
        label=_("URL"),
        max_length=URL_MAX_LENGTH,
        assume_scheme="https",
    )
    event_types = forms.MultipleChoiceField(
        label=_("Event types"),
        choices=event_type_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick none to receive every event type your organisation may see."),
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=WebhookSubscription._meta.get_field("description").max_length,
        required=False,
        help_text=_("What this receiver is, for the people who manage it."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The example address is code, not words to translate.
        self.fields["url"].help_text = format_html(
            gettext("Where we send each event, e.g. {example}."),
            example=format_html("<code>{}</code>", "https://partner.example/webhooks"),
        )


class SubscriptionCreateForm(SubscriptionForm):
    organisation = forms.ModelChoiceField(
        label=_("Organisation"), queryset=Organisation.objects.none()
    )
    field_order = ["organisation", "url", "event_types", "description"]

    def __init__(self, *args: Any, organisations: QuerySet[Organisation], **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["organisation"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = organisations
        if len(organisations) == 1:
            field.empty_label = None


class SecretRotateForm(forms.Form):
    revoke_now = forms.BooleanField(
        label=_("Stop signing with the current secret at once"),
        required=False,
        help_text=_(
            "Only if the current secret has leaked: deliveries signed until the receiver "
            "knows the new secret will fail verification."
        ),
    )
