#!/bin/sh
# The two database roles of §12, for the postgres image's first start (docker-compose.yml
# mounts this folder on /docker-entrypoint-initdb.d). Same roles and grants as
# fundapp/dbroles.py, which does this for `make run` and the tests.
#
#   jkfund_owner  owns the database and every table; only `migrate` connects as it
#   jkfund_app    web, worker and beat: rows only (no TRUNCATE, no ALTER, no triggers)
#
# Idempotent: it only creates what is missing, so it can also be run by hand against an
# existing server (PGHOST=... POSTGRES_USER=postgres POSTGRES_DB=jkfund sh 10-roles.sh).
set -eu

: "${POSTGRES_DB:?}" "${DATABASE_OWNER_PASSWORD:?}" "${DATABASE_APP_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v owner_password="$DATABASE_OWNER_PASSWORD" -v app_password="$DATABASE_APP_PASSWORD" \
    -v dbname="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',
              'jkfund_owner', :'owner_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jkfund_owner') \gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',
              'jkfund_app', :'app_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jkfund_app') \gexec
SELECT format('ALTER DATABASE %I OWNER TO jkfund_owner', :'dbname') \gexec
SQL

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "$POSTGRES_DB" <<'SQL'
GRANT USAGE ON SCHEMA public TO jkfund_app;
ALTER DEFAULT PRIVILEGES FOR ROLE jkfund_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO jkfund_app;
ALTER DEFAULT PRIVILEGES FOR ROLE jkfund_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO jkfund_app;
SQL
