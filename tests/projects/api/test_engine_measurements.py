"""Measurements over the API: idempotent reporting, cursor pagination, rejection (§7, §14)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from fundapp.api.models import IdempotencyRecord
from projects.models import Measurement, ProjectState
from tests.factories import jp_org, member_of, officer
from tests.factories.projects_api import (
    assert_problem,
    key_client,
    make_project,
    measure,
    ok,
    user_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

URL = "/api/v1/measurements/"
WRITE = ["kpi:write", "projects:read"]


def body(kpi, value="18.5", **extra):
    at = (timezone.now() - timedelta(days=3)).isoformat()
    return {"kpi": kpi.pk, "value": value, "measured_at": at, "note": "Bench run 14", **extra}


def post(client: APIClient, data: dict, key: str | None = "m-1"):
    headers: dict[str, Any] = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(URL, data, format="json", **headers)


# --------------------------------------------------------------------------- reporting


def test_a_partner_system_reports_a_measurement():
    built = make_project()
    kpi = built.kpis()[0]

    response = post(key_client(built.c.jp, WRITE), body(kpi))

    data = ok(response, 201)
    measurement = Measurement.objects.get()
    assert data["id"] == measurement.pk
    assert data["kpi"] == kpi.pk
    assert data["kpi_code"] == "K1A"
    assert data["project"] == built.project.pk
    assert data["value"] == "18.500000"
    assert data["source"] == "api"
    assert data["rejected"] is False
    assert response["Location"].endswith(f"{URL}{measurement.pk}/")
    assert measurement.created_by_api_key is not None
    assert measurement.note == "Bench run 14"


def test_a_researcher_reports_through_the_session():
    built = make_project()
    response = post(user_client(built.c.pi_kr), body(built.kpis()[1], value=7))
    assert ok(response, 201)["value"] == "7.000000"
    assert Measurement.objects.get().created_by == built.c.pi_kr


def test_the_same_key_and_body_replays_and_records_once():
    built = make_project()
    client = key_client(built.c.jp, WRITE)
    data = body(built.kpis()[0])

    first = post(client, data)
    again = post(client, data)

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Measurement.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_the_same_key_with_another_body_is_422():
    built = make_project()
    client = key_client(built.c.jp, WRITE)
    post(client, body(built.kpis()[0], value="18.5"))

    problem = assert_problem(post(client, body(built.kpis()[0], value="19")), 422)

    assert "Idempotency-Key" in problem["errors"]
    assert Measurement.objects.count() == 1


def test_a_missing_key_is_400_and_a_missing_scope_403():
    built = make_project()
    kpi = built.kpis()[0]

    problem = assert_problem(post(key_client(built.c.jp, WRITE), body(kpi), key=None), 400)
    assert list(problem["errors"]) == ["Idempotency-Key"]
    assert_problem(post(key_client(built.c.jp, ["projects:read"]), body(kpi)), 403)
    assert_problem(post(key_client(built.c.jp, ["projects:read"]), body(kpi), key=None), 403)
    assert not Measurement.objects.exists()


def test_a_kpi_the_caller_cannot_see_is_unknown_and_the_key_stays_usable():
    built, other = make_project(), make_project()
    client = key_client(built.c.jp, WRITE)

    problem = assert_problem(post(client, body(other.kpis()[0])), 422)
    assert "kpi" in problem["errors"]
    assert_problem(post(client, {**body(built.kpis()[0]), "kpi": 999999}), 422)
    stranger = key_client(jp_org(), WRITE)
    assert_problem(post(stranger, body(built.kpis()[0]), key="s-1"), 422)
    assert not Measurement.objects.exists()
    assert not IdempotencyRecord.objects.exists()

    # nothing was stored under the key: the client may retry with it
    assert post(client, body(built.kpis()[0])).status_code == 201


def test_values_are_checked_by_the_service_with_field_errors():
    built = make_project()
    client = key_client(built.c.jp, WRITE)
    kpi = built.kpis()[0]

    bad = assert_problem(post(client, body(kpi, value="abc"), key="v-1"), 422)
    assert "value" in bad["errors"]
    naive = {**body(kpi), "measured_at": "2026-01-01T10:00:00"}
    assert "measured_at" in assert_problem(post(client, naive, key="v-2"), 422)["errors"]
    future = {**body(kpi), "measured_at": (timezone.now() + timedelta(days=2)).isoformat()}
    assert "measured_at" in assert_problem(post(client, future, key="v-3"), 422)["errors"]
    assert (
        "kpi" in assert_problem(post(client, {**body(kpi), "kpi": "x"}, key="v-4"), 400)["errors"]
    )
    assert_problem(client.post(URL, [1, 2], format="json", HTTP_IDEMPOTENCY_KEY="v-5"), 400)
    assert not Measurement.objects.exists()


def test_a_suspended_project_refuses_measurements_with_409():
    built = make_project()
    built.project.state = ProjectState.SUSPENDED
    built.project.save(update_fields=["state"])
    assert_problem(post(key_client(built.c.jp, WRITE), body(built.kpis()[0])), 409)


def test_a_researcher_of_another_organisation_cannot_report():
    built = make_project()
    stranger = user_client(member_of(jp_org()))
    assert_problem(post(stranger, body(built.kpis()[0])), 422)


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_record_one_measurement():
    built = make_project()
    first = key_client(built.c.jp, WRITE)
    data = body(built.kpis()[0])
    start = threading.Barrier(4)
    responses: list = [None] * 4

    def run(i: int) -> None:
        client = APIClient()
        # The stubs don't declare APIClient's private credentials; copying them is the point.
        client._credentials = dict(first._credentials)  # type: ignore[attr-defined]
        try:
            start.wait(timeout=10)
            responses[i] = post(client, data, key="race")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert [r.status_code for r in responses] == [201] * 4
    assert len({r.content for r in responses}) == 1
    assert sum("Idempotent-Replayed" in r for r in responses) == 3
    assert Measurement.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


# --------------------------------------------------------------------------- reading


def test_list_uses_a_cursor_newest_first_and_filters():
    built, other = make_project(), make_project()
    k1, k2 = built.kpis()
    made = [measure(k1 if i % 2 else k2, str(10 + i)) for i in range(5)]
    measure(other.kpis()[0], "1")
    client = key_client(built.c.kr)

    seen: list[int] = []
    url: str | None = f"{URL}?page_size=2"
    pages = 0
    while url:
        page = ok(client.get(url))
        assert "count" not in page
        assert len(page["results"]) <= 2
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
        if url:
            parsed = urlparse(url)
            url = f"{parsed.path}?{parsed.query}"
        pages += 1
    assert pages == 3
    assert seen == sorted((m.pk for m in made), reverse=True)

    only_k1 = ok(client.get(URL, {"kpi": k1.pk}))["results"]
    assert {row["kpi"] for row in only_k1} == {k1.pk}
    assert len(only_k1) == 2
    staff = user_client(officer())
    assert len(ok(staff.get(URL, {"project": other.project.pk}))["results"]) == 1
    assert len(ok(staff.get(URL))["results"]) == 6


def test_list_and_detail_hide_other_projects():
    built, other = make_project(), make_project()
    hidden = measure(other.kpis()[0], "1")
    client = user_client(built.c.pi_jp)
    assert ok(client.get(URL))["results"] == []
    assert_problem(client.get(f"{URL}{hidden.pk}/"), 404)
    assert_problem(key_client(built.c.jp).get(f"{URL}{hidden.pk}/"), 404)
    assert ok(user_client(other.c.pi_jp).get(f"{URL}{hidden.pk}/"))["id"] == hidden.pk


def test_list_queries_do_not_grow_with_the_page():
    built = make_project()
    client = key_client(built.c.jp)
    measure(built.kpis()[0], "1")
    with CaptureQueriesContext(connection) as one:
        assert len(ok(client.get(URL))["results"]) == 1
    for i in range(9):
        measure(built.kpis()[i % 2], str(i))
    with CaptureQueriesContext(connection) as ten:
        assert len(ok(client.get(URL))["results"]) == 10
    assert len(ten) <= len(one)


# --------------------------------------------------------------------------- rejection


def test_a_fund_officer_rejects_a_measurement_with_a_reason():
    built = make_project()
    m = measure(built.kpis()[0], "12")
    url = f"{URL}{m.pk}/reject/"

    assert (
        "reason"
        in assert_problem(user_client(officer()).post(url, {}, format="json"), 422)["errors"]
    )
    data = ok(user_client(officer()).post(url, {"reason": "Log mismatch"}, format="json"))

    assert data["rejected"] is True
    assert data["rejection_reason"] == "Log mismatch"
    assert data["rejected_at"] is not None
    assert_problem(user_client(officer()).post(url, {"reason": "again"}, format="json"), 409)


def test_only_officers_reject_and_others_see_404():
    built, other = make_project(), make_project()
    m = measure(built.kpis()[0], "12")
    url = f"{URL}{m.pk}/reject/"
    reason = {"reason": "no"}

    assert_problem(user_client(built.c.pi_jp).post(url, reason, format="json"), 403)
    assert_problem(
        key_client(built.c.jp, ["kpi:write", "projects:read", "gates:write"]).post(
            url, reason, format="json"
        ),
        403,
    )
    assert_problem(user_client(other.c.pi_jp).post(url, reason, format="json"), 404)
    m.refresh_from_db()
    assert m.rejected_at is None
