"""Writing many rows of one table in one statement, for the set-based services (§19).

Django's ``bulk_create`` and ``bulk_update`` send one placeholder per row and column (and
``bulk_update`` one ``CASE WHEN id = …`` per row and field); their cost in Python grows
with rows × columns before the statement is even sent. These send the rows as one JSON
document (``rows_insert``) or one array per column (``rows_update``) and let the database
take them apart. Database defaults, constraints and triggers apply as to any ``INSERT`` or
``UPDATE``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Field, JSONField, Model


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot be sent as a JSON value")


# The value types each field type's ``get_db_prep_save`` returns unchanged.
_PASSED_AS_IS: dict[str, type] = {
    **dict.fromkeys(("CharField", "TextField", "SlugField", "EmailField", "URLField"), str),
    **dict.fromkeys(
        (
            "IntegerField",
            "BigIntegerField",
            "SmallIntegerField",
            "PositiveIntegerField",
            "PositiveBigIntegerField",
            "PositiveSmallIntegerField",
            "ForeignKey",
        ),
        int,
    ),
    "BooleanField": bool,
    "DateTimeField": datetime,
}


def _columns(model: type[Model], fields: Sequence[str]) -> list[Field]:
    columns = []
    for name in fields:
        column = model._meta.get_field(name)
        if not isinstance(column, Field) or not column.concrete:
            raise ValueError(f"{model.__name__}.{name} is not a column")
        columns.append(column)
    return columns


def rows_insert(model: type[Model], rows: Sequence[Model], fields: Sequence[str]) -> None:
    """``INSERT`` ``rows`` (unsaved instances) in one statement, in the given order, like
    ``bulk_create``: each instance gets its id (ascending in that order) and counts as
    saved. Only ``fields`` are written (the rest take their database defaults); values are
    prepared by their model fields, a ``JSONField`` holds JSON values."""
    if not rows:
        return
    meta = model._meta
    columns = _columns(model, fields)
    plan = [
        (
            column.column,
            column.attname,
            None if isinstance(column, JSONField) else column,
            _PASSED_AS_IS.get(column.get_internal_type()),
        )
        for column in columns
    ]

    def prepared(field: Field | None, as_is: type | None, value: Any) -> Any:
        # A JSON field's value is sent as it is; so is a value its field would return
        # unchanged (a str of a text field, an int of an integer or key, an aware datetime);
        # anything else (lazy text, enum members, naive times, arrays…) goes through it.
        if field is None or value is None:
            return value
        if type(value) is as_is and (as_is is not datetime or value.tzinfo is not None):
            return value
        return field.get_db_prep_save(value, connection)

    document = json.dumps(
        [
            {
                "ord": ord_,
                **{
                    name: prepared(field, as_is, getattr(row, attname))
                    for name, attname, field, as_is in plan
                },
            }
            for ord_, row in enumerate(rows)
        ],
        default=_json_value,
        ensure_ascii=False,
    )
    quote = connection.ops.quote_name
    names = ", ".join(quote(column.column) for column in columns)
    # Only names and types from the model's metadata go into the text; values are the one
    # parameter.
    sql = (  # noqa: S608
        "INSERT INTO {table} ({names}) SELECT {names} "
        "FROM jsonb_to_recordset(%s::jsonb) AS r({types}, ord bigint) ORDER BY ord "
        "RETURNING {pk}"
    ).format(
        table=quote(meta.db_table),
        names=names,
        types=", ".join(
            f"{quote(column.column)} {column.db_type(connection)}" for column in columns
        ),
        pk=quote(meta.pk.column),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [document])
        ids = sorted(pk for (pk,) in cursor.fetchall())
    for row, pk in zip(rows, ids, strict=True):
        row.pk = pk
        row._state.adding = False
        row._state.db = connection.alias


def rows_update(model: type[Model], rows: Sequence[Model], fields: Sequence[str]) -> int:
    """``UPDATE`` ``fields`` of ``rows`` to the values the instances hold, in one statement
    (``UPDATE … FROM unnest(ids, column arrays…)``), like ``bulk_update`` without its
    ``CASE`` per row. The caller holds the rows' locks. A row listed twice is written with
    its first instance's values. Returns the number of rows updated."""
    unique = list({row.pk: row for row in reversed(rows)}.values())
    if not unique:
        return 0
    meta = model._meta
    columns = _columns(model, fields)
    quote = connection.ops.quote_name
    arrays = [f"%s::{meta.pk.db_type(connection)}[]"]
    params: list[list[object]] = [[row.pk for row in unique]]
    for column in columns:
        arrays.append(f"%s::{column.db_type(connection)}[]")
        params.append(
            [column.get_db_prep_save(getattr(row, column.attname), connection) for row in unique]
        )
    names = [f"c{i}" for i in range(len(columns))]
    # Only names from the model's metadata and placeholders go into the text; values are
    # parameters.
    sql = (  # noqa: S608
        "UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS v(id, {names}) WHERE t.{pk} = v.id"
    ).format(
        table=quote(meta.db_table),
        sets=", ".join(
            f"{quote(column.column)} = v.{name}"
            for column, name in zip(columns, names, strict=True)
        ),
        arrays=", ".join(arrays),
        names=", ".join(names),
        pk=quote(meta.pk.column),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
