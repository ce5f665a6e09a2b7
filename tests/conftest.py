import pytest


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and cached pages live in Redis; each test starts clean."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs ~0.2 s a person; tests that check login still use real hashing paths."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
