"""Mobility calls: a call of kind ``mobility`` with its terms, made and changed by officers
through the projects' call service (§25, §4)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from fundapp.audit.models import AuditEvent
from fundapp.errors import PermissionDenied, ValidationFailed
from mobility.models import MobilityTerms
from mobility.services.calls import (
    MobilityTermsData,
    mobility_call_create,
    mobility_call_update,
)
from projects.models import Call, CallKind, CallState
from projects.services.calls import CallData, CriterionData, call_open
from tests.factories import FundFactory, ResearchAreaFactory, UserFactory, officer

pytestmark = pytest.mark.django_db


def call_data(**overrides: Any) -> CallData:
    now = timezone.now()
    values: dict[str, Any] = {
        "title_en": "Researcher exchange",
        "title_ja": "研究者交流",
        "title_ko": "연구자 교류",
        "research_areas": [ResearchAreaFactory.create()],
        "opens_at": now + timedelta(hours=1),
        "closes_at": now + timedelta(days=30),
        "max_budget_jpy": 0,
        "max_budget_krw": 0,
        "criteria": [CriterionData(name_en="Merit", weight=Decimal(1))],
    }
    values.update(overrides)
    return CallData(**values)


def terms_data(**overrides: Any) -> MobilityTermsData:
    values: dict[str, Any] = {
        "stipend_month_jpy": 300_000,
        "stipend_month_krw": 3_000_000,
        "travel_jpy": 200_000,
        "travel_krw": 2_000_000,
        "min_months": 2,
        "max_months": 6,
        "eligible_countries": ("JP", "KR"),
    }
    values.update(overrides)
    return MobilityTermsData(**values)


def test_an_officer_creates_a_mobility_call_with_its_terms_audited():
    who = officer("KR")

    call = mobility_call_create(
        actor=who, fund=FundFactory.create(), call=call_data(), terms=terms_data()
    )

    call.refresh_from_db()
    assert call.kind == CallKind.MOBILITY and call.state == CallState.DRAFT
    terms = MobilityTerms.objects.get(call=call)
    assert (terms.stipend_month_krw, terms.travel_jpy, terms.min_months, terms.max_months) == (
        3_000_000,
        200_000,
        2,
        6,
    )
    assert sorted(terms.eligible_countries) == ["JP", "KR"]
    # The budget per side is the longest visit's cost to that side.
    assert call.max_budget_jpy == 300_000 * 6 + 200_000
    assert call.max_budget_krw == 3_000_000 * 6 + 2_000_000
    actions = list(
        AuditEvent.objects.filter(object_id=str(call.pk))
        .order_by("id")
        .values_list("action", "actor_user_id")
    )
    assert actions == [("call.created", who.pk), ("mobility_terms.set", who.pk)]


def test_errors_of_the_call_and_its_terms_come_back_together_and_nothing_is_saved():
    with pytest.raises(ValidationFailed) as caught:
        mobility_call_create(
            actor=officer(),
            fund=FundFactory.create(),
            call=call_data(title_en=" "),
            terms=terms_data(
                stipend_month_jpy=-1, min_months=7, max_months=6, eligible_countries=("US",)
            ),
        )

    assert set(caught.value.errors) == {
        "title_en",
        "stipend_month_jpy",
        "max_months",
        "eligible_countries",
    }
    assert not Call.objects.exists() and not MobilityTerms.objects.exists()


@pytest.mark.parametrize("months", [0, 13])
def test_visit_months_stay_between_one_and_twelve(months):
    with pytest.raises(ValidationFailed) as caught:
        mobility_call_create(
            actor=officer(),
            fund=FundFactory.create(),
            call=call_data(),
            terms=terms_data(min_months=1, max_months=months),
        )
    assert list(caught.value.errors) == ["max_months"]


def test_only_fund_officers_create_mobility_calls():
    with pytest.raises(PermissionDenied):
        mobility_call_create(
            actor=UserFactory.create(),
            fund=FundFactory.create(),
            call=call_data(),
            terms=terms_data(),
        )
    assert not Call.objects.exists() and not MobilityTerms.objects.exists()


def test_a_draft_changes_its_terms_and_only_the_changes_are_audited():
    who = officer()
    call = mobility_call_create(
        actor=who, fund=FundFactory.create(), call=call_data(), terms=terms_data()
    )
    data = CallData.from_call(call)

    mobility_call_update(
        actor=who, call=call, data=data, terms=terms_data(max_months=12, travel_jpy=250_000)
    )

    terms = MobilityTerms.objects.get(call=call)
    assert (terms.max_months, terms.travel_jpy) == (12, 250_000)
    call.refresh_from_db()
    assert call.max_budget_jpy == 300_000 * 12 + 250_000
    (event,) = AuditEvent.objects.filter(action="mobility_terms.updated")
    assert event.before == {"max_months": 6, "travel_jpy": 200_000}
    assert event.after == {"max_months": 12, "travel_jpy": 250_000}

    # Saving again without a change writes nothing.
    mobility_call_update(
        actor=who,
        call=call,
        data=CallData.from_call(call),
        terms=terms_data(max_months=12, travel_jpy=250_000),
    )
    assert AuditEvent.objects.filter(action="mobility_terms.updated").count() == 1


def test_a_published_call_keeps_its_terms_but_its_wording_can_change():
    who = officer()
    call = mobility_call_create(
        actor=who,
        fund=FundFactory.create(),
        call=call_data(opens_at=timezone.now() - timedelta(hours=1)),
        terms=terms_data(),
    )
    call = call_open(actor=who, call=call)

    with pytest.raises(ValidationFailed) as caught:
        mobility_call_update(
            actor=who, call=call, data=CallData.from_call(call), terms=terms_data(max_months=9)
        )
    assert list(caught.value.errors) == ["max_months"]
    assert MobilityTerms.objects.get(call=call).max_months == 6

    data = dataclasses.replace(CallData.from_call(call), title_ko="한일 연구자 교류")
    mobility_call_update(actor=who, call=call, data=data, terms=terms_data())
    call.refresh_from_db()
    assert call.title_ko == "한일 연구자 교류"
