"""Statements PostgreSQL parses and plans once per connection, for the hottest read paths.

Django sends every statement with its values bound on the client (psycopg's
``ClientCursor``), so PostgreSQL parses, analyses and plans it anew each time. For a query
every API request runs (the API key's lookup) or one as involved as the licence check's
(CTEs, a union, a lateral join), that work costs several times the execution itself.
:func:`prepared_cursor` gives a cursor that binds on the server instead: psycopg prepares a
statement the first time it is sent on a connection and from then on sends only its values,
and PostgreSQL reuses the parsed statement (and, once it has seen that a generic plan is as
good as the custom ones, the plan).

The cursor is Django's own wrapper around it, so the statements are counted, logged and
passed through ``execute_wrapper`` like any other, and database errors are Django's. The
connection's health check and thread checks run as for ``connection.cursor()``.

Preparing needs psycopg's ``prepare_threshold`` to be a number (Django leaves it ``None``;
the settings set it from ``DATABASE_PREPARE_THRESHOLD``). It only ever applies to these
cursors: Django's own bind on the client and are never prepared. Prepared statements live on
one server connection, so behind a transaction-pooling proxy (PgBouncer before 1.21 in
``transaction`` mode) set ``DATABASE_PREPARE_THRESHOLD=none``, which turns this back into
plain statements. Only plain SQL with ``%(name)s`` or ``%s`` placeholders whose values
psycopg can bind on the server belongs here (every array is cast in the SQL).

Lists are sent as PostgreSQL arrays in the text format. psycopg's own list dumper quotes
and escapes element by element in Python, which for the long arrays of ids, times and
amounts the batch statements bind was a noticeable part of their cost on the client; these
cursors dump lists of such elements (:class:`_ListDumper`) with one join instead, to the
same text.

Rows written in bulk by a hot path go the cheaper way for both sides, :func:`copy_rows`:
``COPY … FROM STDIN`` in the binary format, which psycopg writes in C and PostgreSQL reads
without planning anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.backends.postgresql.base import CursorDebugWrapper as PostgresDebugCursor
from django.db.backends.utils import CursorWrapper
from psycopg import postgres
from psycopg import sql as psql
from psycopg.types.array import ListDumper

# The element types whose text never needs quoting in an array (digits, signs, a point, an
# exponent, dashes), and those whose text always does (a space between date and time) and
# never escaping (no quote or backslash): their arrays are written in one join.
_BARE_ELEMENTS = frozenset(
    postgres.types[name].oid for name in ("int2", "int4", "int8", "numeric", "date")
)
_QUOTED_ELEMENTS = frozenset(postgres.types[name].oid for name in ("timestamptz", "timestamp"))


class _ListDumper(ListDumper):
    """psycopg's text dumper of lists, with the flat lists of numbers, dates and times
    written by joining their elements' texts (each dumped by psycopg, in C) instead of
    element by element in Python. The text is the one psycopg writes (every element as it
    dumps it, ``NULL`` for ``None``, times in quotes); any other list is psycopg's."""

    def dump(self, obj: list[Any]) -> bytes | None:
        sub_dumper = self.sub_dumper
        oid = sub_dumper.oid if sub_dumper is not None else None
        bare = oid in _BARE_ELEMENTS
        if sub_dumper is None or not (bare or oid in _QUOTED_ELEMENTS) or self.delimiter != b",":
            return cast(bytes | None, super().dump(obj))
        types = set(map(type, obj))
        if any(issubclass(type_, list) for type_ in types):
            return cast(bytes | None, super().dump(obj))
        dump = sub_dumper.dump
        if type(None) not in types:
            texts: Iterable[Any] = map(dump, obj)
            return b"{" + b",".join(texts) + b"}" if bare else b'{"' + b'","'.join(texts) + b'"}'
        if bare:
            texts = [b"NULL" if item is None else dump(item) for item in obj]
        else:
            texts = [b"NULL" if item is None else b'"%s"' % dump(item) for item in obj]
        return b"{" + b",".join(texts) + b"}"


class _PreparingCursor(psycopg.Cursor[Any]):
    """Binds on the server and asks for every statement to be prepared."""

    # Whether the server answers in its binary format (see :func:`prepared_cursor`).
    binary_results = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adapters.register_dumper(list, _ListDumper)

    def execute(self, query, params=None, *, prepare=None, binary=None):  # type: ignore[override]
        return super().execute(
            query,
            params,
            prepare=True if prepare is None else prepare,
            binary=self.binary_results if binary is None else binary,
        )


class _PreparingBinaryCursor(_PreparingCursor):
    binary_results = True


class _DebugCursor(PostgresDebugCursor):
    """Logs a statement with its values bound in, as Django logs its own cursors'.

    Django's debug cursor asks the driver for the text it sent, which a prepared
    statement's execution does not have; the text is composed here instead (only when
    queries are logged: tests, ``DEBUG``).
    """

    def execute(self, sql, params=None):
        logged = sql if params is None else self.db.ops.compose_sql(sql, params)
        with self.debug_sql(logged):
            return CursorWrapper.execute(self, sql, params)


@contextmanager
def prepared_cursor(
    using: str = DEFAULT_DB_ALIAS, *, binary: bool = False
) -> Iterator[CursorWrapper]:
    """A cursor of the ``using`` connection whose statements bind on the server (see the
    module docstring); closed on leaving the block.

    ``binary``: the rows come in PostgreSQL's binary format, which neither side has to
    print and parse as text: cheaper for both on a hot path whose rows carry timestamps
    and arrays (the API key's lookup, the licence check; about half the client's CPU per
    statement). The values are the same Python values, with one exception: ``json`` and
    ``jsonb`` columns come decoded (Django reads them as text and decodes them itself), so
    statements that return JSON keep the text format.
    """
    connection = connections[using]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor_class = _PreparingBinaryCursor if binary else _PreparingCursor
    with connection.wrap_database_errors:
        raw = cursor_class(connection.connection)
    # django-stubs type the argument as Django's wrapper; Django passes the driver's cursor.
    driver_cursor = cast(Any, raw)
    cursor = (
        _DebugCursor(driver_cursor, connection)
        if connection.queries_logged
        else connection.make_cursor(driver_cursor)
    )
    with cursor:
        yield cursor


