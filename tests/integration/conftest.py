"""Real Celery workers against the test database and the test Redis (§16, §18).

Each worker is a separate ``celery -A fundapp worker --pool=prefork -c 1`` process group,
consuming a queue of the test's own; every worker is stopped (or killed) and the queue
deleted when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from fundapp.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT = 10


def database_url() -> str:
    """The test database (pytest-django's), as a URL the worker's settings parse."""
    params = connection.settings_dict
    user = quote(params.get("USER") or "")
    password = quote(params.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{params['NAME']}"


class Worker:
    def __init__(self, queue: str, name: str, log: Path):
        self.queue = queue
        self.log = log
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DATABASE_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_RESULT_BACKEND": settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "DJANGO_SETTINGS_MODULE": "tests.integration.worker_settings",
            "JKFUND_TEST_QUEUE": queue,
            "PYTHONPATH": str(ROOT),
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "fundapp",
            "worker",
            "--pool=prefork",
            "-c",
            "1",
            "-Q",
            queue,
            "-n",
            f"{name}@localhost",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
        ]
        self._log_file = log.open("ab")
        # A session of its own: the worker and its pool child are killed together.
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole process group: no warm shutdown, no acknowledgement."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        self._log_file.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT)
        self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def celery_queue() -> Iterator[str]:
    queue = f"jkfund-test-{uuid.uuid4().hex[:12]}"
    yield queue
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(queue, f"_kombu.binding.{queue}")
    client.close()


@pytest.fixture
def start_worker(transactional_db, celery_queue, tmp_path) -> Iterator[Callable[[], Worker]]:
    """Start real workers on the test's queue; all are gone before the database is flushed."""
    started: list[Worker] = []
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False

    def start() -> Worker:
        worker = Worker(celery_queue, f"{celery_queue}-{len(started)}", tmp_path / "worker.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    celery_app.conf.task_always_eager = before


# How long a worker may take to start on a loaded machine before its own timeout begins.
START_TIMEOUT = 180


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str, worker=None):
    """Poll ``predicate`` until it is truthy; fail with the worker's log after ``timeout``.
    With a ``worker``, the timeout runs from the moment the worker says it is ready (its
    start, at most ``START_TIMEOUT`` seconds, is not the work being waited for)."""
    started = time.monotonic()
    deadline = started + timeout
    ready = worker is None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if not ready:
            ready = " ready." in worker.output()
            if ready:
                deadline = max(deadline, time.monotonic() + timeout)
            elif time.monotonic() - started < START_TIMEOUT:
                deadline = max(deadline, time.monotonic() + 1)
        time.sleep(0.1)
    log = worker.output()[-4000:] if worker is not None else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n--- worker log ---\n{log}")
