"""The project list answers in the same number of queries whatever the page size, for
every kind of actor (a page is one query with its joins, the count one more)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import officer
from tests.factories.projects_api import clone_projects, key_client, make_project, ok, user_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

LIST = "/api/v1/projects/"
MORE = 12  # projects besides the built one: more than the small page, fewer than the big


@pytest.fixture
def world():
    built = make_project()
    clone_projects(built, MORE, organisation=built.c.jp, grant_to=built.c.pi_jp)
    return built


def _api_page(client: APIClient, page_size: int) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        body = ok(client.get(LIST, {"page_size": page_size}))
    return body, len(queries)


@pytest.mark.parametrize("actor", ["researcher", "research office", "api key", "fund officer"])
def test_api_list_queries_do_not_grow_with_the_page_size(world, actor):
    clients = {
        "researcher": lambda: user_client(world.c.pi_jp),
        "research office": lambda: user_client(world.c.office_jp),
        "api key": lambda: key_client(world.c.jp),
        "fund officer": lambda: user_client(officer()),
    }
    client = clients[actor]()
    ok(client.get(LIST))  # warm: a key records its first use once

    small, small_queries = _api_page(client, 10)
    big, big_queries = _api_page(client, 100)

    assert small["count"] == big["count"] == MORE + 1
    assert len(small["results"]) == 10
    assert len(big["results"]) == MORE + 1
    assert all(row["current_stage_number"] == 1 for row in big["results"])
    # The published pagination fields stay.
    assert set(small) >= {"count", "next", "previous", "results"}
    assert small["next"] is not None
    assert big["next"] is None
    assert small_queries == big_queries
    # session/key, user, count, page (a key has no session user to load)
    assert big_queries <= 4


@pytest.mark.parametrize("actor", ["researcher", "research office", "fund officer"])
def test_browser_list_queries_do_not_grow_with_the_page_size(world, actor, monkeypatch):
    user = {
        "researcher": world.c.pi_jp,
        "research office": world.c.office_jp,
        "fund officer": officer(),
    }[actor]
    client = Client()
    client.force_login(user)
    counts = []
    for page_size, rows in ((10, 10), (100, MORE + 1)):
        monkeypatch.setattr("projects.views.projects.PAGE_SIZE", page_size)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("projects:list"))
        assert response.status_code == 200
        assert len(response.context["page"].object_list) == rows
        counts.append(len(queries))
    assert counts[0] == counts[1]
