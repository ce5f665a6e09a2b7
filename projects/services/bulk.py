"""Writing many rows of one table in one statement, for the set-based services (§19).

Django's ``bulk_update`` builds one ``CASE WHEN id = … THEN …`` per field and row; its cost
in Python grows with rows × fields before the statement is even sent. ``rows_update``
sends each column as one array instead and lets the database join them by id.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


def rows_update(model: type[Model], rows: Sequence[Model], fields: Sequence[str]) -> int:
    """``UPDATE`` ``fields`` of ``rows`` to the values the instances hold, in one statement
    (``UPDATE … FROM unnest(ids, column arrays…)``), like ``bulk_update`` without its
    ``CASE`` per row. The caller holds the rows' locks. A row listed twice is written with
    its first instance's values. Database triggers run per row as for any ``UPDATE``.
    Returns the number of rows updated."""
    seen: set[object] = set()
    unique = [row for row in rows if not (row.pk in seen or seen.add(row.pk))]
    if not unique:
        return 0
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
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
    sql = "UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS v(id, {names}) WHERE t.{pk} = v.id".format(  # noqa: S608, E501
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
