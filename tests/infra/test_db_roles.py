"""The application connects as a role that cannot undo the database's guarantees (§12)."""

import pytest
from django.db import DatabaseError, connection, transaction

from fundapp import dbroles
from fundapp.audit.services import audit_record
from projects.models import Call, CallState
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def scalar(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_the_tests_run_as_the_application_role():
    assert scalar("SELECT current_user") == dbroles.APP_ROLE
    assert scalar("SELECT session_user") == dbroles.APP_ROLE


def test_the_application_role_has_no_special_powers():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user"
        )
        assert cursor.fetchone() == (False, False, False, False, False)
        # Not a member of any role either (so no owner's rights by inheritance).
        cursor.execute(
            "SELECT count(*) FROM pg_auth_members WHERE member = "
            "(SELECT oid FROM pg_roles WHERE rolname = current_user)"
        )
        assert cursor.fetchone()[0] == 0


def test_the_application_role_owns_nothing_in_the_database():
    owned = scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relowner = "
        "(SELECT oid FROM pg_roles WHERE rolname = current_user)"
    )
    assert owned == 0
    assert (
        scalar("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        == dbroles.OWNER_ROLE
    )


def test_the_owner_owns_every_table_and_is_no_superuser():
    others = scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> %s",
        [dbroles.OWNER_ROLE],
    )
    assert others == 0
    assert scalar("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [dbroles.OWNER_ROLE]) is False


def test_the_application_role_may_not_truncate_alter_or_create_triggers():
    for table in ("audit_auditevent", "ledger_entry", "projects_project"):
        for privilege in ("TRUNCATE", "TRIGGER", "REFERENCES"):
            assert not scalar("SELECT has_table_privilege(%s, %s)", [table, privilege]), (
                table,
                privilege,
            )
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            assert scalar("SELECT has_table_privilege(%s, %s)", [table, privilege])
    assert not scalar("SELECT has_schema_privilege('public', 'CREATE')")


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER USER",
        "ALTER TABLE ledger_entry DISABLE TRIGGER USER",
        "ALTER TABLE ledger_transaction DISABLE TRIGGER USER",
        "ALTER TABLE ledger_account DISABLE TRIGGER USER",
        "ALTER TABLE audit_auditevent OWNER TO CURRENT_USER",
        "SET session_replication_role = replica",
        "CREATE TABLE intruder (id int)",
    ],
)
def test_the_application_role_cannot_switch_the_guards_off(statement):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)


def test_pgtrigger_ignore_does_not_help_the_application_role():
    event = audit_record(actor=None, action="test.one", object_type="thing", object_id=1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(tgname::text) FROM pg_trigger "
            "WHERE tgrelid = 'audit_auditevent'::regclass AND NOT tgisinternal"
        )
        names = cursor.fetchone()[0]
    assert len(names) >= 2

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(names) + "}"]
        )
        cursor.execute("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(names) + "}"]
        )
        cursor.execute("TRUNCATE audit_auditevent")


def _archive_draft(call_id):
    """An UPDATE along no edge of the call's table (draft → archived)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE projects_call SET state = 'archived' WHERE id = %s", [call_id])


@pytest.mark.parametrize("setting", ["", "{}", "{pgtrigger_call_state_fsm_00000}"])
def test_a_set_or_reset_ignore_setting_leaves_the_state_machine_on(setting):
    # '' is what a session's setting reads after it was set and reset; '{}' names nothing.
    call = CallFactory.create(state=CallState.DRAFT)
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, false)", [setting])
    try:
        with pytest.raises(DatabaseError, match="Invalid transition"):
            _archive_draft(call.pk)
        Call.objects.filter(pk=call.pk).update(state=CallState.OPEN)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET pgtrigger.ignore")
    assert Call.objects.get(pk=call.pk).state == CallState.OPEN


def test_the_ignore_check_opens_no_subtransaction_per_row():
    # It runs first in every pgtrigger trigger on every row: a PL/pgSQL block with an
    # EXCEPTION clause would open a subtransaction each time.
    source = scalar("SELECT prosrc FROM pg_proc WHERE proname = '_pgtrigger_should_ignore'")
    assert "current_setting('pgtrigger.ignore', true)" in source
    assert "EXCEPTION" not in source.upper()


@pytest.mark.django_db(transaction=True)
def test_the_owner_may_still_switch_a_state_machine_off_by_name(owner_cursor):
    call = CallFactory.create(state=CallState.DRAFT)
    trigger = scalar(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'projects_call'::regclass "
        "AND tgname LIKE %s",
        ["pgtrigger_call_state_fsm_%"],
    )
    with owner_cursor() as cursor:
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + trigger + "}"])
        cursor.execute("UPDATE projects_call SET state = 'archived' WHERE id = %s", [call.pk])
    assert Call.objects.get(pk=call.pk).state == CallState.ARCHIVED
    with pytest.raises(DatabaseError, match="Invalid transition"), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, false)", ["{" + trigger + "}"])
        try:
            cursor.execute("UPDATE projects_call SET state = 'open' WHERE id = %s", [call.pk])
        finally:
            cursor.execute("RESET pgtrigger.ignore")


@pytest.mark.django_db(transaction=True)
def test_tables_created_by_later_migrations_are_granted_to_the_application_role(owner_cursor):
    # What a future migration does: the owner creates a table; default privileges cover it.
    with owner_cursor() as cursor:
        cursor.execute("CREATE TABLE later_table (id bigserial PRIMARY KEY, note text)")
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO later_table (note) VALUES ('x') RETURNING id")
            assert cursor.fetchone()[0] == 1
            cursor.execute("UPDATE later_table SET note = 'y'")
            cursor.execute("DELETE FROM later_table")
            assert not scalar("SELECT has_table_privilege('later_table', 'TRUNCATE')")
    finally:
        with owner_cursor() as cursor:
            cursor.execute("DROP TABLE later_table")


def test_the_owner_cursor_is_the_owner_on_a_separate_connection(owner_cursor):
    with owner_cursor() as cursor:
        cursor.execute("SELECT current_user, pg_backend_pid()")
        user, pid = cursor.fetchone()
    assert user == dbroles.OWNER_ROLE
    assert pid != scalar("SELECT pg_backend_pid()")
