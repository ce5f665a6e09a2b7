"""fundapp.settings: a Redis database of its own for each parallel test worker."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from fundapp.settings import redis_url_of_test_worker


def test_worker_n_takes_the_database_n_plus_one_after_the_given_one():
    assert redis_url_of_test_worker("redis://127.0.0.1:6379/10", "gw0") == (
        "redis://127.0.0.1:6379/11"
    )
    assert redis_url_of_test_worker("redis://:s3cret@redis.example:6380/3?x=1", "gw4") == (
        "redis://:s3cret@redis.example:6380/8?x=1"
    )
    assert redis_url_of_test_worker("redis://localhost", "gw1") == "redis://localhost/2"


def test_a_parallel_worker_keeps_cache_broker_and_results_in_its_database(worker_id):
    if worker_id == "master":
        pytest.skip("the suite runs in one process")
    assert settings.CACHES["default"]["LOCATION"] == settings.REDIS_URL
    assert settings.CELERY_BROKER_URL == settings.CELERY_RESULT_BACKEND == settings.REDIS_URL
    # Inherited by the Celery workers and commands a test starts.
    assert os.environ["REDIS_URL"] == os.environ["CELERY_BROKER_URL"] == settings.REDIS_URL
    assert os.environ["JKFUND_REDIS_TEST_WORKER"] == worker_id


def test_by_default_cache_and_broker_are_separate_redis_databases():
    # A fresh process with only REDIS_URL set, as a deployment that sets nothing else (§17).
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in (
            "CELERY_BROKER_URL",
            "CELERY_RESULT_BACKEND",
            "CACHE_URL",
            "PYTEST_XDIST_WORKER",
            "JKFUND_REDIS_TEST_WORKER",
        )
    }
    env["REDIS_URL"] = "redis://redis.example:6379/0"
    code = (
        "from django.conf import settings;"
        "print(settings.CACHES['default']['LOCATION'], settings.CELERY_BROKER_URL)"
    )

    shown = subprocess.run(  # noqa: S603 - our own interpreter and settings
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()

    assert shown == ["redis://redis.example:6379/0", "redis://redis.example:6379/1"]
