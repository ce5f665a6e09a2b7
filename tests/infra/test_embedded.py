"""The embedded PostgreSQL and Redis (§18): real servers under var/, reused, stopped cleanly."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
import redis

from fundapp import embedded

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def var_dir(server_var_dir, monkeypatch):
    monkeypatch.setenv("JKFUND_PG_PORT", "0")  # any free port: never collide with a real run
    monkeypatch.setenv("JKFUND_REDIS_PORT", "0")
    yield server_var_dir
    embedded.stop_all()


def port_of(url: str) -> int:
    port = urlparse(url).port
    assert port is not None
    return port


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def pg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def test_servers_start_keep_their_data_and_stop(var_dir):
    db_url = embedded.ensure_postgres(var_dir)
    redis_url = embedded.ensure_redis(var_dir)
    with psycopg.connect(pg_url(db_url), autocommit=True) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("jkfund",)
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('東京・대전')")
    redis.Redis.from_url(redis_url).set("kept", "yes")
    assert embedded.owns_servers()

    embedded.stop_all()

    assert not answers(port_of(db_url))
    assert not answers(port_of(redis_url))
    assert not (var_dir / "postgres" / "data" / "postmaster.pid").exists()

    db_url = embedded.ensure_postgres(var_dir)
    redis_url = embedded.ensure_redis(var_dir)
    with psycopg.connect(pg_url(db_url)) as conn:
        assert conn.execute("SELECT value FROM kept").fetchall() == [("東京・대전",)]
    assert redis.Redis.from_url(redis_url).get("kept") == b"yes"


def test_a_stale_pid_file_after_a_crash_does_not_block_the_start(var_dir):
    embedded.ensure_postgres(var_dir)
    embedded.stop_all()
    # After a crash and a reboot the pid in the file belongs to an unrelated process.
    pid_file = var_dir / "postgres" / "data" / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{pid_file.parent}\n0\n55432\n\n127.0.0.1\n0 0\nready\n")

    url = embedded.ensure_postgres(var_dir)

    with psycopg.connect(pg_url(url)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


HOLDER = """
import sys
from pathlib import Path
from fundapp import embedded
var_dir = Path(sys.argv[1])
print(embedded.ensure_postgres(var_dir), embedded.ensure_redis(var_dir), flush=True)
sys.stdin.read()
embedded.stop_all()
"""


def test_servers_of_a_live_launcher_are_shared_and_of_a_dead_one_adopted(var_dir):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(var_dir)],
        cwd=REPO,
        env=os.environ,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        while not line.startswith("postgres://"):  # after the servers' own start messages
            assert line, "the launcher exited"
            line = holder.stdout.readline()
        held_db, held_redis = line.split()

        # While the launcher lives, the servers are its own: reuse them, never stop them.
        assert embedded.ensure_postgres(var_dir) == held_db
        assert embedded.ensure_redis(var_dir) == held_redis
        assert not embedded.owns_servers()
        embedded.stop_all()
        assert answers(port_of(held_db)) and answers(port_of(held_redis))

        # The launcher dies without stopping them: the next one reuses and then stops them.
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert embedded.ensure_postgres(var_dir) == held_db
        assert embedded.ensure_redis(var_dir) == held_redis
        assert embedded.owns_servers()
        embedded.stop_all()
        assert not answers(port_of(held_db))
        assert not answers(port_of(held_redis))
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_port_taken_by_another_program_is_avoided(var_dir, monkeypatch):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        monkeypatch.setenv("JKFUND_REDIS_PORT", str(taken))

        url = embedded.ensure_redis(var_dir)

        assert port_of(url) != taken
        assert redis.Redis.from_url(url).ping()
