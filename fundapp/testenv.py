"""Run a command (the test suite) against real PostgreSQL and Redis.

Order of preference (§18): DATABASE_URL / REDIS_URL from the environment, else the
servers on localhost if they answer, else embedded servers under var/ (``JKFUND_VAR_DIR``),
which are stopped again after the command if this launcher started them.

The ``DATABASE_URL`` handed on names the server's superuser: the test setup
(``tests/database.py``) creates the owner and application roles from it, migrates the test
database as the owner and runs the tests as the application role (§12).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from fundapp import embedded


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def resolve_services() -> dict[str, str]:
    env: dict[str, str] = {}
    if not os.environ.get("DATABASE_URL") and _answers("127.0.0.1", 5432):
        env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/jkfund"
    if not os.environ.get("REDIS_URL") and _answers("127.0.0.1", 6379):
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    return env


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m fundapp.testenv COMMAND [ARGS...]", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.update(resolve_services())
    try:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = embedded.ensure_postgres(embedded.var_dir_from_env())
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = embedded.ensure_redis(embedded.var_dir_from_env())
        env.setdefault("CELERY_BROKER_URL", env["REDIS_URL"])
        env.setdefault("DJANGO_SETTINGS_MODULE", "fundapp.settings")
        if not embedded.owns_servers():
            os.execvpe(argv[0], argv, env)  # noqa: S606 - the command is ours, from the Makefile
        child = subprocess.Popen(argv, env=env)  # noqa: S603 - the command is ours
        # Ctrl-C reaches the child from the terminal already; wait for it, then clean up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
        code = child.wait()
        return 128 - code if code < 0 else code  # killed by a signal: the shell's convention
    finally:
        embedded.stop_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
