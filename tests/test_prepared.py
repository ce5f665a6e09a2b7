"""``fundapp.prepared.fetch_prepared``: the first statement of a request is the
connection's health check (one round trip, not two), and a connection the server dropped
is replaced without failing the request; rows asked for in the binary format are the
same values as in text."""

from __future__ import annotations

from typing import Any
from unittest import mock

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from fundapp.prepared import fetch_prepared, prepared_cursor

pytestmark = pytest.mark.django_db(transaction=True)

STATEMENT = "SELECT %s::int + 1"


def _request_starts() -> None:
    # What Django does for every request (``close_old_connections``): the next statement
    # is to check the connection first.
    connection.close_if_unusable_or_obsolete()


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pid: int) -> None:
    params: Any = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_the_statement_is_the_health_check_of_a_reused_connection():
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    fetch_prepared(STATEMENT, [0])
    _request_starts()

    with mock.patch.object(connection, "is_usable", wraps=connection.is_usable) as checked:
        assert fetch_prepared(STATEMENT, [1]) == [(2,)]
        assert fetch_prepared(STATEMENT, [2]) == [(3,)]

    assert checked.call_count == 0
    assert connection.health_check_done  # type: ignore[attr-defined]


def test_a_connection_the_server_dropped_is_replaced_and_the_statement_answers():
    fetch_prepared(STATEMENT, [0])
    dropped = _backend_pid()
    _terminate(dropped)
    _request_starts()

    assert fetch_prepared(STATEMENT, [41]) == [(42,)]
    assert _backend_pid() != dropped


def test_an_error_on_a_healthy_connection_is_raised_and_not_retried():
    fetch_prepared(STATEMENT, [0])
    _request_starts()

    failure = OperationalError("canceling statement due to statement timeout")
    with (
        mock.patch("fundapp.prepared._fetch_all", side_effect=[failure]) as sent,
        pytest.raises(OperationalError),
    ):
        fetch_prepared(STATEMENT, [1])

    assert sent.call_count == 1


def test_inside_a_transaction_django_checks_the_connection_first():
    fetch_prepared(STATEMENT, [0])
    _request_starts()

    with (
        mock.patch.object(connection, "is_usable", wraps=connection.is_usable) as checked,
        transaction.atomic(),
    ):
        assert fetch_prepared(STATEMENT, [1]) == [(2,)]

    assert checked.call_count == 1


# Every kind of value the hot paths read in the binary format (the API key's row, the
# licence check's rows): integers, text, arrays, dates, timestamps with a zone, NULLs.
TYPED_ROW = (
    "SELECT %s::bigint, 'JP-OSK-01'::varchar(32), ARRAY['semiconductor.ai', 'JP']::text[], "
    "ARRAY['licences:check']::varchar(32)[], DATE '2026-12-07', "
    "TIMESTAMPTZ '2026-12-07 13:30:00+09', NULL::timestamptz, NULL::date, 1.50::numeric, "
    "TRUE"
)


def test_binary_rows_are_the_values_of_text_rows():
    text = fetch_prepared(TYPED_ROW, [2**40])
    binary = fetch_prepared(TYPED_ROW, [2**40], binary=True)

    assert binary == text
    assert [type(value) for value in binary[0]] == [type(value) for value in text[0]]
    assert binary[0][5].utcoffset() == text[0][5].utcoffset()
    assert binary[0][5].isoformat() == "2026-12-07T04:30:00+00:00"


def test_the_server_answers_in_the_format_asked_for():
    formats = []
    for binary in (False, True):
        with prepared_cursor(binary=binary) as cursor:
            cursor.execute(TYPED_ROW, [1])
            cursor.fetchall()
            result: Any = cursor.cursor.pgresult
            formats.append({result.fformat(column) for column in range(result.nfields)})

    assert formats == [{0}, {1}]
