import pytest


@pytest.fixture(autouse=True)
def _loopback_receivers(settings):
    """The tests' receivers listen on http://127.0.0.1."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
