"""The officers' exchange-flow chart (§25): routes counted and summed, filters, an
accessible inline SVG beside a table, officers only, a fixed number of queries."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mobility.selectors.flows import Flow, exchange_flows
from mobility.services.visits import visit_cancel
from tests.factories import ResearchAreaFactory, UserFactory, officer
from tests.factories.mobility import VisitApplicationFactory, awarded_visit, us_org

pytestmark = pytest.mark.django_db


def visit_to_us(**kwargs):
    application = VisitApplicationFactory.create(
        state="awarded", host_organisation=us_org(), **kwargs
    )
    return awarded_visit(application=application)


def test_flows_count_the_routes_and_sum_the_money_in_each_currency():
    awarded_visit(months=2)  # JP → KR, paid by KR: 2 × 3,000,000 + 2,000,000 KRW
    awarded_visit(months=1)  # JP → KR: 5,000,000 KRW
    visit_to_us(months=1)  # JP → US, paid by JP: 300,000 + 200,000 JPY
    visit_cancel(visit=awarded_visit(), actor=officer("KR"))  # left out
    assert exchange_flows() == [
        Flow("JP", "KR", 2, 0, 13_000_000),
        Flow("JP", "US", 1, 500_000, 0),
    ]


def test_the_filters_by_area_and_year():
    one = awarded_visit()
    other = VisitApplicationFactory.create(
        state="awarded",
        planned_start=date(2025, 5, 1),
        research_area=ResearchAreaFactory.create(code="quantum.flows"),
    )
    awarded_visit(application=other)
    area = one.application.research_area
    assert area is not None
    assert [f.visits for f in exchange_flows(area_id=area.pk)] == [1]
    assert [f.visits for f in exchange_flows(year=2025)] == [1]
    assert exchange_flows(year=1999) == []


def test_officers_see_the_chart_and_the_table_others_are_refused():
    awarded_visit()
    page = Client()
    page.force_login(officer("JP"))
    html = page.get(reverse("exchange_flows"), {"year": "x"}).content.decode()
    assert 'role="img"' in html and "<desc" in html
    assert 'data-flow="JP-KR" data-visits="1"' in html
    assert '<tr data-flow="JP-KR">' in html
    researcher = Client()
    researcher.force_login(UserFactory.create())
    assert researcher.get(reverse("exchange_flows")).status_code == 403


def test_the_page_takes_the_same_queries_for_few_and_many_visits():
    client = Client()
    client.force_login(officer("JP"))

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("exchange_flows")).status_code == 200
        return len(queries)

    awarded_visit()
    small = count()
    for _ in range(4):
        awarded_visit()
        visit_to_us()
    assert count() == small
