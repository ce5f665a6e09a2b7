"""The test database under the two roles of §12 (used by ``tests/conftest.py``).

``DATABASE_URL`` in a test run names a server and a role that may create roles and
databases (the local ``postgres`` superuser, or the embedded server's). From it:

1. both roles are created if missing (``fundapp.dbroles``, idempotent, safe under xdist);
2. the test database is created as the superuser, owned by ``jkfund_owner``, and the app
   role gets its row privileges by default privileges of the owner;
3. Django's migrations run as the owner (pytest-django's own setup, told to keep the
   database we created);
4. every test then connects as ``jkfund_app``, like web, worker and beat do.

The flush after a transactional test (a TRUNCATE of every table) is the one thing the app
role may not do: it runs over an owner connection instead, with the user triggers of the
tables that refuse TRUNCATE switched off for that transaction only (other sessions never see
them off: ALTER TABLE holds an exclusive lock until the commit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from fundapp import dbroles

# Tables with a non-internal trigger that fires on TRUNCATE (TRIGGER_TYPE_TRUNCATE = 1 << 5).
TRUNCATE_GUARDED_TABLES = """
    SELECT DISTINCT c.oid::regclass::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE NOT t.tgisinternal AND t.tgtype & 32 <> 0
"""
LOCK_TIMEOUT = "30s"


def url_of(params: Mapping[str, Any], dbname: str | None = None) -> str:
    """A settings_dict as a ``postgres://`` URL."""
    user = quote(params.get("USER") or "", safe="")
    password = quote(params.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{quote(dbname or params['NAME'], safe='')}"


def roles_for(admin: Mapping[str, Any]) -> dbroles.Roles:
    # A server that asks for passwords gets the admin's for both roles (a test server only).
    password = admin.get("PASSWORD") or None
    return dbroles.Roles(owner_password=password, app_password=password)


def require_admin(admin_url: str) -> None:
    with psycopg.connect(dbroles.conninfo(admin_url, "postgres")) as conn:
        row = conn.execute(
            "SELECT rolsuper OR (rolcreaterole AND rolcreatedb) FROM pg_roles "
            "WHERE rolname = current_user"
        ).fetchone()
    if not row or not row[0]:
        raise RuntimeError(
            "the tests create the roles jkfund_owner and jkfund_app and their database: "
            "DATABASE_URL must name a superuser (or a role with CREATEROLE and CREATEDB)"
        )


def create_test_database(admin_url: str, name: str, roles: dbroles.Roles, *, keep: bool) -> str:
    """Fresh (or, with ``keep``, reused) test database owned by the owner; its owner URL."""
    require_admin(admin_url)
    dbroles.ensure_roles(admin_url, roles)
    if not keep:
        drop_test_database(admin_url, name)
    return dbroles.prepare(admin_url, name, roles)[0]


def drop_test_database(admin_url: str, name: str) -> None:
    with psycopg.connect(dbroles.conninfo(admin_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def owner_connection(owner_url: str) -> Iterator[psycopg.Connection]:
    """A separate connection as the table owner; commits on a clean exit."""
    with psycopg.connect(dbroles.conninfo(owner_url)) as conn:
        # Waiting on a lock held by the test's own open transaction would hang forever.
        conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        yield conn


def flush_as_owner(owner_url: str, sql_list: list[str]) -> None:
    """Run Django's flush statements as the owner, past the TRUNCATE-refusing triggers."""
    with owner_connection(owner_url) as conn, conn.cursor() as cursor:
        guarded = [row[0] for row in cursor.execute(TRUNCATE_GUARDED_TABLES).fetchall()]
        for table in guarded:
            cursor.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.SQL(table)))
        for statement in sql_list:
            cursor.execute(statement)
        for table in guarded:
            cursor.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(sql.SQL(table)))
