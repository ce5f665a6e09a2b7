"""The API's one block for a two-person decision (§2, §14), and the body of a decline.

Every resource that carries a two-person decision (award decisions, gate decisions and
overrides, licence approvals, return-allocation changes) shows it with
``TwoPersonDecisionSerializer`` — who approved, when, for which side, what is still
needed, who declined and why — and takes ``DeclineSerializer`` on its ``…/decline``
endpoint.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from fundapp.kernel.approvals import MAX_DECLINE_REASON, DecisionState


class TwoPersonDecisionSerializer(serializers.Serializer):
    """The state of a two-person decision, read only; nest it with ``source="*"``."""

    state = serializers.ChoiceField(choices=DecisionState.choices, read_only=True)
    first_officer = serializers.IntegerField(
        source="first_officer_id", read_only=True, allow_null=True
    )
    first_side = serializers.CharField(read_only=True)
    first_at = serializers.DateTimeField(read_only=True)
    second_officer = serializers.IntegerField(
        source="second_officer_id", read_only=True, allow_null=True
    )
    second_side = serializers.CharField(read_only=True)
    second_at = serializers.DateTimeField(read_only=True, allow_null=True)
    needed_side = serializers.CharField(
        read_only=True,
        help_text=_("The side whose fund officer must still complete or decline it; empty."),
    )
    withdrawn_at = serializers.DateTimeField(read_only=True, allow_null=True)
    declined_by = serializers.IntegerField(source="declined_by_id", read_only=True, allow_null=True)
    declined_side = serializers.CharField(read_only=True)
    declined_at = serializers.DateTimeField(read_only=True, allow_null=True)
    decline_reason = serializers.CharField(read_only=True)


class DeclineSerializer(serializers.Serializer):
    """The body of ``POST …/decline``: the reason, required (422 with a field error)."""

    reason = serializers.CharField(
        allow_blank=True,
        required=False,
        default="",
        max_length=MAX_DECLINE_REASON,
        trim_whitespace=True,
        help_text=_("Why the decision is declined; shown to the officer who approved first."),
    )


DECISION_BLOCK_EXAMPLE = {
    "state": "pending",
    "first_officer": 17,
    "first_side": "JP",
    "first_at": "2026-11-30T01:00:00Z",
    "second_officer": None,
    "second_side": "",
    "second_at": None,
    "needed_side": "KR",
    "withdrawn_at": None,
    "declined_by": None,
    "declined_side": "",
    "declined_at": None,
    "decline_reason": "",
}
