"""``make run`` (§18): the whole platform on one machine, until Ctrl-C.

With no ``DATABASE_URL`` / ``CELERY_BROKER_URL`` it starts the embedded PostgreSQL and
Redis under ``var/`` (``JKFUND_VAR_DIR``); otherwise it uses the given servers. On the
embedded server it creates the two roles of §12 (``fundapp.dbroles``): migrations run as
the owner, everything else as the application role. With a given ``DATABASE_URL`` (the
application role's), ``DATABASE_OWNER_URL`` names the owner that migrates (default: the
same URL). Then it migrates, collects static files, loads the demo data once, and runs
the web server (gunicorn), a Celery worker and Celery beat side by side. SIGINT or
SIGTERM stops all of them and the servers it started, and exits 0; if one of them dies,
the rest are stopped and the exit code is non-zero.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from fundapp import dbroles, embedded
from fundapp.demo import DEMO_LOGINS, DEMO_PASSWORD

REPO = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 20


class _Stop(Exception):
    """SIGINT or SIGTERM arrived."""


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]


def main() -> int:
    var_dir = embedded.var_dir_from_env()
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "fundapp.settings")
    env.setdefault("DJANGO_DEBUG", "1")  # the demo logins work only with DEBUG on (§20)
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The demo's webhook receiver and seed_demo agree on these (settings read the same).
    env.setdefault("DEMO_WEBHOOK_PORT", "8099")
    env.setdefault("DEMO_WEBHOOK_SECRET_FILE", str(var_dir / "demo-webhook-secret"))
    env.setdefault("DEMO_WEBHOOK_LOG", str(var_dir / "demo-webhook-events.log"))
    host = env.get("JKFUND_HOST", "127.0.0.1")
    port = int(env.get("PORT", "8000"))
    children: list[_Child] = []
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        embedded_db, owner_url = _configure_services(env, var_dir)
        _manage({**env, "DATABASE_URL": owner_url}, "migrate", "--noinput")
        _manage(env, "audit_keygen", "--if-missing")  # the checkpoint key pair, once (§12)
        _manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        seeded = _seed_demo_once(env, var_dir, embedded_db)
        _start_children(env, host, port, children)
        return _supervise(children, env, host, port, seeded)
    except _Stop:
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"run: {' '.join(map(str, exc.cmd[1:]))} failed (exit {exc.returncode})")
        return exc.returncode or 1
    except embedded.EmbeddedServerError as exc:
        print(f"run: {exc}")
        return 1
    finally:
        # A second Ctrl-C must not cut the shutdown short; every step below has a timeout.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop_children(children)
        embedded.stop_all()
        print("run: stopped", flush=True)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _configure_services(env: dict[str, str], var_dir: Path) -> tuple[bool, str]:
    """Fill in DATABASE_URL, REDIS_URL and CELERY_BROKER_URL.

    Returns whether the database is ours (embedded) and the owner's URL, for ``migrate``
    only: the children never see it.
    """
    embedded_db = not env.get("DATABASE_URL")
    owner_url = env.pop("DATABASE_OWNER_URL", "")
    if embedded_db:
        admin_url = embedded.ensure_postgres(var_dir)
        owner_url, env["DATABASE_URL"] = dbroles.prepare(
            admin_url, embedded.DATABASE_NAME, dbroles.Roles()
        )
    broker = env.get("CELERY_BROKER_URL", "")
    if not env.get("REDIS_URL"):
        if broker.startswith(("redis://", "rediss://")):
            env["REDIS_URL"] = broker
        else:
            env["REDIS_URL"] = embedded.ensure_redis(var_dir)
    if not broker:
        # The broker in its own Redis database: clearing the cache must not drop queued tasks.
        env["CELERY_BROKER_URL"] = env["REDIS_URL"].rsplit("/", 1)[0] + "/1"
    return embedded_db, owner_url or env["DATABASE_URL"]


def _manage(env: dict[str, str], *args: str) -> None:
    print(f"run: manage.py {' '.join(args)}", flush=True)
    subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True
    )


def _seed_demo_once(env: dict[str, str], var_dir: Path, embedded_db: bool) -> bool:
    """Run ``seed_demo`` the first time this database is used; True if demo data is there."""
    if embedded_db:
        marker = var_dir / "postgres" / "seed_demo.done"  # goes away with the data
    else:
        digest = hashlib.sha256(env["DATABASE_URL"].encode()).hexdigest()[:16]
        marker = var_dir / f"seed_demo-{digest}.done"
    # seed_demo gives the demo people their password only with DEBUG on: seed again when
    # DEBUG changes, so the printed logins work.
    wanted = f"debug={_debug(env)}\n"
    if marker.exists() and marker.read_text() == wanted:
        return True
    probe = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "help", "seed_demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
    )
    if probe.returncode != 0:
        print("run: note: no seed_demo command yet, starting without demo data", flush=True)
        return False
    _manage(env, "seed_demo")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(wanted)
    return True


def _commands(env: dict[str, str], host: str, port: int) -> dict[str, list[str]]:
    """The children's command lines: web, worker and beat, and with DEBUG the demo's
    webhook receiver on loopback (``fundapp.demo.receiver``)."""
    celery = [sys.executable, "-m", "celery", "-A", "fundapp"]
    receiver = (
        {
            "webhook receiver": [sys.executable, "-m", "fundapp.demo.receiver"]
            + ["--host", "127.0.0.1", "--port", env.get("DEMO_WEBHOOK_PORT", "8099")]
        }
        if _debug(env)
        else {}
    )
    return {
        **receiver,
        "web": [sys.executable, "-m", "gunicorn", "fundapp.wsgi", "--bind", f"{host}:{port}"]
        + ["--access-logfile", "-", "--graceful-timeout", "10", "--no-control-socket"],
        # One worker for every queue here; a deployment gives the checkpoint queue (and the
        # signing key), the webhook queue and the gate engine's queue to workers of their
        # own.
        "worker": [*celery, "worker", "-l", "info"]
        + [
            "--queues",
            ",".join(
                [
                    "celery",
                    env.get("AUDIT_CHECKPOINT_QUEUE", "audit_checkpoints"),
                    env.get("WEBHOOKS_QUEUE", "webhooks"),
                    env.get("ENGINE_QUEUE", "engine"),
                ]
            ),
        ]
        + ["--concurrency", env.get("WORKER_CONCURRENCY", "2")],
        "beat": [*celery, "beat", "-l", "info"]
        + ["--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"],
    }


def _start_children(env: dict[str, str], host: str, port: int, into: list[_Child]) -> None:
    for name, command in _commands(env, host, port).items():
        # Each child leads its own process group: we stop the whole tree (gunicorn workers,
        # the worker's pool) and decide the order, instead of the terminal's Ctrl-C.
        proc = subprocess.Popen(  # noqa: S603 - fixed commands
            command, cwd=REPO, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        into.append(_Child(name, proc))


def _die_with_parent() -> None:
    # If this launcher is killed outright, its children get SIGTERM instead of lingering.
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _supervise(
    children: list[_Child], env: dict[str, str], host: str, port: int, seeded: bool
) -> int:
    announced = False
    while True:
        for child in children:
            code = child.proc.poll()
            if code is not None:
                print(f"run: {child.name} exited unexpectedly (exit {code}); stopping the rest")
                return code if code > 0 else 1
        if not announced and _answers(host, port):
            _announce(env, host, port, seeded)
            announced = True
        time.sleep(0.25)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _announce(env: dict[str, str], host: str, port: int, seeded: bool) -> None:
    shown_host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
    url = f"http://{shown_host}:{port}/"
    debug = _debug(env)
    lines = [
        "",
        "Japan–Korea Joint R&D Fund is running",
        f"  Web:        {url}",
        f"  API docs:   {url}api/docs/   (OpenAPI schema: {url}api/schema/)",
        f"  Admin:      {url}admin/",
        f"  Database:   {env['DATABASE_URL']}",
        f"  Broker:     {env['CELERY_BROKER_URL']}",
    ]
    if debug:
        lines.append(
            f"  Webhooks:   http://127.0.0.1:{env.get('DEMO_WEBHOOK_PORT', '8099')}/webhooks"
            f" (demo receiver; events logged to {env.get('DEMO_WEBHOOK_LOG', 'var/')},"
            " deliveries on /webhooks/ as office_tokyo)"
        )
    lines.append("")
    if not seeded:
        lines.append("Demo data is not loaded (no seed_demo command), so no demo logins yet.")
    elif not debug:
        lines.append("Demo logins are disabled: they work only with DJANGO_DEBUG=1.")
    else:
        lines.append(f"Demo logins (password {DEMO_PASSWORD}):")
        lines += [f"  {username:<16} {who}" for username, who in DEMO_LOGINS]
    lines += ["", "Press Ctrl-C to stop.", ""]
    print("\n".join(lines), flush=True)


def _debug(env: dict[str, str]) -> bool:
    return env.get("DJANGO_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


def _stop_children(children: list[_Child]) -> None:
    for child in children:
        # The leader only: gunicorn and the Celery worker shut their own processes down.
        if child.proc.poll() is None:
            child.proc.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"run: {child.name} did not stop in {STOP_TIMEOUT}s; killing it")
    for child in children:
        # Also reaps what a leader left behind in its group (a pool process, a worker).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        child.proc.wait()


if __name__ == "__main__":
    sys.exit(main())
