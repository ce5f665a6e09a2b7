"""JSON text written on the batch paths, by orjson.

A batch of 500 gate evaluations writes some 15,000 small JSON documents (snapshot parts,
outbox rows, audit payloads and their canonical lines); the standard library's encoder
spends ~3 µs on each, orjson ~0.3 µs. Each writer here falls back to the standard library
for what orjson refuses (integers beyond 64 bits, strings with lone surrogates, and the
types a writer leaves to the standard library's rules), so every value encodes as before
(one exception below):

- :func:`dumps`: compact JSON of JSON's own values (dicts with string keys, lists, strings,
  numbers, booleans, ``None``), for text that is parsed again (stored in a ``json`` or
  ``jsonb`` column, read by value), never compared as text. Anything else raises
  ``TypeError``, as ``json.dumps`` does.
- :func:`dumps_normalised`: ``json.dumps(value, default=default, ensure_ascii=False)``
  read back as the same values: ``default`` is called for every value JSON has no type
  for (datetimes, dates and times included, which orjson would otherwise write itself),
  a tuple's subclass (a named tuple) is a list, and integer keys are strings. Only the
  whitespace and the spelling of some floats differ, and an enum that is neither a
  string nor an integer, which orjson writes as its value (the standard library had
  ``default`` write ``str()`` of it, its class and name); no payload holds one.
- :func:`canonical`: exactly ``json.dumps(value, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)``, for text that is hashed. orjson writes the same shortest
  round-trip digits as Python but spells small exponents its own way (``1e-7`` where
  Python writes ``1e-07``, ``0.00001`` for ``1e-05``), so a value holding a float must be
  said to (``floats=True``, the default) and is written by the standard library.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

_PLAIN = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

# orjson writes datetimes, dates, times, dataclasses, UUIDs and enums itself; the first
# four are passed to ``default`` instead, as the standard library passes them.
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_NORMALISED = _PASSTHROUGH | orjson.OPT_NON_STR_KEYS
# Subclasses of str, int, dict and list too: the standard library's text for them (an
# enum's ``str`` is not its value) is the only canonical one.
_CANONICAL_OPTIONS = orjson.OPT_SORT_KEYS | _PASSTHROUGH | orjson.OPT_PASSTHROUGH_SUBCLASS


def dumps(value: Any) -> str:
    """Compact JSON text of JSON's own values (see the module's docstring)."""
    try:
        return orjson.dumps(value, option=_PASSTHROUGH).decode()
    except TypeError:
        return _PLAIN.encode(value)


def dumps_normalised(value: Any, default: Callable[[Any], Any]) -> str:
    """JSON text that reads back as ``json.dumps(value, default=default,
    ensure_ascii=False)`` does (see the module's docstring)."""

    def normalise(item: Any) -> Any:
        if isinstance(item, tuple):
            return list(item)
        return default(item)

    try:
        return orjson.dumps(value, default=normalise, option=_NORMALISED).decode()
    except TypeError:
        return json.dumps(value, default=default, ensure_ascii=False)


def canonical(value: Any, *, floats: bool = True) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``;
    by orjson when the caller knows that ``value`` holds no float (``floats=False``)."""
    if not floats:
        try:
            return orjson.dumps(value, option=_CANONICAL_OPTIONS).decode()
        except TypeError:
            pass
    return _CANONICAL.encode(value)
