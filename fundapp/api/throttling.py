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
connection pool.
"""

from __future__ import annotations

import functools
import math
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
            ident = f"key:{user.pk}"
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

    def allow_api_key(self, request: Any, key: ApiKey) -> bool:
        """Count one request of ``key`` outside DRF, as :meth:`allow_request` would for it,
        and remember the verdict on ``request`` so that the API's view, if it takes the
        request over, uses it instead of counting the request again."""
        ident = f"key:{key.pk}"
        allowed = self.allow_key(self.cache_format % {"scope": self.scope, "ident": ident})
        window_end = getattr(self, "window_end", 0.0)
        setattr(request, _COUNTED, _Counted(allowed, window_end, getattr(self, "now", 0.0)))
        return allowed

    def wait(self):
        if not hasattr(self, "window_end"):  # pragma: no cover - the stock path
            return super().wait()
        return max(1, math.ceil(self.window_end - self.now))

    def timer(self):
        return time.time()
