"""``python -m fundapp.testenv``: the test command gets real servers (§18)."""

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOW_ENV = "import os, sys; print(os.environ['DATABASE_URL'], os.environ['REDIS_URL'], os.environ['CELERY_BROKER_URL']); sys.exit(7)"


def test_given_urls_are_passed_on_with_the_exit_code():
    env = {**os.environ, "DATABASE_URL": "postgres://db.example/x", "REDIS_URL": "redis://r/3"}
    env.pop("CELERY_BROKER_URL", None)

    result = subprocess.run(
        [sys.executable, "-m", "fundapp.testenv", sys.executable, "-c", SHOW_ENV],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 7
    assert result.stdout.split() == ["postgres://db.example/x", "redis://r/3", "redis://r/3"]


@pytest.mark.slow
def test_embedded_servers_are_the_last_resort_and_are_stopped_afterwards(server_var_dir):
    # As on a machine where nothing answers on localhost.
    launcher = (
        "import sys; from fundapp import testenv; testenv.resolve_services = dict; "
        "sys.exit(testenv.main(sys.argv[1:]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_URL")}
    env.update(JKFUND_VAR_DIR=str(server_var_dir), JKFUND_PG_PORT="0", JKFUND_REDIS_PORT="0")

    result = subprocess.run(
        [sys.executable, "-c", launcher, sys.executable, "-c", SHOW_ENV],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 7, result.stdout + result.stderr
    shown = next(line for line in result.stdout.splitlines() if line.startswith("postgres://"))
    database_url, redis_url, broker_url = shown.split()
    assert urlparse(database_url).path == "/jkfund"
    assert broker_url == redis_url
    for url in (database_url, redis_url):
        port = urlparse(url).port
        assert port is not None
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port)):
            pass
