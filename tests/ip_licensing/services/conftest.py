import pytest

from tests.factories.licences import World, make_world


@pytest.fixture
def world(db) -> World:
    return make_world()
