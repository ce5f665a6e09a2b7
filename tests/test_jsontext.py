"""fundapp.jsontext: orjson's text where it reads back as the standard library's, and the
standard library's own text where it is hashed (the audit chain's canonical lines)."""

from __future__ import annotations

import json
from collections import namedtuple
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundapp.audit.hashing import canonical_lines
from fundapp.audit.services import _json_default, json_text
from fundapp.jsontext import canonical, dumps, dumps_normalised

# Every code point, lone surrogates included (orjson refuses them: the standard library
# writes them), control characters and the line and paragraph separators among them.
TEXT = st.text(st.characters(codec=None, categories=None), max_size=12)
INTEGERS = st.integers(min_value=-(2**70), max_value=2**70)  # beyond 64 bits too
SCALARS = st.none() | st.booleans() | INTEGERS | TEXT
FLOATS = st.floats(allow_nan=False, allow_infinity=False)


def json_values(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4)
        ),
        max_leaves=20,
    )


def stdlib_canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@given(json_values(SCALARS))
def test_canonical_text_without_floats_is_the_standard_librarys(value):
    assert canonical(value, floats=False) == stdlib_canonical(value)


@given(json_values(SCALARS | FLOATS))
def test_canonical_text_that_may_hold_floats_is_the_standard_librarys(value):
    assert canonical(value) == stdlib_canonical(value)


@pytest.mark.parametrize("number", [1e-7, 1e-5, 2.5e-6])
def test_orjson_spells_floats_otherwise_so_floats_go_to_the_standard_library(number):
    assert canonical([number]) == stdlib_canonical([number])
    assert canonical([number], floats=False) != stdlib_canonical([number])


def test_canonical_text_of_subclasses_is_the_standard_librarys():
    class Colour(StrEnum):
        RED = "red"

    value = {"kind": Colour.RED, Colour.RED: [True, 2**64]}
    assert canonical(value, floats=False) == stdlib_canonical(value)


@given(
    st.lists(
        st.fixed_dictionaries(
            {"action": TEXT, "id": st.integers(0, 2**40) | st.just("\x00id\x00")},
            optional={"before": json_values(SCALARS), "after": json_values(SCALARS)},
        ),
        min_size=1,
        max_size=4,
    )
)
def test_canonical_lines_without_floats_are_the_standard_librarys(events):
    expected = "\n".join(stdlib_canonical(event) for event in events)
    assert canonical_lines(events, floats=False) == expected
    assert canonical_lines(events) == expected


@given(json_values(SCALARS | FLOATS))
def test_dumps_reads_back_as_the_value(value):
    assert json.loads(dumps(value)) == json.loads(json.dumps(value))


def test_dumps_refuses_what_json_has_no_type_for():
    for value in ({"at": datetime(2026, 1, 5, tzinfo=UTC)}, [Decimal("1.5")], {1, 2}):
        with pytest.raises(TypeError):
            dumps(value)


Point = namedtuple("Point", "x y")


@dataclass
class Reading:
    value: Decimal


class Plain(Enum):
    ONE = 1


AWARE = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=9))]))
OTHERS = (
    st.decimals(allow_nan=False, allow_infinity=False)
    | AWARE
    | st.datetimes()
    | st.dates()
    | st.times()
    | st.builds(Point, INTEGERS, TEXT)
    | st.builds(Reading, st.decimals(allow_nan=False, allow_infinity=False))
    | st.uuids()
    | st.frozensets(st.integers(0, 9), max_size=3)
)


@given(
    st.recursive(
        SCALARS | FLOATS | OTHERS,
        lambda children: (
            st.lists(children, max_size=4)
            | st.tuples(children, children)
            | st.dictionaries(TEXT | st.integers(-(2**40), 2**40), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_normalised_text_reads_back_as_the_standard_librarys(value):
    expected = json.loads(json.dumps(value, default=_json_default, ensure_ascii=False))
    assert json.loads(dumps_normalised(value, _json_default)) == expected
    assert json.loads(json_text(value)) == expected


def test_normalised_text_of_times_is_their_iso_text():
    moment = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    value = {"at": moment, "on": date(2026, 1, 5), "from": time(9, 30), "point": Point(1, 2)}
    assert json.loads(json_text(value)) == {
        "at": "2026-01-05T09:30:00+00:00",
        "on": "2026-01-05",
        "from": "09:30:00",
        "point": [1, 2],
    }


def test_an_enum_neither_text_nor_number_is_written_as_its_value():
    assert json.loads(json_text({"kind": Plain.ONE})) == {"kind": 1}
