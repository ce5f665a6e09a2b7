"""Permission-filtered lists are read off indexes for a restricted actor (§19).

Each list is requested as a researcher, a research office and an API key; every query
it issues against the big tables is then EXPLAINed with sequential scans (and hash and
merge joins) disabled, as small test tables would otherwise always be scanned whole, and
a plan that still reads a big table whole fails: a ``Seq Scan``, or an index walked from
end to end with no index condition (what the planner does with an OR of EXISTS when
sequential scans are off).

The other consortium's 1,500 projects give the statistics enough rows that choosing an
index means something; none of them is visible to the actors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from projects.models import ProposalUserObjectPermission
from tests.factories import jp_org, member_of
from tests.factories.projects_api import (
    clone_projects,
    key_client,
    make_project,
    user_client,
)

pytestmark = pytest.mark.django_db

BIG_TABLES = {
    "projects_project",
    "projects_proposal",
    "projects_stage",
    "projects_gate",
    "projects_kpi",
    "projects_measurement",
    "projects_tranche",
    "projects_disbursement",
    "projects_projectorganisation",
    "projects_consortiummember",
    "projects_projectuserobjectpermission",
    "projects_proposaluserobjectpermission",
}

# list → (URL, the table it lists, whether it is a browser page)
LISTS = {
    "projects": ("/api/v1/projects/", "projects_project", False),
    "projects page": ("/projects/", "projects_project", True),
    "stages": ("/api/v1/stages/", "projects_stage", False),
    "kpis": ("/api/v1/kpis/", "projects_kpi", False),
    "gates": ("/api/v1/gates/", "projects_gate", False),
    "measurements": ("/api/v1/measurements/", "projects_measurement", False),
    "tranches": ("/api/v1/tranches/", "projects_tranche", False),
    "disbursements": ("/api/v1/disbursements/", "projects_disbursement", False),
    "proposals": ("/api/v1/proposals/", "projects_proposal", False),
    "proposals page": ("/proposals/", "projects_proposal", True),
}

VISIBLE = 20
HIDDEN = 1_500


def _name_on_proposals(user, projects) -> None:
    view = Permission.objects.get(content_type__app_label="projects", codename="view_proposal")
    ProposalUserObjectPermission.objects.bulk_create(
        [
            ProposalUserObjectPermission(
                user=user, permission=view, content_object_id=p.proposal_id
            )
            for p in projects
        ]
    )


@pytest.fixture
def world():
    built = make_project()
    researcher = built.c.pi_jp
    visible = clone_projects(built, VISIBLE, organisation=built.c.jp, grant_to=researcher)
    # Named on those proposals too: with a page of one row the planner may expect to meet
    # it early in any index it walks.
    _name_on_proposals(researcher, visible)
    # Another consortium's projects, with their own named people: the grant and
    # membership tables are as big as the lists'.
    other = jp_org()
    stranger = member_of(other)
    hidden = clone_projects(built, HIDDEN, organisation=other, grant_to=stranger)
    _name_on_proposals(stranger, hidden)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(sorted(BIG_TABLES)))
    return built


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def whole_table_reads(sql: str) -> list[str]:
    """The scans of a big table in the plan of ``sql`` that read it whole."""
    with connection.cursor() as cursor:
        # Sequential scans, hash and merge joins off: on test-sized tables they are always
        # cheapest, while on the fund's tables the few visible rows are probed by index.
        # What remains is whether an index path exists at all; with an OR of EXISTS over
        # the projects table it does not.
        for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        raw = cursor.fetchone()[0]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    bad = []
    for node in _nodes(plan):
        table = node.get("Relation Name")
        if table not in BIG_TABLES:
            continue
        kind = node["Node Type"]
        if kind == "Seq Scan" or (
            kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node
        ):
            bad.append(f"{kind} on {table} {node.get('Index Name', '')} {node.get('Filter', '')}")
    return bad


def _client(world, actor: str, browser: bool) -> Client | None:
    c = world.c
    if actor == "api key":
        if browser:
            return None
        return key_client(c.jp, scopes=["projects:read", "gates:read", "proposals:read"])
    user = c.pi_jp if actor == "researcher" else c.office_jp
    if browser:
        client = Client()
        client.force_login(user)
        return client
    return user_client(user)


def test_restricted_actors_lists_read_no_big_table_whole(world):
    """One world for every list (building 1,500 projects per list would dominate)."""
    failures = []
    for name, (url, table, browser) in LISTS.items():
        for actor in ("researcher", "research office", "api key"):
            client = _client(world, actor, browser)
            if client is None:
                continue
            assert client.get(url).status_code == 200  # warm: sessions, a key's first use
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            assert response.status_code == 200, (name, actor, response.content[:300])
            reads = [
                q["sql"]
                for q in queries.captured_queries
                if q["sql"].lstrip().upper().startswith("SELECT")
                and any(f'"{t}"' in q["sql"] for t in BIG_TABLES)
            ]
            # The list's own table is read (the test cannot pass by reading nothing).
            assert any(f'FROM "{table}"' in sql for sql in reads), (name, actor, reads)
            for sql in reads:
                bad = whole_table_reads(sql)
                if bad:
                    failures.append(f"{name} as {actor}: {bad}\n    {sql}")
    assert failures == [], "\n".join(failures)
