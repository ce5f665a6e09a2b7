"""Rate limits per API key and per signed-in person (§14): 429 with Retry-After.

The count is one atomic ``INCR`` in Redis per request (the window's key given its expiry
by the same script, in the same round trip), so a burst from many connections at once
gets no more than the limit, and the cost of a request does not grow with the rate: DRF's
stock throttle keeps a list of every request's time in the cache and reads, prunes and
rewrites it on each call (neither atomic nor cheap at thousands of requests a minute).

Every API request takes this path, so it is kept to one command on one pooled
connection: a small Lua script (``EVALSHA``, loaded again by redis-py if the server has
forgotten it), the counter's name made by the cache's key function without the
memcached-portability check (the name is ours and portable), and one Redis client per
connection pool. The single licence check's count (below) goes further: one connection
kept per thread.

An API key's counter is named by the key's public id and the start of its secret's hash
(``api_key_ident``), which the request's own ``Authorization`` header gives before the key
is looked up: the single licence check (§19) sends its count to Redis first, reads the key
and the licences from PostgreSQL meanwhile, and only then reads Redis's answer
(``ClientRateThrottle.count_api_key_later``), so that the two round trips overlap.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Final, cast

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import SimpleRateThrottle

from fundapp.accounts.models import ApiKey

# INCR, and the window's expiry when this request opened it: one atomic step. (Redis 6.2,
# the embedded server of ``make run``, has no EXPIRE NX.)
_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""


@functools.cache
def _redis_client(pool: Any) -> Any:
    """One client per connection pool: Django's cache builds a new ``redis.Redis`` on
    every call, and on a path every API request takes that costs more than the counter."""
    import redis

    return redis.Redis(connection_pool=pool)


@functools.cache
def _count_script(pool: Any) -> Any:
    """The counting script bound to the client of ``pool`` (redis-py sends its SHA and
    loads it again on NOSCRIPT, e.g. after a restart of Redis)."""
    return _redis_client(pool).register_script(_COUNT_SCRIPT)


_COUNTED: Final = "api_rate_counted"

# How much of the secret's hash names a key's counter: enough that a wrong secret never
# lands on the key's own counter (2⁻⁶⁴), too little to stand for the hash stored.
_SECRET_HASH_DIGITS: Final = 16


def api_key_ident(key_id: str, secret_hash: str) -> str:
    """The counter's caller part for an API key: its public id and the first digits of
    its secret's hash (``ApiKey.secret_hash``, or ``hash_secret`` of a presented secret).

    Known before the key is looked up, and the same on every endpoint (§14: one limit per
    key). A request with a key id and a wrong secret counts on a counter of its own, not on
    the key's: an invalid key never spends another key's budget. Such counters expire with
    their window like any other (at most ``duration + 1`` seconds), so unknown keys cannot
    fill Redis."""
    return f"key:{key_id}:{secret_hash[:_SECRET_HASH_DIGITS]}"


@dataclass(frozen=True, slots=True)
class _Counted:
    allowed: bool
    window_end: float
    now: float


class ClientRateThrottle(SimpleRateThrottle):
    """At most ``num_requests`` per ``duration`` seconds per caller, in fixed windows.

    A window is ``duration`` seconds long and starts at a multiple of it; every request
    counts, including refused ones, so hammering a closed window does not reopen it early.
    """

    scope = "client"
    # Set by SimpleRateThrottle.__init__ from the rate.
    num_requests: int
    duration: int

    def get_cache_key(self, request, view):
        user = request.user
        if isinstance(user, ApiKey):
            ident = api_key_ident(user.key_id, user.secret_hash)
        elif user and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        counted = getattr(getattr(request, "_request", request), _COUNTED, None)
        if counted is not None:
            # Already counted in this request (the licence check's direct path, which
            # hands a refusal over to the API's view): its verdict, not a second count.
            self.window_end, self.now = counted.window_end, counted.now
            return counted.allowed
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        if not isinstance(caches[DEFAULT_CACHE_ALIAS], RedisCache):  # pragma: no cover
            return super().allow_request(request, view)  # Redis in every setting
        return self.allow_key(key)

    def allow_key(self, key: str) -> bool:
        """Count one request of the caller whose cache key is ``key``; True if it is
        within the limit. One atomic round trip to Redis."""
        if self.rate is None:
            return True
        backend = cast(RedisCache, caches[DEFAULT_CACHE_ALIAS])
        now = self.timer()
        window = int(now // self.duration)
        self.window_end = (window + 1) * self.duration
        self.now = now
        counter = backend.make_key(f"{key}:{window}")
        count = _count_script(cast(Any, backend)._cache._get_connection_pool(write=True))(
            keys=[counter], args=[self.duration + 1]
        )
        return int(count) <= self.num_requests

    def count_api_key_later(self, request: Any, key_id: str, secret_hash: str) -> PendingCount:
        """Send the count of one request of the key ``key_id`` with the secret whose hash
        is ``secret_hash`` (``hash_secret`` of the secret as presented, not yet checked)
        to Redis without waiting for the answer; the caller reads it with
        :meth:`PendingCount.allowed` after its own round trip to PostgreSQL.

        The same count, on the same counter, as :meth:`allow_request` makes for that key
        once authenticated (``api_key_ident``); the verdict is remembered on ``request``
        when read, so that the API's view, if it takes the request over, uses it instead of
        counting again. A Redis error is raised as from :meth:`allow_key` (§17: 503)."""
        ident = api_key_ident(key_id, secret_hash)
        return PendingCount(
            self, request, self.cache_format % {"scope": self.scope, "ident": ident}
        )

    def wait(self):
        if not hasattr(self, "window_end"):  # pragma: no cover - the stock path
            return super().wait()
        return max(1, math.ceil(self.window_end - self.now))

    def timer(self):
        return time.time()


class _ThreadConnection(threading.local):
    """The Redis connection :class:`PendingCount` keeps for one thread, made from the
    connection pool's settings (``connection_kwargs``) but not lent by it. Taking a
    connection from redis-py's pool and giving it back (its lock, its liveness poll, its
    bookkeeping) cost ~7 µs of CPU a request, beside ~25 µs for the command's whole
    round trip on the client: a share that shows on the single licence check's path
    (§19), which counts on every request."""

    pool: Any = None
    connection: Any = None
    pid: int = 0
    # A command was sent on ``connection`` and its answer not read (the request ended
    # between the two): the answer would be read as the next command's, so the
    # connection is dropped instead.
    unread: bool = False


_THREAD_CONNECTION: Final = _ThreadConnection()


def _thread_connection(pool: Any) -> Any:
    """This thread's connection to the Redis of ``pool``: made on first use, anew after
    a fork, for another pool (the settings changed) or after an unread answer. A
    connection redis-py disconnected after an error reconnects on its next command."""
    kept = _THREAD_CONNECTION
    pid = os.getpid()
    connection = kept.connection
    if connection is None or kept.pool is not pool or kept.pid != pid or kept.unread:
        if connection is not None:
            connection.disconnect()
        connection = pool.connection_class(**pool.connection_kwargs)
        kept.pool, kept.connection, kept.pid, kept.unread = pool, connection, pid, False
    return connection


class PendingCount:
    """One request's count sent to Redis (``EVALSHA`` of the counting script on this
    thread's connection, :func:`_thread_connection`) and not yet read: the caller does its
    own round trip to PostgreSQL meanwhile, then reads the verdict with :meth:`allowed`.

    A connection that failed mid-command is disconnected by redis-py and connects again on
    its next command; one whose answer was never read is dropped. If Redis has forgotten
    the script (``NOSCRIPT``: nothing was counted) the count is made again with the script
    itself.
    """

    __slots__ = ("_connection", "_counter", "_pool", "_request", "_throttle")

    def __init__(self, throttle: ClientRateThrottle, request: Any, key: str) -> None:
        self._throttle, self._request = throttle, request
        self._connection: Any = None
        if throttle.rate is None:
            return
        backend = cast(RedisCache, caches[DEFAULT_CACHE_ALIAS])
        now = throttle.timer()
        window = int(now // throttle.duration)
        throttle.window_end = (window + 1) * throttle.duration
        throttle.now = now
        self._counter = backend.make_key(f"{key}:{window}")
        self._pool = cast(Any, backend)._cache._get_connection_pool(write=True)
        script = _count_script(self._pool)
        connection = _thread_connection(self._pool)
        _THREAD_CONNECTION.unread = True
        # redis-py connects if need be, and disconnects and raises its own errors on failure.
        connection.send_command("EVALSHA", script.sha, 1, self._counter, throttle.duration + 1)
        self._connection = connection

    def allowed(self) -> bool:
        """Read Redis's answer: True if the request is within the limit. Remembered on the
        request for the API's view."""
        throttle = self._throttle
        if self._connection is None:
            allowed = True
        else:
            connection, self._connection = self._connection, None
            try:
                count = connection.read_response()
            except _no_script_error():
                count = _count_script(self._pool)(
                    keys=[self._counter], args=[throttle.duration + 1]
                )
            finally:
                # Read or failed (redis-py disconnects a connection whose read failed):
                # either way no answer is left on the connection.
                _THREAD_CONNECTION.unread = False
            allowed = int(count) <= throttle.num_requests
        setattr(
            self._request,
            _COUNTED,
            _Counted(allowed, getattr(throttle, "window_end", 0.0), getattr(throttle, "now", 0.0)),
        )
        return allowed

    def give_back(self) -> None:
        """Undo the count (its answer read or not): for a request that turns out not to
        count, a key that does not authenticate or lacks the scope, which the API's view
        then refuses before any rate limit, as it always has."""
        if self._connection is not None:
            self.allowed()
        if self._throttle.rate is not None:
            _redis_client(self._pool).decr(self._counter)
        if hasattr(self._request, _COUNTED):
            delattr(self._request, _COUNTED)


def _no_script_error() -> type[Exception]:
    import redis

    return redis.exceptions.NoScriptError
