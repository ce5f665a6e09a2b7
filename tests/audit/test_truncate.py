"""TRUNCATE is refused on the audit table: by privilege to the app, by trigger to the owner (§12)."""

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from fundapp.audit.models import AuditEvent
from fundapp.audit.services import audit_record

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_application_role_may_not_truncate_the_audit_table():
    audit_record(actor=None, action="test.one", object_type="thing", object_id=1)

    with (
        pytest.raises(DatabaseError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE audit_auditevent")

    assert AuditEvent.objects.count() == 1


def test_the_owner_is_refused_by_the_trigger(owner_cursor):
    audit_record(actor=None, action="test.one", object_type="thing", object_id=1)

    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="TRUNCATE is refused"),
        owner_cursor() as cursor,
    ):
        cursor.execute("TRUNCATE audit_auditevent")

    assert AuditEvent.objects.count() == 1
