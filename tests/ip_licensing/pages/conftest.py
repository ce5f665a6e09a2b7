import pytest
from django.test import Client

from tests.factories.licensing import World, make_world


@pytest.fixture(autouse=True)
def _pages_settings(settings, tmp_path):
    """Sign-in lockouts off (the role matrix logs in many times); private media aside."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.AXES_ENABLED = False


@pytest.fixture
def world(db) -> World:
    return make_world()


@pytest.fixture
def client_for():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make
