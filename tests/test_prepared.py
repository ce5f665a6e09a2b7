"""``fundapp.prepared.fetch_prepared``: the first statement of a request is the
connection's health check (one round trip, not two), and a connection the server dropped
is replaced without failing the request; rows asked for in the binary format are the
same values as in text; rows copied in bulk are the values written, in one statement
counted and instrumented like any other."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from psycopg.types.json import Json, Jsonb

from fundapp.prepared import copy_rows, fetch_prepared, prepared_cursor

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


# ``copy_rows``: every kind of value a batch's rows carry, NULLs included; JSON text kept
# as written (``json``) or parsed (``jsonb``).
COPIED_TABLE = """
CREATE TEMPORARY TABLE copied (
  id bigint NOT NULL, small smallint, at timestamptz, day date, amount numeric(8, 4),
  note text, doc json, tags jsonb
) ON COMMIT DROP
"""
COPIED_COLUMNS = ["id", "small", "at", "day", "amount", "note", "doc", "tags"]
COPIED_TYPES = ["bigint", "smallint", "timestamptz", "date", "numeric", "text", "json", "jsonb"]
AT = datetime(2026, 12, 7, 13, 30, 0, 123456, tzinfo=ZoneInfo("Asia/Tokyo"))
DOC = '{"b": "say \\"hi\\"\\\\n", "a": [1, 2.50], "名": "\\u9054"}'


def _copied() -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, small, at, day, amount, note, doc::text, tags FROM copied ORDER BY id"
        )
        return cursor.fetchall()


def test_copied_rows_hold_the_values_written():
    rows = [
        (2**40, 3, AT, date(2026, 12, 7), Decimal("1.2345"), "tab\tand\nline", Json(DOC, str),
         Jsonb(json.dumps([{"kind": "late"}]), str)),
        (7, None, None, None, None, None, Json("[]", str), Jsonb("[]", str)),
    ]  # fmt: skip
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(COPIED_TABLE)
        copy_rows("copied", COPIED_COLUMNS, COPIED_TYPES, rows)

        assert _copied() == [
            (7, None, None, None, None, None, "[]", "[]"),
            (2**40, 3, AT, date(2026, 12, 7), Decimal("1.2345"), "tab\tand\nline", DOC,
             '[{"kind": "late"}]'),
        ]  # fmt: skip


def test_a_copy_is_one_statement_counted_logged_and_passed_through_execute_wrappers():
    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(COPIED_TABLE)
        row = (1, 1, AT, date(2026, 1, 1), Decimal(1), "x", Json("{}", str), Jsonb("{}", str))
        with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(wrapper):
            copy_rows("copied", COPIED_COLUMNS, COPIED_TYPES, [row])
        assert not connection.queries_logged
        with connection.execute_wrapper(wrapper):
            copy_rows("copied", COPIED_COLUMNS, COPIED_TYPES, [(2, *row[1:])])

        assert [query["sql"] for query in captured.captured_queries] == seen[:1]
        assert seen == [seen[0]] * 2
        assert seen[0].startswith('COPY "copied" ("id", "small", ')
        assert [id_ for id_, *_rest in _copied()] == [1, 2]


def test_a_refused_row_raises_djangos_error_and_writes_nothing():
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(COPIED_TABLE)
        rows = [
            (1, 1, AT, None, None, None, Json("{}", str), Jsonb("{}", str)),
            (None, 1, AT, None, None, None, Json("{}", str), Jsonb("{}", str)),
        ]
        with pytest.raises(IntegrityError), transaction.atomic():
            copy_rows("copied", COPIED_COLUMNS, COPIED_TYPES, rows)
        assert _copied() == []
