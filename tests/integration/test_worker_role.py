"""The real Celery workers of these tests connect as the application role, like production."""

from urllib.parse import urlparse

import pytest

from fundapp.dbroles import APP_ROLE
from tests.integration.conftest import database_url


@pytest.mark.django_db
def test_workers_are_given_the_application_role():
    url = urlparse(database_url())

    assert url.username == APP_ROLE
