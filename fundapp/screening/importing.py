"""Reading a restricted-party CSV file (§11, §21): pure, no database.

Columns ``name``, ``aliases`` (semicolon-separated), ``country`` (ISO 3166-1 alpha-2) and
``source``, UTF-8 with or without a byte-order mark. Every row is checked and every problem
reported with its row number (the header is row 1), so an operator fixes the file once.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from .normalize import normalize_name, normalize_names

REQUIRED_COLUMNS = ("name", "aliases", "country", "source")
MAX_NAME_LENGTH = 300
MAX_SOURCE_LENGTH = 100
MAX_ALIASES = 200
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class PartyRow:
    row: int
    name: str
    aliases: tuple[str, ...]
    country: str
    source: str
    normalized_name: str
    normalized_names: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        """The import's idempotency key."""
        return (self.normalized_name, self.country, self.source)


@dataclass
class ParseResult:
    rows: list[PartyRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _decode(data: bytes) -> str:
    # utf-8-sig drops a leading byte-order mark and reads plain UTF-8 unchanged.
    return data.decode("utf-8-sig")


def _clean(value: str | None) -> str:
    return (value or "").strip()


def parse_restricted_parties(data: bytes) -> ParseResult:
    """Parse and validate the whole file; ``rows`` is meaningful only when ``ok``."""
    result = ParseResult()
    try:
        text = _decode(data)
    except UnicodeDecodeError as exc:
        result.errors.append(f"The file is not UTF-8 (byte {exc.start}).")
        return result
    if "\x00" in text:
        result.errors.append("The file is not a text file (it contains NUL bytes).")
        return result
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [_clean(h).lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        result.errors.append(
            "Row 1: missing column(s): "
            + ", ".join(missing)
            + f" (expected {', '.join(REQUIRED_COLUMNS)})."
        )
        return result
    # Accept headers in any case and with stray spaces.
    reader.fieldnames = header
    seen: dict[tuple[str, str, str], int] = {}
    try:
        records = list(reader)
    except csv.Error as exc:
        result.errors.append(f"Row {reader.line_num}: unreadable CSV ({exc}).")
        return result
    for index, record in enumerate(records, start=2):
        if None in record:
            result.errors.append(f"Row {index}: more fields than columns in the header.")
            continue
        if all(not _clean(v) for v in record.values()):
            continue  # a blank line is not an error
        problems: list[str] = []
        name = _clean(record.get("name"))
        aliases = tuple(
            a for a in (_clean(x) for x in _clean(record.get("aliases")).split(";")) if a
        )
        country = _clean(record.get("country")).upper()
        source = _clean(record.get("source"))
        normalized = normalize_name(name)
        if not name:
            problems.append("name is empty")
        elif not normalized:
            problems.append("name has no letters or digits")
        elif len(name) > MAX_NAME_LENGTH:
            problems.append(f"name is longer than {MAX_NAME_LENGTH} characters")
        if len(aliases) > MAX_ALIASES:
            problems.append(f"more than {MAX_ALIASES} aliases")
        long_aliases = [a for a in aliases if len(a) > MAX_NAME_LENGTH]
        if long_aliases:
            problems.append(f"an alias is longer than {MAX_NAME_LENGTH} characters")
        if not _COUNTRY.match(country):
            problems.append(f"country {country!r} is not an ISO 3166-1 alpha-2 code")
        if not source:
            problems.append("source is empty")
        elif len(source) > MAX_SOURCE_LENGTH:
            problems.append(f"source is longer than {MAX_SOURCE_LENGTH} characters")
        if problems:
            result.errors.append(f"Row {index}: " + "; ".join(problems) + ".")
            continue
        party = PartyRow(
            row=index,
            name=name,
            aliases=aliases,
            country=country,
            source=source,
            normalized_name=normalized,
            normalized_names=tuple(normalize_names([name, *aliases])),
        )
        if party.key in seen:
            result.errors.append(
                f"Row {index}: the same party as row {seen[party.key]} "
                f"(same normalized name, country and source)."
            )
            continue
        seen[party.key] = index
        result.rows.append(party)
    return result
