"""The benchmark databases: an empty migrated template, the working database, snapshots.

Everything is created from templates (``CREATE DATABASE … TEMPLATE``), so a benchmark that
mutates state (gate evaluation, releases) starts each run from the same generated data
without regenerating it.
"""

from __future__ import annotations

import contextlib
import io

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connections

WORK = settings.DATABASES["default"]["NAME"]
if "bench" not in WORK:
    raise RuntimeError(
        f"refusing to create and drop database {WORK!r}: run with DJANGO_SETTINGS_MODULE="
        "bench.settings (the benchmarks' databases have 'bench' in their name)"
    )
EMPTY = f"{WORK}_empty"
SNAPSHOT = f"{WORK}_snap"


def conninfo(dbname: str) -> str:
    s = settings.DATABASES["default"]
    parts = {
        "dbname": dbname,
        "user": s.get("USER") or "postgres",
        "host": s.get("HOST") or "127.0.0.1",
        "port": str(s.get("PORT") or 5432),
    }
    if s.get("PASSWORD"):
        parts["password"] = s["PASSWORD"]
    return " ".join(f"{k}={v}" for k, v in parts.items())


def _admin(sql: str) -> None:
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql)


def _close_django() -> None:
    connections.close_all()


def drop(name: str) -> None:
    _close_django()
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy(template: str, name: str) -> None:
    drop(name)
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')


def use(name: str) -> None:
    """Point Django's default connection at ``name`` (closing the current one)."""
    _close_django()
    connections["default"].settings_dict["NAME"] = name


def prepare_empty() -> None:
    """Create and migrate the empty template once per run."""
    drop(EMPTY)
    _admin(f'CREATE DATABASE "{EMPTY}"')
    use(EMPTY)
    call_command("migrate", verbosity=0, stdout=io.StringIO())
    use(WORK)


def fresh() -> None:
    """The working database, empty and migrated."""
    copy(EMPTY, WORK)
    use(WORK)


def snapshot() -> None:
    """Remember the working database as it is now."""
    _close_django()
    copy(WORK, SNAPSHOT)
    use(WORK)


def restore() -> None:
    """The working database as it was at the last ``snapshot``."""
    copy(SNAPSHOT, WORK)
    use(WORK)


def drop_all() -> None:
    for name in (WORK, SNAPSHOT, EMPTY):
        with contextlib.suppress(psycopg.Error):
            drop(name)
