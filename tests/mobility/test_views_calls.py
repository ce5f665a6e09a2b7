"""Officers' mobility call pages (§25, §15): new call, edit, state buttons; 404 to others."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from mobility.models import MobilityTerms
from mobility.services.calls import MobilityTermsData, mobility_call_create
from projects.models import Call, CallKind, CallState
from projects.services.calls import CallData, CriterionData
from tests.factories import (
    CallFactory,
    FundFactory,
    ResearchAreaFactory,
    UserFactory,
    officer,
)
from tests.factories.mobility import MobilityCallFactory

pytestmark = pytest.mark.django_db


def _local(value: Any) -> str:
    return str(timezone.localtime(value).strftime("%Y-%m-%dT%H:%M"))


def body(**overrides: Any) -> dict[str, Any]:
    now = timezone.now()
    values: dict[str, Any] = {
        "fund": str(FundFactory.create().pk),
        "title_en": "Researcher exchange",
        "title_ko": "연구자 교류",
        "research_areas": [str(ResearchAreaFactory.create().pk)],
        "opens_at": _local(now + timedelta(days=1)),
        "closes_at": _local(now + timedelta(days=40)),
        "stipend_month_jpy": "300000",
        "stipend_month_krw": "3000000",
        "travel_jpy": "200000",
        "travel_krw": "2000000",
        "min_months": "1",
        "max_months": "12",
        "eligible_countries": ["JP", "KR", "US"],
        "criteria-TOTAL_FORMS": "1",
        "criteria-INITIAL_FORMS": "0",
        "criteria-0-name_en": "Merit",
        "criteria-0-weight": "1",
    }
    values.update(overrides)
    return values


def make_call() -> Call:
    now = timezone.now()
    return mobility_call_create(
        actor=officer(),
        fund=FundFactory.create(),
        call=CallData(
            title_en="Exchange 2027",
            research_areas=[ResearchAreaFactory.create()],
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(days=30),
            max_budget_jpy=0,
            max_budget_krw=0,
            criteria=[CriterionData(name_en="Merit", weight=Decimal(1))],
        ),
        terms=MobilityTermsData(
            stipend_month_jpy=1, stipend_month_krw=10, travel_jpy=1, travel_krw=10
        ),
    )


def test_an_officer_creates_a_mobility_call_from_the_call_list(client):
    client.force_login(officer())
    listing = client.get(reverse("calls_manage_list")).content.decode()
    assert reverse("mobility_calls:new") in listing

    response = client.post(reverse("mobility_calls:new"), body())

    call = Call.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("mobility_calls:edit", args=[call.pk])
    assert call.kind == CallKind.MOBILITY
    assert MobilityTerms.objects.get(call=call).stipend_month_krw == 3_000_000
    # The call list leads to the mobility call's own page.
    listing = client.get(reverse("calls_manage_list")).content.decode()
    assert reverse("mobility_calls:edit", args=[call.pk]) in listing


def test_field_errors_come_back_translated_on_their_fields_keeping_the_input(client):
    client.force_login(officer(preferred_language="ja"))

    response = client.post(
        reverse("mobility_calls:new"),
        body(min_months="6", max_months="3", eligible_countries=["KR"], title_ja="交流"),
        HTTP_ACCEPT_LANGUAGE="ja",
    )

    assert response.status_code == 422
    form = response.context["form"]
    assert set(form.errors) == {"max_months", "eligible_countries"}
    page = response.content.decode()
    assert 'value="交流"' in page
    assert "Choose at least two countries" not in page
    assert not Call.objects.exists()


def test_the_edit_page_opens_the_call_and_refuses_its_terms_once_published(client):
    client.force_login(officer())
    call = make_call()
    page = client.get(reverse("mobility_calls:edit", args=[call.pk])).content.decode()
    assert 'value="Exchange 2027"' in page

    response = client.post(reverse("mobility_calls:transition", args=[call.pk, "open"]))

    assert response.status_code == 302
    call.refresh_from_db()
    assert call.state == CallState.OPEN
    page = client.get(reverse("mobility_calls:edit", args=[call.pk])).content.decode()
    assert reverse("mobility_calls:transition", args=[call.pk, "close"]) in page
    assert 'name="max_months"' in page and "disabled" in page


@pytest.mark.parametrize("role", ["researcher", "anonymous"])
def test_the_pages_answer_404_to_anyone_but_an_officer(client, role):
    call = make_call()
    if role == "researcher":
        client.force_login(UserFactory.create())
    for url in (
        reverse("mobility_calls:new"),
        reverse("mobility_calls:edit", args=[call.pk]),
    ):
        assert client.get(url).status_code == 404
    response = client.post(reverse("mobility_calls:transition", args=[call.pk, "open"]))
    assert response.status_code == 404


def test_a_research_call_has_no_mobility_page(client):
    client.force_login(officer())
    call = CallFactory.create()
    assert client.get(reverse("mobility_calls:edit", args=[call.pk])).status_code == 404


def test_the_public_page_of_a_mobility_call_states_its_terms_not_stages(client):
    """A mobility call funds visits (§25): its public page gives the stipend, the travel
    sum, the visit length and the countries, and says it takes visit applications."""
    call = MobilityCallFactory.create(terms__min_months=2, terms__max_months=9)
    client.force_login(UserFactory.create())

    page = client.get(
        reverse("calls_public_detail", args=[call.pk]), HTTP_ACCEPT_LANGUAGE="ko"
    ).content.decode()

    assert '<dd data-terms="stipend_month_jpy">¥300,000</dd>' in page
    assert '<dd data-terms="travel_krw">₩2,000,000</dd>' in page
    assert '<dd data-terms="min_months">2</dd>' in page
    assert '<dd data-terms="max_months">9</dd>' in page
    assert '<dd data-terms="eligible_countries">JP, KR, US</dd>' in page
    assert "월 체재비, 일본 측(엔)" in page
    assert "단계 평가" not in page and "제안서 접수 중" not in page
    english = client.get(
        reverse("calls_public_detail", args=[call.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "Accepting visit applications" in english and "stage gate" not in english
