"""deploy/postgres-init/10-roles.sh (docker-compose's first start), run against a real server."""

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from psycopg import sql

from fundapp import dbroles

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "postgres-init" / "10-roles.sh"

pytestmark = pytest.mark.skipif(shutil.which("psql") is None, reason="needs the psql client")


@pytest.fixture
def scratch_database(database_admin_url):
    """An empty database owned by the superuser, as the postgres image creates POSTGRES_DB."""
    name = f"jkfund_init_{uuid.uuid4().hex[:8]}"
    admin = dbroles.conninfo(database_admin_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_the_script_hands_the_database_to_the_owner_and_grants_the_app_by_default(
    database_admin_url, scratch_database
):
    url = urlsplit(database_admin_url)
    env = {
        **os.environ,
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGPASSWORD": unquote(url.password or ""),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_DB": scratch_database,
        # The roles exist already on this server: the script must leave them alone.
        "DATABASE_OWNER_PASSWORD": "unused-owner",
        "DATABASE_APP_PASSWORD": "unused-app",
    }
    for _ in range(2):  # idempotent
        result = subprocess.run(  # noqa: S603 - our script
            ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr

    with psycopg.connect(dbroles.conninfo(database_admin_url, scratch_database)) as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert row is not None
        owner = row[0]
        defaults: dict[str, str] = dict(
            conn.execute(
                "SELECT defaclobjtype, defaclacl::text FROM pg_default_acl "
                "WHERE pg_get_userbyid(defaclrole) = %s",
                [dbroles.OWNER_ROLE],
            ).fetchall()
        )
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(dbroles.OWNER_ROLE)))
        conn.execute("CREATE TABLE later (id bigserial PRIMARY KEY)")
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(dbroles.APP_ROLE)))
        conn.execute("INSERT INTO later DEFAULT VALUES")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE later")

    assert owner == dbroles.OWNER_ROLE
    assert f"{dbroles.APP_ROLE}=arwd/{dbroles.OWNER_ROLE}" in defaults["r"]
    assert f"{dbroles.APP_ROLE}=rU/{dbroles.OWNER_ROLE}" in defaults["S"]
