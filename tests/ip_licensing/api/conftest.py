import pytest

from tests.factories.licensing import World, make_world


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    # The project builders attach a PDF to the proposal; keep it out of the real media.
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def world(db) -> World:
    return make_world()
