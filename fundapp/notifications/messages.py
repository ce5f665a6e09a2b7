"""The registry of notification messages (§13.1): what a notification says, rendered when
it is read, in the reader's language.

A notification stores the key of a registered ``Message`` and its parameters (plain JSON),
never rendered text. A message has

- a ``key`` (``gate.evaluated``) and the ``kind`` it is filed under (the list's "Kind"
  column and the e-mail's templates);
- a ``title`` and a ``body``: lazy translated text with named placeholders
  (``{project}``), as ``str.format`` reads them;
- its ``params``: for each placeholder, how its stored value is shown. ``Name("project")``
  stores an id and shows the object's name (a project's title, an organisation's name…)
  in the reader's language; ``Amount`` whole yen or won; ``Day`` an ISO date as the
  language writes it; ``Label`` a code as its translated label; ``Reason`` a code looked
  up in another registry; ``Plain`` a value shown as it was given (a number, a reference,
  a reason someone typed).

Each domain registers its messages and the names of its objects from its
``AppConfig.ready`` (``projects.notifications``, ``ip_licensing.notifications``; the
kernel's own below), so this module imports no domain. ``notifications_render`` renders a
page of rows with one query per kind of named object, whatever the page's size.
"""

from __future__ import annotations

import string
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db.models import Choices
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.templatetags.fund_format import format_local_date
from fundapp.money import format_amount

from .models import TITLE_MAX_LENGTH, NotificationKind

if TYPE_CHECKING:
    from .models import Notification

# ids -> {id: the object's name in the active language}; one query whatever the number.
NameLoader = Callable[[Sequence[int]], dict[int, str]]


def _language() -> str:
    return (get_language() or "en")[:2]


class Param:
    """How one stored parameter is shown."""

    # The kind of named object the value is the id of, if any (``Name``).
    names: str | None = None

    def show(
        self, value: Any, params: Mapping[str, Any], names: Mapping[str, dict[int, str]]
    ) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Plain(Param):
    """Shown as given: a number, a reference, a web address, a reason someone typed."""

    def show(
        self, value: Any, params: Mapping[str, Any], names: Mapping[str, dict[int, str]]
    ) -> str:
        return "" if value is None else str(value)


@dataclass(frozen=True)
class Name(Param):
    """The id of an object, shown as its name in the reader's language (``#id`` if the
    object is gone)."""

    names: str | None = None

    def show(
        self, value: Any, params: Mapping[str, Any], names: Mapping[str, dict[int, str]]
    ) -> str:
        pk = _id(value)
        if pk is None or self.names is None:
            return "" if value is None else str(value)
        return names.get(self.names, {}).get(pk) or f"#{pk}"


@dataclass(frozen=True)
class Amount(Param):
    """Whole yen or won, in the currency given by the parameter ``currency`` names."""

    currency: str = "currency"

    def show(
        self, value: Any, params: Mapping[str, Any], names: Mapping[str, dict[int, str]]
    ) -> str:
        try:
            return format_amount(int(value), str(params.get(self.currency) or ""))
        except (TypeError, ValueError):
            return "" if value is None else str(value)


@dataclass(frozen=True)
class Day(Param):
    """An ISO date (``2026-04-01``), written as the reader's language writes dates."""

    def show(
        self, value: Any, params: Mapping[str, Any], names: Mapping[str, dict[int, str]]
    ) -> str:
        try:
            return format_local_date(date.fromisoformat(str(value)), _language())
        except ValueError:
            return "" if value is None else str(value)


@dataclass(frozen=True)
class Label(Param):
    """A code shown as its translated label (``TextChoices`` or a mapping of lazy text)."""

    choices: type[Choices] | Mapping[str, Any] = field(default_factory=dict)

    def show(
        self, value: Any, params: Mapping[str, Any], names: Mapping[str, dict[int, str]]
    ) -> str:
        if value is None or value == "":
            return ""
        if isinstance(self.choices, Mapping):
            return str(self.choices.get(value, value))
        try:
            return str(self.choices(value).label)
        except ValueError:
            return str(value)


@dataclass(frozen=True)
class Reason(Param):
    """A code another registry explains (a final-gate requirement), shown as its
    explanation in the reader's language; empty for no code."""

    explain: Callable[[str], Any] = str

    def show(
        self, value: Any, params: Mapping[str, Any], names: Mapping[str, dict[int, str]]
    ) -> str:
        return str(self.explain(str(value))) if value else ""


@dataclass(frozen=True)
class Message:
    key: str
    kind: str
    title: Promise | str
    body: Promise | str = ""
    params: Mapping[str, Param] = field(default_factory=dict)

    def placeholders(self) -> frozenset[str]:
        return frozenset(
            name
            for text in (self.title, self.body)
            for _text, name, _spec, _conv in string.Formatter().parse(str(text))
            if name
        )

    @property
    def body_is_typed(self) -> bool:
        """Whether the body is only what someone typed (a reason, a note): shown as they
        wrote it, in their language, rather than as text of the interface."""
        body = str(self.body)
        fields = [name for _text, name, _spec, _conv in string.Formatter().parse(body) if name]
        return (
            len(fields) == 1
            and body == f"{{{fields[0]}}}"
            and isinstance(self.params.get(fields[0]), Plain)
        )

    def check(self, params: Mapping[str, Any]) -> None:
        """ValueError unless ``params`` gives exactly the declared parameters."""
        given, declared = set(params), set(self.params)
        if given != declared:
            raise ValueError(
                f"notification {self.key!r} takes {sorted(declared)}, was given {sorted(given)}"
            )


