"""The two database roles (§12): an owner that migrates, an application role that does not.

``jkfund_owner`` owns the database and every table, function and trigger in it; only
``migrate`` connects as it. ``jkfund_app`` is what web, worker and beat connect as: it may
read and write rows (SELECT, INSERT, UPDATE, DELETE; USAGE and SELECT on sequences) but owns
nothing, so it cannot ALTER a table, disable a trigger or TRUNCATE. Its privileges come from
``ALTER DEFAULT PRIVILEGES FOR ROLE jkfund_owner``, so tables created by later migrations
are covered without another grant.

``make run`` (embedded PostgreSQL), the test setup and ``docker-compose.yml``
(``deploy/postgres-init/10-roles.sh``, the same statements in shell) create the roles.
Every function here is idempotent and safe to run from several processes at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

OWNER_ROLE = "jkfund_owner"
APP_ROLE = "jkfund_app"
# Serialises role and database creation across processes (pytest-xdist workers, launchers).
_SETUP_LOCK = 7_236_012_001


@dataclass(frozen=True)
class Roles:
    owner: str = OWNER_ROLE
    app: str = APP_ROLE
    owner_password: str | None = None
    app_password: str | None = None


def url_as(url: str, user: str, password: str | None = None, dbname: str | None = None) -> str:
    """``url`` with its user (and password, and database if given) replaced."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    auth = quote(user, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    path = "/" + quote(dbname, safe="") if dbname is not None else parts.path
    return urlunsplit((parts.scheme, f"{auth}@{host}", path, parts.query, parts.fragment))


def conninfo(url: str, dbname: str | None = None) -> str:
    """A libpq connection string for ``url`` (optionally another database on that server)."""
    parts = urlsplit(url)
    params = {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "user": unquote(parts.username or ""),
        "dbname": dbname or unquote(parts.path.lstrip("/")) or "postgres",
        "connect_timeout": "10",
    }
    if parts.password:
        params["password"] = unquote(parts.password)
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v})


def ensure_roles(admin_url: str, roles: Roles) -> None:
    """Create both roles if missing (needs a superuser or CREATEROLE connection).

    Existing roles keep their attributes, except that a password given here is (re)set and
    the application role is (re)made a plain login role.
    """
    admin = psycopg.connect(conninfo(admin_url, "postgres"), autocommit=True)
    with admin as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SETUP_LOCK])
        for name, password in (
            (roles.owner, roles.owner_password),
            (roles.app, roles.app_password),
        ):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
            verb = "ALTER" if exists.fetchone() else "CREATE"
            statement = sql.SQL(
                "{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"
            ).format(sql.SQL(verb), sql.Identifier(name))
            if password:
                statement += sql.SQL(" PASSWORD {}").format(sql.Literal(password))
            conn.execute(statement)


def ensure_database(admin_url: str, dbname: str, roles: Roles) -> None:
    """Create ``dbname`` owned by the owner role, or hand an existing one over to it.

    A database created before the roles existed (an older ``var/``) has tables owned by
    whoever migrated it; they are given to the owner so its next ``migrate`` can alter them.
    """
    with psycopg.connect(conninfo(admin_url, "postgres"), autocommit=True) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SETUP_LOCK])
            row = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [dbname]
            ).fetchone()
        if row is None:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(dbname), sql.Identifier(roles.owner)
                )
            )
            return
        if row[0] != roles.owner:
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(dbname), sql.Identifier(roles.owner)
                )
            )
    with psycopg.connect(conninfo(admin_url, dbname), autocommit=True) as conn:
        _adopt_objects(conn, roles.owner)


def _adopt_objects(conn: psycopg.Connection, owner: str) -> None:
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    with conn.transaction():
        relations = conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = ANY(%s) "
            "AND pg_get_userbyid(c.relowner) <> %s AND NOT EXISTS ("
            # Extension members stay; identity and serial sequences follow their table.
            "SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))",
            [list(kinds), owner],
        ).fetchall()
        for name, kind in relations:
            conn.execute(
                sql.SQL("ALTER {} {} OWNER TO {}").format(
                    sql.SQL(kinds[kind]), sql.Identifier("public", name), sql.Identifier(owner)
                )
            )
        functions = conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> %s AND NOT EXISTS ("
            "SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')",
            [owner],
        ).fetchall()
        for (signature,) in functions:
            conn.execute(
                sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(
                    sql.SQL(signature), sql.Identifier(owner)
                )
            )


def grant_app_privileges(owner_url: str, roles: Roles) -> None:
    """As the owner: row privileges for the app role on every table, now and later.

    No TRUNCATE, REFERENCES or TRIGGER: the app role reads and writes rows, nothing more.
    """
    table_privileges = sql.SQL("SELECT, INSERT, UPDATE, DELETE")
    app = sql.Identifier(roles.app)
    owner = sql.Identifier(roles.owner)
    with psycopg.connect(conninfo(owner_url), autocommit=True) as conn, conn.transaction():
        for statement in (
            sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(app),
            sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA public TO {}").format(table_privileges, app),
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(app),
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT {} ON TABLES TO {}"
            ).format(owner, table_privileges, app),
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public "
                "GRANT USAGE, SELECT ON SEQUENCES TO {}"
            ).format(owner, app),
        ):
            conn.execute(statement)


def prepare(admin_url: str, dbname: str, roles: Roles) -> tuple[str, str]:
    """Roles, database and grants in one go; returns (owner URL, app URL) for ``dbname``."""
    ensure_roles(admin_url, roles)
    ensure_database(admin_url, dbname, roles)
    owner_url = url_as(admin_url, roles.owner, roles.owner_password, dbname)
    grant_app_privileges(owner_url, roles)
    return owner_url, url_as(admin_url, roles.app, roles.app_password, dbname)
