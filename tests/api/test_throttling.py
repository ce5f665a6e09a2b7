"""Rate limits (§14): an atomic counter in Redis, exact under a burst, with Retry-After."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.test import RequestFactory

from fundapp.api.throttling import ClientRateThrottle, PendingCount


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


# --------------------------------------------------------------------------- a count sent ahead


def _pending(key_id: str) -> tuple[PendingCount, str]:
    """A key's count sent (``count_api_key_later``), and its counter's name in Redis."""
    from fundapp.api.throttling import api_key_ident

    throttle = ClientRateThrottle()
    secret_hash = "0" * 64
    pending = throttle.count_api_key_later(HttpRequest(), key_id, secret_hash)
    window = int(throttle.now // throttle.duration)
    ident = api_key_ident(key_id, secret_hash)
    return pending, throttle.cache_format % {"scope": "client", "ident": ident} + f":{window}"


def test_a_count_whose_answer_was_never_read_does_not_answer_the_next_one(ten_a_minute):
    """A request that ends between sending its count and reading it leaves Redis's answer
    on the thread's connection: the next count does not take it for its own."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    spent, busy_counter = _pending("busykey")
    assert spent.allowed()
    client.incrby(cache.make_key(busy_counter), 99)
    _abandoned, _same_counter = _pending("busykey")  # answered 101, never read

    fresh, _counter = _pending("quietkey")

    assert fresh.allowed()  # its own count, 1, not the other's 101
    assert int(client.get(cache.make_key(busy_counter))) == 101


def test_counts_from_many_threads_at_once_are_exact(ten_a_minute):
    """Each thread counts on a connection of its own: answers never cross threads."""
    from django.core.cache import cache

    answers: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def call() -> None:
        start.wait()
        for _ in range(5):
            pending, _counter = _pending("sharedkey")
            allowed = pending.allowed()
            with lock:
                answers.append(allowed)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    last, counter = _pending("sharedkey")
    assert not last.allowed()
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    assert answers.count(True) == 10 and len(answers) == 40
    assert int(client.get(cache.make_key(counter))) == 41
