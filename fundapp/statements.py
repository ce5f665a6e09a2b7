"""One SQL statement written by several apps: each contributes named parts (§19).

A service whose change spans several apps (a tranche release writes the ledger, the audit
trail, notifications and its own rows) would otherwise send one statement per app. Here
each app builds its part — a common table expression it owns, usually an ``INSERT …
RETURNING`` — and the service runs them all as one ``WITH … SELECT`` statement: one round
trip, one snapshot, and every part commits or rolls back with the others.

PostgreSQL runs every data-modifying part exactly once, whether or not anything reads it.
A part that must happen only after another (or only if another wrote a row) selects from
that part by name (``… FROM ledger_transaction``): reading its ``RETURNING`` rows orders
the two, and the row triggers of the later part see the rows of the earlier one. Parts
cannot see each other's writes otherwise (they share the statement's snapshot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Model

from fundapp.prepared import prepared_cursor


@dataclass(frozen=True)
class Part:
    """A named common table expression of a combined statement.

    ``sql`` is the expression's body with ``%s`` placeholders for ``params``; it may name
    the parts listed before it. ``result`` is an optional scalar SQL expression (usually a
    sub-select over the part, e.g. ``(SELECT array_agg(id) FROM audit_events)``) whose
    value ``statement_run`` returns under the part's name.
    """

    name: str
    sql: str
    params: Sequence[Any] = ()
    result: str | None = None


def statement_run(parts: Sequence[Part]) -> dict[str, Any]:
    """Run ``parts`` as one statement, in the caller's transaction; return each part's
    ``result`` by part name. Names must be unique."""
    names = [part.name for part in parts]
    if len(set(names)) != len(names):
        raise ValueError(f"parts named twice: {sorted(n for n in names if names.count(n) > 1)}")
    with_results = [part for part in parts if part.result]
    select = ", ".join(part.result for part in with_results if part.result) or "1"
    sql = (
        "WITH "
        + ",\n".join(f"{part.name} AS ({part.sql})" for part in parts)
        + f"\nSELECT {select}"
    )
    params = [param for part in parts for param in part.params]
    row = execute_prepared(sql, params)
    return {part.name: value for part, value in zip(with_results, row or (), strict=False)}


def execute_prepared(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """Run ``sql`` (positional ``%s`` placeholders) as a statement prepared once per
    database connection; return its first row.

    For a hot path whose statement text is fixed: PostgreSQL parses it once per connection
    and may keep its plan, instead of parsing and planning every time. The statement goes
    through ``fundapp.prepared`` (psycopg prepares it on first use and keeps track of it,
    also after psycopg itself deallocates its statements on a rollback). Every parameter's
    type must follow from the statement (a cast where the context does not say).
    """
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def insert_part(
    name: str,
    objs: Sequence[Model],
    *,
    only_if: str | None = None,
    returning: str | None = None,
    result: str | None = None,
) -> Part:
    """An ``INSERT`` of unsaved model instances (``bulk_create``'s values: field defaults
    and ``pre_save`` applied), as one ``unnest`` of typed arrays whatever their number.

    ``only_if`` names an earlier part: the rows are inserted only if it returned a row.
    The primary key is left to the database. ``objs`` must all be of one model.
    """
    if not objs:
        raise ValueError("insert_part needs at least one instance")
    model = type(objs[0])
    if any(type(obj) is not model for obj in objs):
        raise ValueError("insert_part takes instances of one model")
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    columns, arrays, params = [], [], []
    for field in fields:
        columns.append(connection.ops.quote_name(field.column))
        arrays.append(f"%s::{field.db_type(connection)}[]")
        params.append(
            [field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in objs]
        )
    table = connection.ops.quote_name(model._meta.db_table)
    # Names from the model, values as parameters.
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({', '.join(arrays)})"  # noqa: S608
    if only_if:
        sql += f" WHERE EXISTS (SELECT 1 FROM {only_if})"  # noqa: S608 (a part's name)
    if returning:
        sql += f" RETURNING {returning}"
    return Part(name=name, sql=sql, params=params, result=result)


def execute_prepared_rows(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """``execute_prepared`` returning every row, for a statement reading a set."""
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
