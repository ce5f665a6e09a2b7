import pytest
from django.test import Client

from tests.factories.licensing import World, make_world


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
