"""``make run`` on the embedded defaults: everything answers, Ctrl-C stops everything (§18)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import psycopg
import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
START_BUDGET = (
    150  # fresh cluster, all migrations, static files, demo data (slow when the machine is busy)
)
STOP_BUDGET = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our server
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def kill_leftovers(var_dir: Path) -> None:
    """After a failure only: the embedded servers run detached, outside the process group."""
    for pid_file in (
        var_dir / "postgres" / "data" / "postmaster.pid",
        var_dir / "redis" / "redis.pid",
    ):
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


def assert_roles(port: int, output) -> None:
    """Web, worker and beat connect as the application role; the owner owns the tables."""
    admin = f"host=127.0.0.1 port={port} user=postgres dbname=jkfund"
    deadline = time.monotonic() + 30
    with psycopg.connect(admin, autocommit=True) as conn:
        while True:
            users = {
                row[0]
                for row in conn.execute(
                    "SELECT usename FROM pg_stat_activity WHERE datname = 'jkfund' "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                )
            }
            if users or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        owners = {
            row[0]
            for row in conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
        }
    assert users == {"jkfund_app"}, output()
    assert owners == {"jkfund_owner"}, output()
    assert "Database:   postgres://jkfund_app@" in output()


def test_make_run_serves_and_stops_cleanly_on_ctrl_c(tmp_path, server_var_dir):
    var_dir = server_var_dir
    ports = {"web": free_port(), "postgres": free_port(), "redis": free_port()}
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "CELERY_BROKER_URL",
            "CELERY_RESULT_BACKEND",
            "CACHE_URL",
        }
    }
    env.update(
        JKFUND_VAR_DIR=str(var_dir),
        PORT=str(ports["web"]),
        JKFUND_PG_PORT=str(ports["postgres"]),
        JKFUND_REDIS_PORT=str(ports["redis"]),
        PYTHONUNBUFFERED="1",
    )
    log_path = tmp_path / "run.log"
    base = f"http://127.0.0.1:{ports['web']}"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "fundapp.runstack"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output() -> str:
        # The whole log: the banner's lines are at its start, and the worker may print the
        # demo's e-mails (console backend) last.
        return log_path.read_text(errors="replace")

    try:
        schema_status = None
        while time.monotonic() - started < START_BUDGET:
            assert run.poll() is None, f"make run exited early ({run.returncode}):\n{output()}"
            if answers(ports["web"]):
                schema_status = status_of(f"{base}/api/schema/")
                if schema_status == 200:
                    break
            time.sleep(0.5)
        assert schema_status == 200, f"/api/schema/ never answered 200:\n{output()}"
        assert status_of(f"{base}/") < 500, output()
        assert answers(ports["postgres"]) and answers(ports["redis"])
        tree = psutil.Process(run.pid).children(recursive=True)
        assert len(tree) >= 3  # web, worker, beat (and their processes)
        assert_roles(ports["postgres"], output)

        run.send_signal(signal.SIGINT)

        assert run.wait(STOP_BUDGET) == 0, output()
        _, alive = psutil.wait_procs(tree, timeout=5)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], output()
        for name, port in ports.items():
            assert not answers(port), f"{name} still listens on {port}:\n{output()}"
        # The banner is printed at start-up: read the whole log, whose tail may be the
        # worker's last tasks (the demo's e-mails, printed by the console backend).
        whole = log_path.read_text(errors="replace")
        assert "Press Ctrl-C to stop." in whole
        assert "/api/docs/" in whole
        if "no seed_demo command" not in whole:
            assert "Demo logins (password demo-Pass-2026)" in whole
            assert "pi_tokyo" in whole
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        kill_leftovers(var_dir)
