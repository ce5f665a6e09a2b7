"""What every page showing a two-person decision (§2, §15) needs: the context of the one
partial (``templates/includes/two_person.html``) and the form of a decline.

A view builds ``two_person_panel(actor, decision, withdraw_url=…, decline_url=…)`` and the
template includes the partial ``with panel=…``: who approved, when, for which side, what is
still needed, who withdrew or declined and why, and — for whom the rule allows it — the
withdraw button and the decline form.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Side
from fundapp.actors import Actor
from fundapp.kernel.approvals import (
    MAX_DECLINE_REASON,
    TwoPersonDecision,
    can_act_on_decision,
)


class DeclineForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for declining"),
        max_length=MAX_DECLINE_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Shown to the officer who approved first."),
    )

    def add_service_errors(self, errors: dict[str, list[Any]], message: object = "") -> None:
        placed = False
        for key, texts in errors.items():
            for text in texts:
                self.add_error("reason" if key == "reason" else None, str(text))
                placed = True
        if not placed and message:
            self.add_error(None, str(message))


def _label(side: str) -> str:
    try:
        return str(Side(side).label)
    except ValueError:
        return side


def two_person_panel(
    actor: Actor | None,
    decision: TwoPersonDecision | None,
    *,
    withdraw_url: str = "",
    decline_url: str = "",
    decline_form: DeclineForm | None = None,
) -> dict[str, Any] | None:
    """The partial's context for ``decision`` as ``actor`` sees it (``None``: nothing)."""
    if decision is None:
        return None
    can_withdraw = bool(withdraw_url) and can_act_on_decision(actor, decision, "withdraw")[0]
    can_decline = bool(decline_url) and can_act_on_decision(actor, decision, "decline")[0]
    return {
        "decision": decision,
        "first_side_label": _label(decision.first_side),
        "second_side_label": _label(decision.second_side),
        "declined_side_label": _label(decision.declined_side),
        "needed_side_label": _label(decision.needed_side) if decision.needed_side else "",
        "can_withdraw": can_withdraw,
        "can_decline": can_decline,
        "withdraw_url": withdraw_url,
        "decline_url": decline_url,
        "decline_form": decline_form or DeclineForm(),
    }
