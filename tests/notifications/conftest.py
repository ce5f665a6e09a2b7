import pytest
from django.core import mail

from fundapp.celery import app as celery_app
from fundapp.notifications.messages import notification_messages_registered
from tests.factories import UserFactory
from tests.notifications.said import TEST_MESSAGES


@pytest.fixture(autouse=True)
def _test_messages():
    with notification_messages_registered(*TEST_MESSAGES):
        yield


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks enqueued after commit run at once, in this process, against the test database."""
    names = ("task_always_eager", "task_eager_propagates")
    before = {name: celery_app.conf[name] for name in names}
    celery_app.conf.update(dict.fromkeys(names, True))
    yield
    celery_app.conf.update(before)


@pytest.fixture
def alice(db):
    return UserFactory.create(username="alice", display_name="Alice", preferred_language="en")


@pytest.fixture
def kenji(db):
    return UserFactory.create(username="kenji", display_name="Kenji", preferred_language="ja")
