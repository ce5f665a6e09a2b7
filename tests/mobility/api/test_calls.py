"""A mobility call's terms on /api/v1/calls/ (§25, §14): asked through the kernel
registry, one query for a page of any size; a research call answers null."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.models import Call
from tests.factories import CallFactory, OrganisationFactory, UserFactory
from tests.factories.mobility import MobilityCallFactory
from tests.factories.projects_api import key_client, ok, user_client

pytestmark = pytest.mark.django_db

TERMS = {
    "stipend_month": {"JPY": 300_000, "KRW": 3_000_000},
    "travel": {"JPY": 200_000, "KRW": 2_000_000},
    "min_months": 1,
    "max_months": 12,
    "eligible_countries": ["JP", "KR", "US"],
}


def test_a_mobility_call_shows_its_terms_and_a_research_call_null():
    mobility = MobilityCallFactory.create(
        terms__max_months=6, terms__eligible_countries=["KR", "JP"]
    )
    research = CallFactory.create()
    client = user_client(UserFactory.create())
    rows = {row["id"]: row for row in ok(client.get("/api/v1/calls/"))["results"]}
    expected = {**TERMS, "max_months": 6, "eligible_countries": ["JP", "KR"]}
    assert rows[mobility.pk]["mobility_terms"] == expected
    assert rows[research.pk]["mobility_terms"] is None
    key = key_client(OrganisationFactory.create(), ("proposals:read",))
    detail = ok(key.get(f"/api/v1/calls/{mobility.pk}/"))
    assert detail["mobility_terms"] == expected
    assert ok(client.get(f"/api/v1/calls/{research.pk}/"))["mobility_terms"] is None


def test_the_terms_cost_one_query_for_a_page_of_any_size():
    client = user_client(UserFactory.create())
    counts = []
    for n in (1, 5):
        while Call.objects.count() < n:
            MobilityCallFactory.create()
        with CaptureQueriesContext(connection) as queries:
            rows = ok(client.get("/api/v1/calls/"))["results"]
        counts.append(len(queries))
        assert len(rows) == n
        assert all(row["mobility_terms"] is not None for row in rows)
    assert counts[0] == counts[1]
