import pytest


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and cached pages live in Redis; each test starts clean."""
    from django.core.cache import cache

    cache.clear()
    yield
