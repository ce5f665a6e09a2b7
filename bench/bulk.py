"""Bulk loading with COPY: ids reserved from the tables' own sequences, rows as the models
would store them (each field's own ``get_db_prep_save``), database defaults left to the
database. Triggers and constraints run as for any insert, so generated data obeys them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models.expressions import DatabaseDefault


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` fresh primary keys from the table's sequence."""
    if count == 0:
        return []
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s))", [table, column])
        first = cursor.fetchone()[0]
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, %s), %s)",
            [table, column, first + count - 1],
        )
    return list(range(first, first + count))


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY plain tuples into ``table``."""
    cols = ", ".join(f'"{c}"' for c in columns)
    n = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
        with raw.copy(f'COPY "{table}" ({cols}) FROM STDIN') as cp:
            for row in rows:
                cp.write_row(row)
                n += 1
    return n


M = TypeVar("M", bound=models.Model)


def copy_objects(model: type[models.Model], objs: Sequence[M]) -> int:
    """COPY unsaved model instances (their ``pk`` set, e.g. from ``reserve_ids``)."""
    if not objs:
        return 0
    fields = [
        f
        for f in model._meta.concrete_fields
        if not isinstance(getattr(objs[0], f.attname), DatabaseDefault)
    ]
    columns = [f.column for f in fields]

    def rows():
        for obj in objs:
            yield [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]

    return copy_rows(model._meta.db_table, columns, rows())


def with_ids(model: type[models.Model], objs: list[M]) -> list[M]:
    for obj, pk in zip(objs, reserve_ids(model, len(objs)), strict=True):
        obj.pk = pk
    return objs
