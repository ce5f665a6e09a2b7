import pytest
from django.urls import NoReverseMatch, clear_url_caches, reverse

from fundapp.celery import app as celery_app


def _wired() -> bool:
    try:
        reverse("projects:list")
        reverse("finance:accounts")
        reverse("portfolio:dashboard")
        reverse("measurements:list", args=[1])
    except NoReverseMatch:
        return False
    return True


@pytest.fixture(autouse=True)
def _pages_settings(settings, tmp_path):
    """Evidence goes to a throw-away directory; sign-in lockouts off (the role matrix logs
    in many times); the pages' routes are present."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.AXES_ENABLED = False
    if not _wired():
        settings.ROOT_URLCONF = "tests.projects.pages.urls"
        clear_url_caches()
    yield
    clear_url_caches()


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks enqueued after commit run inline, so a test sees the release it caused."""
    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before
