"""2. Project list, API ``GET /api/v1/projects/`` and page ``/projects/``, for a researcher
who may see 100 of the projects, against the same list for a fund officer. Requests go
through Django's test Client (the whole middleware and view stack, no socket), logged in
with a session."""

from __future__ import annotations

from django.db import connection
from django.test import Client

from bench import db, world
from bench.core import Row, counting, n, timed
from fundapp.accounts.models import Role, User

FULL_PROJECTS = 100_000
VISIBLE = 100


def setup(scale: float) -> dict:
    count = n(scale, FULL_PROJECTS, 200)
    db.fresh()
    base = world.make_base(jp_pool=10**15, kr_pool=10**15)
    projects = world.make_projects(base, count, kpis_per_stage=1)
    researcher = User(username="bench-researcher", role=Role.RESEARCHER)
    researcher.set_unusable_password()
    researcher.save()
    step = max(1, count // VISIBLE)
    world.grant_view(pis_by_project=dict.fromkeys(projects.ids[::step][:VISIBLE], researcher.pk))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"count": count, "researcher": researcher, "officer": base.officer_jp}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _get(client: Client, url: str, **extra) -> tuple[float, int, int]:
    with counting() as counter:
        seconds, response = timed(lambda: client.get(url, **extra))
    assert response.status_code == 200, (url, response.status_code)
    size = len(response.json()["results"]) if url.startswith("/api/") else 0
    return seconds, counter.count, size


def _measure(data: dict, url: str, repeat: int, **extra) -> tuple[list, list, int, list[str]]:
    researcher, officer = _client(data["researcher"]), _client(data["officer"])
    _get(researcher, url, **extra)  # warm: templates, sessions, plans
    _get(officer, url, **extra)
    project_times, baseline_times, queries = [], [], 0
    notes = []
    for _ in range(repeat):
        seconds, queries, size = _get(researcher, url, **extra)
        project_times.append(seconds)
        seconds, _q, _size = _get(officer, url, **extra)
        baseline_times.append(seconds)
    if url.startswith("/api/"):
        notes.append(f"researcher's page holds {size} rows")
        # queries must not grow with the page size
        _s, q10, _ = _get(researcher, url + "?page_size=10", **extra)
        _s, q100, _ = _get(researcher, url + "?page_size=100", **extra)
        notes.append(f"queries at page size 10/100: {q10}/{q100}")
    return project_times, baseline_times, queries, notes


def run(scale: float, repeat: int) -> Row:
    data = setup(scale)
    api = _measure(data, "/api/v1/projects/", repeat, HTTP_ACCEPT="application/json")
    page = _measure(data, "/projects/", repeat)
    size = f"{data['count']:,} projects, researcher sees {VISIBLE}"
    rows = [
        Row(
            name="Project list, API (researcher vs fund officer)",
            size=size,
            project=api[0],
            baseline=api[1],
            queries=f"{api[2]} per request",
            notes=api[3],
            scale=scale,
        ),
        Row(
            name="Project list, page `/projects/` (researcher vs fund officer)",
            size=size,
            project=page[0],
            baseline=page[1],
            queries=f"{page[2]} per request",
            scale=scale,
        ),
    ]
    return rows  # type: ignore[return-value]
