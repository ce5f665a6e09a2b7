"""The lists of the IP registry are semi-joins PostgreSQL answers from indexes (§19).

Each list request of a restricted caller is run through the HTTP stack, and every query
it issued is planned again with sequential scans priced out (``enable_seqscan = off``): a
plan that still reads a whole big table has no index path at all, which at 100,000
licences is the difference between a page and a scan of the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from fundapp.accounts.models import User
from tests.factories import member_of
from tests.factories.licensing import World, key_client, make_licence, user_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

BIG_TABLES = ("ip_licensing_licence", "ip_licensing_ipasset", "ip_licensing_royaltyreport")
LISTS = ("/api/v1/licences/", "/api/v1/ip-assets/", "/api/v1/royalty-reports/")


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def sequential_scans(sql: str) -> list[str]:
    """The big tables the query reads whole even when sequential scans are priced out."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        (raw,) = cursor.fetchone()
        cursor.execute("SET LOCAL enable_seqscan = on")
    document = raw if isinstance(raw, list) else json.loads(raw)
    return [
        node["Relation Name"]
        for node in _nodes(document[0]["Plan"])
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in BIG_TABLES
    ]


def assert_no_sequential_scan(client, url: str) -> None:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200, response.content
    planned = [q["sql"] for q in context.captured_queries if q["sql"].startswith("SELECT")]
    assert any(table in sql for sql in planned for table in BIG_TABLES)
    for sql in planned:
        assert sequential_scans(sql) == [], sql


@pytest.fixture
def licences(world: World):
    make_licence(world)
    make_licence(world, licensee=world.other, purposes=["sale"])


def _researcher(world: World) -> User:
    researcher = member_of(world.licensee)
    # A licence shared with the person by a per-object grant is a third branch of the filter.
    shared = make_licence(world, licensee=world.other, territories=["WW"])
    assign_perm("ip_licensing.view_licence", researcher, shared)
    return researcher


@pytest.mark.parametrize("url", LISTS)
def test_a_researchers_lists_use_indexes(world, licences, url):
    assert_no_sequential_scan(user_client(_researcher(world)), url)


@pytest.mark.parametrize("url", LISTS)
def test_a_research_offices_lists_use_indexes(world, licences, url):
    assert_no_sequential_scan(user_client(world.office_licensee), url)


@pytest.mark.parametrize("url", LISTS)
def test_a_licensee_keys_lists_use_indexes(world, licences, url):
    assert_no_sequential_scan(key_client(world.licensee, ["licences:read"]), url)
