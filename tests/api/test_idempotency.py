"""Idempotency-Key (§14): one write per actor and key, replays, mismatches, concurrency."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from fundapp.accounts.models import Organisation
from fundapp.api.idempotency import canonical_json, request_hash
from fundapp.api.models import IdempotencyRecord
from tests.factories import jp_org, member_of
from tests.factories.projects_api import assert_problem, key_client, user_client

from .urls import Gates

URL = "/write/"
SCOPES = ["payments:write"]

pytestmark = pytest.mark.urls("tests.api.urls")


@pytest.fixture(autouse=True)
def _no_hold():
    Gates.reset(hold=False)
    yield
    Gates.release.set()


def post(client: APIClient, body: dict, key: str | None = "key-1", path: str = URL):
    headers: dict[str, Any] = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, body, format="json", **headers)


def test_canonical_json_ignores_key_order_and_whitespace():
    assert canonical_json({"b": 1, "a": {"d": "é", "c": [1, 2]}}) == (
        '{"a":{"c":[1,2],"d":"é"},"b":1}'
    )
    assert request_hash({"a": 1, "b": 2}) == request_hash({"b": 2, "a": 1})
    assert request_hash({"a": 1}) != request_hash({"a": "1"})


@pytest.mark.django_db
def test_the_same_key_and_body_replays_the_first_response():
    client = key_client(jp_org(), SCOPES)

    first = post(client, {"code": "JP-NEW-1", "name": "New"})
    again = post(client, {"name": "New", "code": "JP-NEW-1"})  # same body, other key order

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again["Location"] == first["Location"]
    assert Organisation.objects.filter(code="JP-NEW-1").count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.key, record.method, record.path, record.response_status) == (
        "key-1",
        "POST",
        URL,
        201,
    )
    assert record.request_hash == request_hash({"code": "JP-NEW-1", "name": "New"})


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_422_and_writes_nothing():
    client = key_client(jp_org(), SCOPES)
    post(client, {"code": "JP-NEW-1"})

    response = post(client, {"code": "JP-NEW-2"})

    body = assert_problem(response, 422)
    assert "Idempotency-Key" in body["errors"]
    assert not Organisation.objects.filter(code="JP-NEW-2").exists()
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db
def test_a_missing_blank_or_overlong_key_is_400():
    client = key_client(jp_org(), SCOPES)

    for key in (None, "", "   ", "k" * 201):
        body = assert_problem(post(client, {"code": "JP-NEW-1"}, key=key), 400)
        assert list(body["errors"]) == ["Idempotency-Key"]
    assert not Organisation.objects.filter(code="JP-NEW-1").exists()
    assert post(client, {"code": "JP-NEW-1"}, key="k" * 200).status_code == 201


@pytest.mark.django_db
def test_the_scope_is_checked_before_the_key():
    client = key_client(jp_org(), ["projects:read"])
    assert_problem(post(client, {"code": "JP-NEW-1"}, key=None), 403)
    assert_problem(APIClient().post(URL, {}, format="json"), 401)


@pytest.mark.django_db
def test_keys_are_scoped_per_actor():
    org = jp_org()
    one, other = key_client(org, SCOPES), key_client(org, SCOPES)
    person = user_client(member_of(org))

    assert post(one, {"code": "JP-NEW-1"}).status_code == 201
    # the same key string is another actor's own key
    assert post(other, {"code": "JP-NEW-2"}).status_code == 201
    response = post(person, {"code": "JP-NEW-3"})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert IdempotencyRecord.objects.count() == 3
    assert set(IdempotencyRecord.objects.values_list("actor_kind", flat=True)) == {
        "api_key",
        "user",
    }
    # and the person's replay works through the session too
    assert post(person, {"code": "JP-NEW-3"})["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_a_refused_request_stores_nothing_and_may_be_retried_with_the_same_key():
    client = key_client(jp_org(), SCOPES)

    raised = post(client, {"code": "JP-NEW-1", "fail": "raise"})
    answered = post(client, {"code": "JP-NEW-1", "fail": "answer"})

    assert_problem(raised, 422)
    assert answered.status_code == 409
    assert not Organisation.objects.filter(code="JP-NEW-1").exists()
    assert not IdempotencyRecord.objects.exists()
    retry = post(client, {"code": "JP-NEW-1"})
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry


@pytest.mark.django_db
def test_a_key_reused_on_another_path_is_a_mismatch_but_the_query_string_is_not():
    client = key_client(jp_org(), SCOPES)
    post(client, {"code": "JP-NEW-1"})

    body = assert_problem(post(client, {"code": "JP-NEW-1"}, path="/write-again/"), 422)

    assert "Idempotency-Key" in body["errors"]
    assert post(client, {"code": "JP-NEW-1"}, path=URL + "?x=1")["Idempotent-Replayed"] == "true"
    assert Organisation.objects.filter(code="JP-NEW-1").count() == 1


# --------------------------------------------------------------------------- concurrency


def _in_thread(target, results, index):
    def run():
        try:
            results[index] = target()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_for_lock_waiter(timeout: float = 10.0) -> bool:
    """True once another backend waits on a lock (the duplicate insert)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] > 0:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_waits_and_replays_one_write():
    org = jp_org()
    first_client, second_client = key_client(org, SCOPES), None
    # the second request comes from the same key: copy its credentials
    second_client = APIClient()
    # The stubs don't declare APIClient's private credentials; copying them is the point.
    second_client._credentials = dict(first_client._credentials)  # type: ignore[attr-defined]
    Gates.reset(hold=True)
    results: list = [None, None]

    a = _in_thread(lambda: post(first_client, {"code": "JP-RACE-1"}), results, 0)
    assert Gates.entered.wait(timeout=10)
    Gates.hold = False  # the duplicate, if it ever ran the write, must not wait
    b = _in_thread(lambda: post(second_client, {"code": "JP-RACE-1"}), results, 1)
    saw_waiter = _wait_for_lock_waiter()
    Gates.release.set()
    a.join(20)
    b.join(20)

    assert saw_waiter, "the duplicate did not wait on the unique constraint"
    first, second = results
    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert "Idempotent-Replayed" not in first
    assert second["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert Organisation.objects.filter(code="JP-RACE-1").count() == 1
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_when_the_first_fails_the_waiting_duplicate_performs_the_write():
    org = jp_org()
    first_client = key_client(org, SCOPES)
    second_client = APIClient()
    # The stubs don't declare APIClient's private credentials; copying them is the point.
    second_client._credentials = dict(first_client._credentials)  # type: ignore[attr-defined]
    Gates.reset(hold=True)
    results: list = [None, None]

    a = _in_thread(lambda: post(first_client, {"code": "JP-RACE-2", "fail": "raise"}), results, 0)
    assert Gates.entered.wait(timeout=10)
    Gates.hold = False
    # another body under the same key: it waits, then finds no record and writes
    b = _in_thread(lambda: post(second_client, {"code": "JP-RACE-2"}), results, 1)
    saw_waiter = _wait_for_lock_waiter()
    Gates.release.set()
    a.join(20)
    b.join(20)

    assert saw_waiter
    assert results[0].status_code == 422
    assert results[1].status_code == 201, results[1].content
    assert "Idempotent-Replayed" not in results[1]
    assert Organisation.objects.filter(code="JP-RACE-2").count() == 1
    assert IdempotencyRecord.objects.get().request_hash == request_hash({"code": "JP-RACE-2"})


@pytest.mark.django_db
def test_old_idempotency_records_are_purged():
    from datetime import timedelta

    from django.utils import timezone

    from fundapp.api.models import IdempotencyRecord
    from fundapp.api.tasks import purge_idempotency_records

    def record(key):
        return IdempotencyRecord.objects.create(
            actor_kind="user", actor_id=1, key=key, method="POST", path="/x", request_hash="0" * 64
        )

    old = record("old")
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=31)
    )
    record("new")

    assert purge_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