def fetch_prepared(
    sql: str, params: Any, *, using: str = DEFAULT_DB_ALIAS, binary: bool = False
) -> list[tuple[Any, ...]]:
    """The rows of a read-only statement, prepared once per connection
    (:func:`prepared_cursor`, in the binary format if ``binary``), with the connection's
    health check folded into it.

    With ``CONN_HEALTH_CHECKS`` on, Django checks a reused connection before the first
    statement of each request with a ``SELECT 1`` of its own: a round trip as long as the
    statement itself on the API's hot paths (the key lookup, the licence check). Here, the
    statement is the check: outside a transaction, if it fails and the connection turns
    out to be unusable (the server restarted or dropped it), the connection is closed and
    the statement sent once more on a new one — it only reads, so running it again
    changes nothing. A failure on a healthy connection is raised as it is; inside a
    transaction Django's own check runs first, as for any other statement.
    """
    # django-stubs do not know the health-check attributes of Django's connection.
    connection: Any = connections[using]
    if (
        connection.connection is not None
        and connection.health_check_enabled
        and not connection.health_check_done
        and not connection.in_atomic_block
    ):
        connection.health_check_done = True
        try:
            return _fetch_all(sql, params, using, binary)
        except (OperationalError, InterfaceError):
            if connection.is_usable():
                raise
            connection.close()
    return _fetch_all(sql, params, using, binary)


def _fetch_all(sql: str, params: Any, using: str, binary: bool) -> list[tuple[Any, ...]]:
    """Execute and fetch on the connection's kept driver cursor (:func:`_kept_cursor`),
    through Django's cursor wrapper as :func:`prepared_cursor` does (the statement is
    counted, logged and passed through ``execute_wrapper``; errors are Django's)."""
    connection = connections[using]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    driver_cursor = cast(Any, _kept_cursor(connection, binary))
    cursor = (
        _DebugCursor(driver_cursor, connection)
        if connection.queries_logged
        else connection.make_cursor(driver_cursor)
    )
    cursor.execute(sql, params)
    with connection.wrap_database_errors:
        return driver_cursor.fetchall()


_KEPT_CURSORS = "_prepared_cursors"


def _kept_cursor(connection: Any, binary: bool) -> _PreparingCursor:
    """The driver cursor :func:`fetch_prepared` uses on ``connection``'s current database
    connection, one per format, made once and used again by every later statement: the
    hot paths run one statement per request, and making a cursor (and the loaders of its
    columns) each time cost a fifth of the statement's CPU on the client. A new database
    connection (after a reconnect) gets new cursors. The kept cursor holds the last
    result's rows until the next statement."""
    driver = connection.connection
    kept = connection.__dict__.get(_KEPT_CURSORS)
    if kept is None or kept[0] is not driver:
        kept = (driver, {})
        setattr(connection, _KEPT_CURSORS, kept)
    cursor = kept[1].get(binary)
    if cursor is None or cursor.closed:
        with connection.wrap_database_errors:
            cursor = (_PreparingBinaryCursor if binary else _PreparingCursor)(driver)
        kept[1][binary] = cursor
    return cursor


def copy_rows(
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    using: str = DEFAULT_DB_ALIAS,
) -> None:
    """Write ``rows`` (one value per column of ``columns``, in order) into ``table`` with one
    ``COPY … FROM STDIN (FORMAT BINARY)``, in the caller's transaction.

    For a batch of wide rows (a batch's gate snapshots) this is the cheapest way in: an
    ``INSERT … SELECT FROM unnest(…)`` of typed arrays has psycopg dump every array element
    by element in Python, and PostgreSQL parse and plan the statement with its megabytes of
    values folded into it each time; here psycopg formats each row in C and the server
    reads the values straight into the table, triggers and constraints applying as for an
    ``INSERT``. COPY returns no rows: a primary key the caller needs is taken from its
    sequence first and written as a column.

    ``types`` are the columns' PostgreSQL types (``"bigint"``, ``"timestamptz"``,
    ``"jsonb"`` …): the binary format has no types of its own, so each value is dumped as
    its column's type says. A ``json``/``jsonb`` value is a ``psycopg.types.json.Json`` /
    ``Jsonb``. The statement is counted, logged and passed through ``execute_wrapper`` like
    any other, and its errors are Django's.
    """
    connection = connections[using]
    statement = psql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        psql.Identifier(table), psql.SQL(", ").join(map(psql.Identifier, columns))
    )
    with connection.cursor() as cursor:
        driver_cursor = cursor.cursor
        text = statement.as_string(driver_cursor)

        def copy(sql: str, params: Any, many: bool, context: dict[str, Any]) -> None:
            connection.validate_no_broken_transaction()
            with connection.wrap_database_errors, driver_cursor.copy(sql) as copy:
                copy.set_types(list(types))
                write_row = copy.write_row
                for row in rows:
                    write_row(row)

        # Django's wrapper runs ``execute_wrapper``s around its own ``execute`` only; the
        # same chain is run here around the COPY (and the statement logged where Django
        # logs its own), so that counting and instrumenting see it.
        if connection.queries_logged:
            with cursor.debug_sql(text):
                cursor._execute_with_wrappers(text, None, False, copy)
        else:
            cursor._execute_with_wrappers(text, None, False, copy)
