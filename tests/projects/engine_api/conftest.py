import pytest


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    # The proposal builders attach a PDF; keep it out of the real private media.
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
