"""Creating and editing mobility calls (§25, §4).

A mobility call is a ``projects.Call`` of kind ``mobility`` made and changed by the
projects' call service (``call_create`` / ``call_update``: its rules, officer check and
``call.*`` audit events), plus one ``MobilityTerms`` row: the stipend and travel sums per
side, the visit length and the eligible countries. Both are written in one transaction,
so a refusal of either leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import ValidationFailed
from fundapp.money import MAX_AMOUNT
from mobility.models import MobilityTerms
from mobility.rules import MOBILITY_COUNTRIES
from projects.models import Call, CallKind, CallState, Fund
from projects.services.calls import CallData, call_create, call_update, validate_call_data

MAX_VISIT_MONTHS = 12

AMOUNT_FIELDS = ("stipend_month_jpy", "stipend_month_krw", "travel_jpy", "travel_krw")


@dataclass(frozen=True, kw_only=True)
class MobilityTermsData:
    """What only a mobility call states: sums per side, visit months, countries."""

    stipend_month_jpy: int
    stipend_month_krw: int
    travel_jpy: int
    travel_krw: int
    min_months: int = 1
    max_months: int = MAX_VISIT_MONTHS
    eligible_countries: Sequence[str] = MOBILITY_COUNTRIES

    @classmethod
    def from_terms(cls, terms: MobilityTerms) -> MobilityTermsData:
        return cls(
            **{name: getattr(terms, name) for name in TERMS_FIELDS if name != "eligible_countries"},
            eligible_countries=tuple(terms.eligible_countries),
        )


TERMS_FIELDS = tuple(f.name for f in dataclasses.fields(MobilityTermsData))


def validate_terms_data(data: MobilityTermsData) -> dict[str, list[str]]:
    """The rules of a mobility call's terms, as {field: [messages]} (pure)."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for name in AMOUNT_FIELDS:
        value = getattr(data, name)
        if not isinstance(value, int) or isinstance(value, bool):
            add(name, _("Enter a whole amount (no fractions)."))
        elif value < 0:
            add(name, _("An amount cannot be negative."))
        elif value > MAX_AMOUNT:
            add(name, _("An amount may be at most 10¹⁵."))
    months_ok = True
    for name in ("min_months", "max_months"):
        value = getattr(data, name)
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not 1 <= value <= MAX_VISIT_MONTHS
        ):
            add(name, _("Use a number of months from 1 to %(n)d.") % {"n": MAX_VISIT_MONTHS})
            months_ok = False
    if months_ok and data.min_months > data.max_months:
        add("max_months", _("The maximum number of months cannot be below the minimum."))
    countries = list(data.eligible_countries)
    if any(c not in MOBILITY_COUNTRIES for c in countries):
        add("eligible_countries", _("Choose among Japan, Korea and the United States."))
    elif len(set(countries)) < 2:
        add(
            "eligible_countries",
            _("Choose at least two countries: a visit goes from one to another."),
        )
    return errors


def mobility_call_data(call: CallData, terms: MobilityTermsData) -> CallData:
    """The call's values with what a research call needs and a mobility call does not
    state derived from its terms: the budget per side is what the longest visit can cost
    that side (stipend × maximum months + travel, capped at the largest amount), and a
    visit is at most twelve months."""
    values: dict[str, Any] = {"max_project_months": MAX_VISIT_MONTHS}
    if not validate_terms_data(terms):
        values["max_budget_jpy"] = min(
            terms.stipend_month_jpy * terms.max_months + terms.travel_jpy, MAX_AMOUNT
        )
        values["max_budget_krw"] = min(
            terms.stipend_month_krw * terms.max_months + terms.travel_krw, MAX_AMOUNT
        )
    return dataclasses.replace(call, **values)


def _check(call: CallData, terms: MobilityTermsData) -> CallData:
    """Every field error of both halves at once, so the form shows them together."""
    call = mobility_call_data(call, terms)
    errors = {**validate_call_data(call), **validate_terms_data(terms)}
    if errors:
        raise ValidationFailed(_("The call has invalid fields."), errors=errors)
    return call


def _terms_snapshot(terms: MobilityTermsData) -> dict[str, Any]:
    values = {name: getattr(terms, name) for name in TERMS_FIELDS}
    values["eligible_countries"] = sorted(terms.eligible_countries)
    return values


def mobility_call_create(
    *, actor: Actor | None, fund: Fund, call: CallData, terms: MobilityTermsData
) -> Call:
    """Create a draft call of kind ``mobility`` with its terms.

    Guarantees: fund officers only (``call_create`` checks); the call and its terms are
    saved together or not at all; audited as ``call.created`` and ``mobility_terms.set``.
    Field errors of the call and its terms come back together (ValidationFailed, 422).
    """
    call = _check(call, terms)
    with transaction.atomic():
        created = call_create(actor=actor, fund=fund, data=call)
        # The kind is fixed at creation and no path changes it afterwards.
        Call.objects.filter(pk=created.pk).update(kind=CallKind.MOBILITY)
        created.kind = CallKind.MOBILITY
        values = _terms_snapshot(terms)
        MobilityTerms.objects.create(call=created, **values)
        audit_record(actor=actor, action="mobility_terms.set", obj=created, after=values)
    return created


def mobility_call_update(
    *, actor: Actor | None, call: Call, data: CallData, terms: MobilityTermsData
) -> Call:
    """Replace what an officer states about a mobility call and its terms.

    Guarantees: ``call_update`` locks the call and applies its rules (after draft only
    wording and an open call's deadline change); the terms row is locked after it and,
    like the stage rules, may change only while the call is a draft. Audited as
    ``call.updated`` and ``mobility_terms.updated`` (changes only); saving without a
    change writes nothing. Fund officers only; nothing is saved on refusal.
    """
    data = _check(data, terms)
    if call.state != CallState.DRAFT:
        # A published call keeps its budget, as it keeps its terms (refused below if changed).
        data = dataclasses.replace(
            data, max_budget_jpy=call.max_budget_jpy, max_budget_krw=call.max_budget_krw
        )
    with transaction.atomic():
        saved = call_update(actor=actor, call=call, data=data)
        row = MobilityTerms.objects.select_for_update(of=("self",)).get(call=saved)
        before = _terms_snapshot(MobilityTermsData.from_terms(row))
        after = _terms_snapshot(terms)
        changed = [name for name in after if after[name] != before[name]]
        if changed and saved.state != CallState.DRAFT:
            message = _(
                "This can no longer be changed: the call has been published (state: %(state)s)."
            ) % {"state": CallState(saved.state).label}
            raise ValidationFailed(
                _("The call has invalid fields."), errors={name: [message] for name in changed}
            )
        if changed:
            for name in changed:
                setattr(row, name, after[name])
            row.save(update_fields=changed)
            audit_record(
                actor=actor,
                action="mobility_terms.updated",
                obj=saved,
                before={name: before[name] for name in changed},
                after={name: after[name] for name in changed},
            )
    return saved
