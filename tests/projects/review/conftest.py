import pytest
from django.urls import NoReverseMatch, clear_url_caches, reverse


def _wired() -> bool:
    try:
        reverse("reviews:queue")
        reverse("award-decision-list")
    except NoReverseMatch:
        return False
    return True


@pytest.fixture(autouse=True)
def _review_settings(settings, tmp_path):
    """Attachments go to a throw-away directory; test users hash fast; sign-in lockouts off
    (the permission matrix logs in many times); the review routes are present."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_ENABLED = False
    if not _wired():
        settings.ROOT_URLCONF = "tests.projects.review.urls"
        clear_url_caches()
    yield
    clear_url_caches()