_messages: dict[str, Message] = {}
_names: dict[str, NameLoader] = {}


def notification_message_register(*messages: Message) -> None:
    """Register messages. The same key with a different definition is a programming error;
    so are a kind the notifications do not know and a placeholder without a declared
    parameter."""
    for message in messages:
        if message.kind not in NotificationKind.values:
            raise ValueError(f"notification message {message.key!r}: unknown kind {message.kind!r}")
        existing = _messages.get(message.key)
        if existing is not None and existing != message:
            raise ValueError(f"notification message {message.key!r} is registered twice")
        missing = message.placeholders() - set(message.params)
        if missing:
            raise ValueError(f"notification message {message.key!r} lacks {sorted(missing)}")
        _messages[message.key] = message


def notification_message_unregister(*keys: str) -> None:
    for key in keys:
        _messages.pop(key, None)


@contextmanager
def notification_messages_registered(*messages: Message) -> Iterator[None]:
    """Register messages for the duration of a block (tests with their own messages)."""
    new = [m for m in messages if m.key not in _messages]
    notification_message_register(*new)
    try:
        yield
    finally:
        notification_message_unregister(*(m.key for m in new))


def notification_message(key: str) -> Message:
    """The registered message, or ValueError."""
    try:
        return _messages[key]
    except KeyError:
        raise ValueError(f"unknown notification message: {key!r}") from None


def notification_messages() -> list[Message]:
    return [_messages[key] for key in sorted(_messages)]


def notification_names_register(kind: str, loader: NameLoader) -> None:
    """Register how the objects of a kind are named: ``loader(ids)`` answers
    ``{id: name in the active language}`` in one query."""
    _names[kind] = loader


# --------------------------------------------------------------------------- rendering


def _fit_title(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TITLE_MAX_LENGTH else text[: TITLE_MAX_LENGTH - 1] + "…"


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "—"


def message_render(
    message: Message, params: Mapping[str, Any], names: Mapping[str, dict[int, str]]
) -> tuple[str, str]:
    """The message's title and body in the active language, with ``names`` (loaded by
    ``names_load``)."""
    values = _Missing(
        {key: param.show(params.get(key), params, names) for key, param in message.params.items()}
    )
    title = _fit_title(str(message.title).format_map(values))
    body = str(message.body).format_map(values).strip() if message.body else ""
    return title, body


def _id(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def names_load(wanted: Iterable[tuple[Message, Mapping[str, Any]]]) -> dict[str, dict[int, str]]:
    """The names the messages' parameters refer to, in the active language: one query per
    kind of object, none when nothing is named."""
    ids: dict[str, set[int]] = defaultdict(set)
    for message, params in wanted:
        for key, param in message.params.items():
            pk = _id(params.get(key))
            if param.names is not None and pk is not None:
                ids[param.names].add(pk)
    return {
        kind: _names[kind](sorted(pks)) if kind in _names else {}
        for kind, pks in sorted(ids.items())
    }


def notifications_render(
    rows: Iterable[Notification], *, language: str | None = None
) -> list[Notification]:
    """Render each row's title and body in the active language, or in ``language``
    (``row.shown_title``, ``row.shown_body``): a row with a message from its parameters, names as the reader
    reads them, loaded for the whole set in one query per kind of object; a row written
    before messages existed (or whose message is no longer registered) shows the text it
    was stored with. Returns the rows."""
    if language is not None:
        with translation.override(language):
            return notifications_render(rows)
    rows = list(rows)
    messages: dict[int, Message | None] = {}
    for index, row in enumerate(rows):
        messages[index] = _messages.get(row.message) if row.message else None
    names = names_load(
        (message, rows[index].params or {})
        for index, message in messages.items()
        if message is not None
    )
    for index, row in enumerate(rows):
        message = messages[index]
        if message is None:
            row.shown = (row.title or row.message, row.body)
        else:
            row.shown = message_render(message, row.params or {}, names)
    return rows


# --------------------------------------------------------------------------- the kernel's own


def register() -> None:
    """The kernel's own messages and named objects (people, organisations)."""
    from fundapp.accounts.models import Organisation, Side, User
    from fundapp.kernel.models import localized

    def organisations(ids: Sequence[int]) -> dict[int, str]:
        rows = Organisation.objects.filter(pk__in=ids).only("pk", "name_en", "name_ja", "name_ko")
        return {o.pk: localized(o, "name") for o in rows}

    def people(ids: Sequence[int]) -> dict[int, str]:
        rows = User.objects.filter(pk__in=ids).only(
            "pk", "display_name", "first_name", "last_name", "username"
        )
        return {u.pk: str(u) for u in rows}

    notification_names_register("organisation", organisations)
    notification_names_register("person", people)
    notification_message_register(
        Message(
            key="webhook.disabled",
            kind="webhook_disabled",
            title=_("A webhook subscription was disabled"),
            body=_("Deliveries to {url} kept failing, so the subscription was switched off."),
            params={"url": Plain()},
        ),
        Message(
            key="decision.declined",
            kind="decision_needed",
            title=_("Your approval was declined by {officer} ({side} side)"),
            body="{reason}",
            params={"officer": Name("person"), "side": Label(Side), "reason": Plain()},
        ),
    )
