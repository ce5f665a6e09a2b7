"""One registry of event types (§12, §13.2): what may be written to the audit trail and
to the outbox, and how a person reads it.

Each domain registers the types it writes, from its ``AppConfig.ready`` (``fundapp.events``
for the kernel's own, ``projects.events``, ``ip_licensing.events``, ``mobility.events``);
``event_types_declare`` declares a batch of plain types of one visibility as a table of
name → sentence. A type has

- a ``name`` (the audit ``action`` and the outbox ``type``: ``licence.approved``);
- a ``sentence``: lazy translated text with named placeholders, rendered in the reader's
  language by the history (``{actor}`` is always given; the others are the keys of the
  event's ``after``, then ``before_<key>`` for its ``before``; a placeholder with no value
  shows as "—");
- a ``visibility``: who may read events of this type (officers only, the organisations of
  the object, or anyone);
- ``outbox``: whether it is also a partner-facing event (§13.2), with the JSON ``schema``
  of its ``data``.

``audit_record*`` and ``event_record*`` ask ``event_type_require`` before writing: a name
nobody registered raises ``UnregisteredEventType`` and nothing is written.

The kernel imports no domain: it only holds the registry.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.html import escape

# The API version every outbox payload carries (§13.2: event types are versioned with it).
API_VERSION = "v1"


class Visibility(enum.StrEnum):
    """Who may read events of a type."""

    # Fund staff only (the history on an object's page is for officers, §12).
    OFFICERS = "officers"
    # Fund staff and the members of the organisations the event names
    # (``organisation_ids`` of an outbox event); partner webhooks see only these.
    ORGANISATIONS = "organisations"
    # Anyone (an open call, for example).
    PUBLIC = "public"


OFFICERS = Visibility.OFFICERS
ORGANISATIONS = Visibility.ORGANISATIONS
PUBLIC = Visibility.PUBLIC


class UnregisteredEventType(LookupError):
    """An audit action or outbox event type that no domain registered."""

    def __init__(self, name: str, *, outbox: bool = False) -> None:
        self.name = name
        what = "an outbox event type" if outbox else "an event type"
        super().__init__(
            f"{name!r} is not registered as {what}: register it in its domain's events "
            "module (fundapp.kernel.events.event_type_register) before writing it"
        )


@dataclass(frozen=True)
class EventType:
    name: str
    sentence: Promise | str
    visibility: Visibility = Visibility.OFFICERS
    outbox: bool = False
    # JSON Schema of the outbox event's ``data`` (required when ``outbox``).
    schema: Mapping[str, Any] | None = None
    # An example ``data``, which the tests validate against ``schema``.
    example: Mapping[str, Any] | None = None
    # The sentence for an event recorded without the values the full one names (an older
    # event, or a path that records less): "The gate was evaluated".
    short: Promise | str | None = None
    # Translated labels for coded values shown in the sentence: placeholder -> code -> label
    # (``{"outcome": GateOutcome}`` for a ``TextChoices``, or a plain mapping).
    labels: Mapping[str, Any] | None = None

    def label(self, placeholder: str, value: Any) -> Any:
        """The translated label of a coded value, or the value itself."""
        choices = (self.labels or {}).get(placeholder.removeprefix("before_"))
        if choices is None or not isinstance(value, str):
            return value
        if isinstance(choices, Mapping):
            return choices.get(value, value)
        try:
            return choices(value).label
        except ValueError:
            return value

    def __post_init__(self) -> None:
        if self.outbox and (self.schema is None or self.example is None):
            raise ValueError(f"outbox event type {self.name!r} needs a schema and an example")

    def placeholders(self) -> frozenset[str]:
        """The named placeholders of the sentence (in the current language)."""
        return frozenset(
            name
            for _text, name, _spec, _conv in string.Formatter().parse(str(self.sentence))
            if name
        )


# A sentence, or the sentence and its short form (``EventType.short``).
Sentences = Promise | str | tuple[Promise | str, Promise | str]


def event_types_declare(
    visibility: Visibility, sentences: Mapping[str, Sentences]
) -> list[EventType]:
    """A batch of types that share one visibility and are not outbox events, declared as a
    table: name → sentence, or name → (sentence, short sentence). A type with labels or an
    outbox payload is declared as an ``EventType`` of its own."""
    declared = []
    for name, sentence in sentences.items():
        full, short = sentence if isinstance(sentence, tuple) else (sentence, None)
        declared.append(EventType(name, full, visibility, short=short))
    return declared


_registry: dict[str, EventType] = {}


def event_type_register(*types: EventType) -> None:
    """Register event types. Registering the same name again with a different definition
    is a programming error (two domains would be writing one name)."""
    for event_type in types:
        existing = _registry.get(event_type.name)
        if existing is not None and existing != event_type:
            raise ValueError(f"event type {event_type.name!r} is registered twice")
        _registry[event_type.name] = event_type


def event_type_unregister(*names: str) -> None:
    for name in names:
        _registry.pop(name, None)


@contextmanager
def event_types_registered(*types: EventType) -> Iterator[None]:
    """Register types for the duration of a block (tests and tools with their own types)."""
    new = [t for t in types if t.name not in _registry]
    event_type_register(*new)
    try:
        yield
    finally:
        event_type_unregister(*(t.name for t in new))


def event_type(name: str) -> EventType:
    """The registered type, or ``UnregisteredEventType``."""
    try:
        return _registry[name]
    except KeyError:
        raise UnregisteredEventType(name) from None


def event_type_get(name: str) -> EventType | None:
    return _registry.get(name)


def event_types() -> list[EventType]:
    """Every registered type, by name."""
    return [_registry[name] for name in sorted(_registry)]


def event_type_require(names: Iterable[str], *, outbox: bool = False) -> None:
    """Raise ``UnregisteredEventType`` for the first name that is not registered (as an
    outbox type, with ``outbox``). Called by every writer before it writes."""
    for name in names:
        registered = _registry.get(name)
        if registered is None or (outbox and not registered.outbox):
            raise UnregisteredEventType(name, outbox=outbox)


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "—"


def event_sentence(name: str, values: Mapping[str, Any], *, escape_sentence: bool = False) -> str:
    """The type's sentence in the current language with ``values`` filled in; when a
    placeholder has no value, its ``short`` sentence if it has one, otherwise "—" in its
    place; the bare name for a type that is no longer registered. With
    ``escape_sentence`` the sentence's own text is HTML-escaped (the values are the
    caller's to escape)."""
    registered = _registry.get(name)
    if registered is None:
        return escape(name) if escape_sentence else name
    sentence = str(registered.sentence)
    if registered.short is not None and not registered.placeholders() <= set(values):
        sentence = str(registered.short)
    if escape_sentence:
        sentence = escape(sentence)
    return sentence.format_map(_Missing(values))


# --------------------------------------------------------------------------- payloads

INTEGER = {"type": "integer"}
STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
DECIMAL = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}
DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
DATETIME = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T"}
ID = {"type": "integer", "minimum": 1}


def nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


def data_schema(properties: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The JSON Schema of an outbox event's ``data``: the resource's fields (all required;
    more may be added, §21) and its ``resource_version``."""
    return {
        "type": "object",
        "required": [*properties, "resource_version"],
        "properties": {**properties, **extra, "resource_version": ID},
    }


# The §13.2 envelope around ``data``: what a partner receives.
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type", "created_at", "api_version", "data"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^evt_[0-9a-f]{32}$"},
        "type": STRING,
        "created_at": DATETIME,
        "api_version": {"const": API_VERSION},
        "data": {"type": "object"},
    },
}
