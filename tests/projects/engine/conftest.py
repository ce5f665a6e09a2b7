import pytest

from fundapp.celery import app as celery_app


@pytest.fixture(autouse=True)
def eager_celery():
    """Tasks enqueued after commit run inline, so a test sees the release it caused."""
    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before
