"""Redis stops and comes back (§17): a Redis server of the test's own, on a port of its own,
serves the cache, the rate limits and the broker of the API and a real Celery worker.

While it is down the API answers 503 problem+json with ``Retry-After`` (never a 500),
pages that need only the database keep working, and an upload still succeeds; once it is
back, the API answers again and the work queued meanwhile completes on the worker.
The shared Redis of the machine is never touched.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from fundapp.accounts.models import Role
from fundapp.celery import app as celery_app
from projects.models import ImportJob, Measurement
from projects.models.imports import ImportState
from projects.services.measurement_import import measurements_import_csv
from projects.tasks import reconcile_imports
from tests.factories import UserFactory
from tests.factories.gates import build_project
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs the redis-server binary"
)

GOOD = "kpi_code,value,measured_at,note\nK1A,12.5,2026-03-01T10:00:00+09:00,first run\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnRedis:
    """``redis-server`` on a free loopback port, without persistence; stop and start it
    again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - the machine's redis-server
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url(0), socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@contextlib.contextmanager
def broker(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's Celery app publishes to ``url`` (its connection pools rebuilt).
    Celery reads ``CELERY_BROKER_URL`` from the environment before its configuration."""
    app: Any = celery_app  # the pools are private attributes, rebuilt on next use

    def reset() -> None:
        # Dropped, not closed: kombu keeps one pool per URL for the whole process, and the
        # shared broker's pool is used again by the next test.
        app._pool = None
        app.amqp._producer_pool = None

    monkeypatch.setenv("CELERY_BROKER_URL", url)
    reset()
    try:
        yield
    finally:
        monkeypatch.undo()
        reset()


def test_redis_down_answers_503_and_the_work_queued_meanwhile_completes_when_it_returns(
    own_redis, settings, start_worker, celery_queue, monkeypatch
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": own_redis.url(0),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.CELERY_BROKER_URL = own_redis.url(1)
    built = build_project()
    officer = UserFactory.create(role=Role.FUND_OFFICER, side="JP")
    api = APIClient()
    api.force_authenticate(officer)
    with broker(own_redis.url(1), monkeypatch):
        worker = start_worker()
        wait_for(lambda: "ready." in worker.output(), timeout=60, what="the worker", worker=worker)
        assert api.get("/api/v1/projects/").status_code == 200

        own_redis.stop()
        down = api.get("/api/v1/projects/")
        assert down.status_code == 503, down.content
        assert down["Content-Type"] == "application/problem+json"
        assert int(down["Retry-After"]) > 0
        assert down.json()["code"] == "service_unavailable"
        # An upload made meanwhile (the browser's import page needs only the database)
        # commits; its message could not be sent.
        job = measurements_import_csv(
            project=built.project,
            actor=built.researcher,
            file=SimpleUploadedFile("m.csv", GOOD.encode(), content_type="text/csv"),
        )
        assert ImportJob.objects.get(pk=job.pk).state == ImportState.QUEUED

        own_redis.start()
        wait_for(
            lambda: api.get("/api/v1/projects/").status_code == 200,
            timeout=30,
            what="the API to answer again",
            worker=worker,
        )
        # The reconciler (on the beat schedule in a deployment) runs on the worker, which
        # reconnected to the broker by itself, and re-enqueues the import there.
        reconcile_imports.apply_async(kwargs={"grace_seconds": 0}, queue=celery_queue)
        wait_for(
            lambda: ImportJob.objects.get(pk=job.pk).state == ImportState.SUCCEEDED,
            timeout=60,
            what="the import queued during the outage to complete",
            worker=worker,
        )
    assert Measurement.objects.filter(project=built.project).count() == 1
