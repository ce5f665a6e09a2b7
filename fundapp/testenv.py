"""Run a command (the test suite) against real PostgreSQL and Redis.

Order of preference (§18): DATABASE_URL / REDIS_URL from the environment, else the
servers on localhost if they answer, else embedded servers under var/.
"""

from __future__ import annotations

import os
import socket
import sys


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
    env.setdefault("DJANGO_SETTINGS_MODULE", "fundapp.settings")
    os.execvpe(argv[0], argv, env)  # noqa: S606 - the command is ours, from the Makefile
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
