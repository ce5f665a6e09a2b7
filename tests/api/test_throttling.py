"""Rate limits (§14): an atomic counter in Redis, exact under a burst, with Retry-After."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.test import RequestFactory

from fundapp.api.throttling import ClientRateThrottle


def _request(address: str) -> HttpRequest:
    request = RequestFactory().get("/api/v1/", REMOTE_ADDR=address)
    request.user = AnonymousUser()
    return request


@pytest.fixture
def ten_a_minute(monkeypatch, one_rate_window):
    # DRF reads the rates into the class at import; patch the class, not the settings.
    monkeypatch.setattr(ClientRateThrottle, "THROTTLE_RATES", {"client": "10/min"})


def test_a_burst_from_many_threads_gets_no_more_than_the_limit(ten_a_minute):
    allowed: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def call() -> None:
        start.wait()
        for _ in range(5):
            result = ClientRateThrottle().allow_request(_request("192.0.2.1"), None)
            with lock:
                allowed.append(result)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(allowed) == 80
    assert allowed.count(True) == 10


def test_a_refused_caller_is_told_when_to_come_back_and_others_are_not_refused(ten_a_minute):
    throttle = ClientRateThrottle()
    results = [throttle.allow_request(_request("192.0.2.2"), None) for _ in range(11)]

    assert results == [True] * 10 + [False]
    assert 1 <= throttle.wait() <= 60
    assert ClientRateThrottle().allow_request(_request("192.0.2.3"), None)


def test_a_window_counter_expires_with_its_window(ten_a_minute):
    from django.core.cache import cache

    throttle = ClientRateThrottle()
    assert throttle.allow_request(_request("192.0.2.4"), None)
    assert throttle.allow_request(_request("192.0.2.4"), None)

    window = int(throttle.now // throttle.duration)
    counter = cache.make_key(f"throttle_client_ip:192.0.2.4:{window}")
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    assert int(client.get(counter)) == 2
    assert 0 < client.ttl(counter) <= throttle.duration + 1
