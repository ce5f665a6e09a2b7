"""Statements prepared once per connection (``fundapp.statements``, ``fundapp.prepared``)."""

import pytest
from django.db import connection, transaction

from fundapp.prepared import prepared_cursor
from fundapp.statements import execute_prepared

pytestmark = pytest.mark.django_db(transaction=True)


class Undo(Exception):
    pass


def prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_a_statement_is_prepared_once_and_still_runs_after_a_rollback_deallocates_all():
    """psycopg deallocates every prepared statement of a connection on a ROLLBACK; a
    statement run through ``execute_prepared`` must be prepared again, not missed."""
    with prepared_cursor() as cursor:  # another hot path's statement on the same connection
        cursor.execute("SELECT %s::int * 2", [21])
        assert cursor.fetchone() == (42,)
    assert execute_prepared("SELECT %s::int + 1", [1]) == (2,)
    assert execute_prepared("SELECT %s::int + 1", [2]) == (3,)
    before = prepared_names()
    assert len(before) == 2

    with pytest.raises(Undo), transaction.atomic():
        assert execute_prepared("SELECT %s::int + 1", [3]) == (4,)
        raise Undo

    assert execute_prepared("SELECT %s::int + 1", [4]) == (5,)
    with prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int * 2", [4])
        assert cursor.fetchone() == (8,)
