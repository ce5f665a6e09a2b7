"""Lists bound by the prepared cursors (``fundapp.prepared``): the joined text of numbers,
dates and times is byte for byte the text psycopg's own list dumper writes, and the
server reads the values sent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.adapt import AdaptersMap, PyFormat, Transformer
from psycopg.types.array import ListDumper

from fundapp.prepared import _ListDumper, prepared_cursor

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3))])
ELEMENTS: list[st.SearchStrategy[Any]] = [
    st.integers(min_value=-(2**15), max_value=2**15 - 1),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.decimals(allow_nan=False, allow_infinity=False, places=6),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.datetimes(timezones=ZONES),
    st.datetimes(),
]


def _text(dumper: type[ListDumper], values: list[Any]) -> bytes:
    adapters = AdaptersMap(psycopg.adapters)
    adapters.register_dumper(list, dumper)
    return bytes(Transformer(adapters).get_dumper(values, PyFormat.TEXT).dump(values) or b"")


@pytest.mark.parametrize("element", ELEMENTS)
@given(data=st.data())
def test_the_joined_text_is_psycopgs(element, data):
    values = data.draw(st.lists(st.one_of(st.none(), element) | element, max_size=30))

    assert _text(_ListDumper, values) == _text(ListDumper, values)


@pytest.mark.parametrize(
    "values",
    [
        [[1, 2], [3, None]],  # nested: psycopg's
        ["a b", 'say "hi"', "", "NULL", None],  # text: psycopg's
        [True, None, False],
        [],
        [None, None],
    ],
)
def test_other_lists_are_psycopgs(values):
    assert _text(_ListDumper, values) == _text(ListDumper, values)


@pytest.mark.django_db
def test_the_server_reads_the_values_sent():
    at = datetime(2026, 12, 7, 13, 30, 0, 123456, tzinfo=timezone(timedelta(hours=9)))
    row = (
        [2**40, None, -7],
        [Decimal("1.2345"), None, Decimal("-0.0001")],
        [date(2026, 12, 7), None],
        [at, None, at + timedelta(microseconds=1)],
    )
    with prepared_cursor() as cursor:
        cursor.execute(
            "SELECT %s::bigint[], %s::numeric[], %s::date[], %s::timestamptz[]", list(row)
        )
        assert cursor.fetchone() == row
