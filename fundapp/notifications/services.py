"""Notifications (§13): an in-app row now, an e-mail once the change is committed.

Every part of the product calls ``notify()`` inside the transaction of the change it
reports. The rows commit or roll back with that change; the e-mails are enqueued only
after the commit, so nobody is told about something that did not happen. A lost broker
message delays an e-mail but never loses it: the row stays ``pending`` and the reconciler
task enqueues it again (§16).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from fundapp.accounts.models import User
from fundapp.audit.services import AuditEntry, audit_record, audit_record_many
from fundapp.errors import NotFound
from fundapp.oncommit import Debounced
from fundapp.rows import rows_insert
from fundapp.statements import Part

from .messages import Message, notification_message, notifications_render
from .models import EMAIL_WORKFLOW, URL_MAX_LENGTH, EmailState, Notification
from .selectors import EMAIL_RETRY_WINDOW

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipient:
    """What notifying a person takes, read without loading the whole ``User``."""

    pk: int
    preferred_language: str
    is_active: bool
    email: str


def recipient_language(user: User | Recipient) -> str:
    """The person's preferred language if the site offers it, else the site default (en)."""
    offered = {code for code, _name in settings.LANGUAGES}
    preferred = (user.preferred_language or "").strip()
    return preferred if preferred in offered else settings.LANGUAGE_CODE


def is_email_deliverable(user: User | Recipient) -> bool:
    return bool(user.is_active and (user.email or "").strip())


def _distinct_recipients(users: Iterable[User | None]) -> list[User]:
    seen: set[int] = set()
    recipients = []
    for user in users:
        if user is None or user.pk is None or user.pk in seen:
            continue
        seen.add(user.pk)
        recipients.append(user)
    return recipients


def _check_url(url: str) -> str:
    # The link is put in an href: only our own paths and plain web addresses.
    url = url.strip()
    if not url:
        return ""
    local = url.startswith("/") and not url.startswith("//")
    if not (local or url.startswith(("https://", "http://"))) or len(url) > URL_MAX_LENGTH:
        raise ValueError(f"notification url must be a path or an http(s) address: {url!r}")
    return url


# The parameters' encoder, made once: the same text as ``json.dumps(…, cls=DjangoJSONEncoder)``.
_PARAMS_ENCODER = DjangoJSONEncoder()


def _checked(message: str, params: Mapping[str, Any] | None) -> tuple[Message, dict[str, Any]]:
    registered = notification_message(message)
    # Plain JSON as it will be read back: dates as ISO dates, decimals as strings.
    values = json.loads(_PARAMS_ENCODER.encode(dict(params or {})))
    registered.check(values)
    return registered, values


class _Checkable(Protocol):
    """A notice of any kind (``Notice``, ``RecipientsNotice``), as far as it is checked."""

    @property
    def message(self) -> str: ...

    @property
    def params(self) -> Mapping[str, Any] | None: ...

    @property
    def url(self) -> str: ...


class _ValuesNotice(_Checkable, Protocol):
    """A notice whose recipients are ``(user id, preferred language, active, e-mail)``
    (``fundapp.kernel.notices.RecipientsNotice``)."""

    @property
    def recipients(self) -> Sequence[tuple[int, str, bool, str]]: ...


def _checked_each(notices: Sequence[_Checkable]) -> Iterator[tuple[Message, dict[str, Any]]]:
    """``_checked`` of each notice in turn (raising as it would, when it would), with the
    parameters of all made plain in one encoding and decoding. Should one of them not
    encode, each notice is checked alone, so the same notice fails with the same error."""
    try:
        plain = json.loads(_PARAMS_ENCODER.encode([dict(n.params or {}) for n in notices]))
    except (TypeError, ValueError):
        plain = None
    for index, notice in enumerate(notices):
        if plain is None:
            yield _checked(notice.message, notice.params)
            continue
        registered = notification_message(notice.message)
        registered.check(plain[index])
        yield registered, plain[index]


def notify(
    *,
    users: Iterable[User | None],
    message: str,
    params: Mapping[str, Any] | None = None,
    url: str = "",
    email: bool = True,
) -> list[Notification]:
    """Tell each of ``users`` about something, in the app and (after commit) by e-mail.

    ``message`` is a registered message (``fundapp.notifications.messages``) and ``params``
    exactly its parameters (ids of the objects it names, codes, numbers, ISO dates: plain
    JSON); ValueError otherwise. Nothing is rendered here: each reader reads the row in
    their language when they read it, the e-mail in the recipient's language when it is
    sent.

    Guarantees: one row per distinct person, written in the caller's transaction (rolled
    back with it). E-mails are enqueued only after the outermost transaction commits, only
    for active people with an address, and each is sent at most once per successful
    delivery (the row's ``email_state`` decides). Inactive people and people without an
    address still get the in-app row. No audit event: a notification reports a change
    that was audited where it happened.
    """
    return notify_many(
        [Notice(users=list(users), message=message, params=params, url=url, email=email)]
    )


@dataclass(frozen=True)
class Notice:
    """One ``notify`` call of a batch: the same arguments, for ``notify_many``."""

    users: Sequence[User | None]
    message: str
    params: Mapping[str, Any] | None = None
    url: str = ""
    email: bool = True


def notify_many(notices: Sequence[Notice]) -> list[Notification]:
    """``notify`` for a batch of notices: the set-based counterpart for periodic jobs.

    Same guarantees as ``notify`` for each notice (one row per distinct person of that
    notice, rolled back with the caller's transaction, e-mails enqueued only after
    commit), in a fixed number of queries whatever the number of notices and people: one
    insert and one after-commit enqueue for the whole batch.
    """
    now = timezone.now()
    rows = []
    for notice, (registered, params) in zip(notices, _checked_each(notices), strict=True):
        link = _check_url(notice.url)
        for user in _distinct_recipients(notice.users):
            wants_email = notice.email and is_email_deliverable(user)
            rows.append(
                Notification(
                    user=user,
                    kind=registered.kind,
                    message=registered.key,
                    params=params,
                    title="",
                    body="",
                    url=link,
                    created_at=now,
                    email_state=EmailState.PENDING if wants_email else EmailState.NOT_REQUESTED,
                )
            )
    if not rows:
        return []
    with transaction.atomic():
        rows_insert(Notification, rows, _COLUMNS)
        pending = [row.pk for row in rows if row.email_state == EmailState.PENDING]
        if pending:
            # robust: a broker outage after the commit must not turn the caller's committed
            # change into an error; the reconciler sends these later.
            transaction.on_commit(lambda: _enqueue_emails(pending), robust=True)
    return rows


_COLUMNS = (
    "user",
    "kind",
    "message",
    "params",
    "title",
    "body",
    "url",
    "created_at",
    "email_state",
)


@dataclass(frozen=True)
class NotifyParts:
    """Notifications to insert as one part (``notifications``) of a caller's combined
    statement (``fundapp.statements``); ``notified(results)`` enqueues their e-mails after
    commit and returns the ids of the rows, or none if the part was built without them
    (``ids=False``). ``emails`` says whether any row requests an e-mail."""

    part: Part
    emails: bool = True

    def notified(self, results: dict[str, Any]) -> list[int]:
        if self.part.result is None:
            if self.emails:
                _sweep_after_commit()
            return []
        rows = results.get("notifications") or []
        if any(state == EmailState.PENDING for _pk, state in rows):
            _sweep_after_commit()
        return [pk for pk, _state in rows]


def notify_parts(
    *,
    recipients: Sequence[Recipient],
    message: str,
    params: Mapping[str, Any] | None = None,
    url: str = "",
    email: bool = True,
) -> NotifyParts | None:
    """``notify`` as a part of the caller's one statement, for a hot path (§19).

    The same rows as ``notify``: one per distinct recipient, with the message and its
    parameters, written (and rolled back) with the caller's statement; e-mail requested
    for active people with an address. Recipients are plain values (``Recipient``), so no
    ``User`` is loaded or instantiated. ``None`` when there is no one to tell. E-mails go
    out after commit through the sender of every pending e-mail, enqueued at most once a
    second per process (``EMAIL_SWEEP_DELAY_SECONDS``) rather than once per transaction; a
    lost message leaves the rows pending for the reconciler, as with ``notify``.
    """
    return notify_many_parts(
        [
            RecipientsNotice(
                recipients=recipients, message=message, params=params, url=url, email=email
            )
        ]
    )


@dataclass(frozen=True)
class RecipientsNotice:
    """One notice of a batch for ``notify_many_parts``: the arguments of ``notify_parts``."""

    recipients: Sequence[Recipient]
    message: str
    params: Mapping[str, Any] | None = None
    url: str = ""
    email: bool = True


# The rows come as arrays, each row's person, its notice's position and whether to e-mail
# them, and the notices as two JSON documents, their kind, message and link, and their
# parameters as encoded to be checked; inserted in the rows' order. Each notice's parameters
# are encoded once whatever the number of its recipients, and no parameter is a list
# (psycopg converts a list element by element).
_PARTS_SQL = f"""INSERT INTO {Notification._meta.db_table}
    (user_id, kind, message, params, title, body, url, created_at, read_at, email_state,
     emailed_at)
SELECT r.user_id, n.notice->>0, n.notice->>1, p.params, '', '', n.notice->>2,
       %s::timestamptz, NULL,
       CASE WHEN r.email THEN '{EmailState.PENDING.value}'
            ELSE '{EmailState.NOT_REQUESTED.value}' END,
       NULL
  FROM unnest(%s::bigint[], %s::bigint[], %s::boolean[])
       WITH ORDINALITY AS r(user_id, i, email, ord)
  JOIN jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS n(notice, i) USING (i)
  JOIN jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS p(params, i) USING (i)
 ORDER BY r.ord"""  # noqa: S608 (table name and states from the model)


def _described(notices: Sequence[_Checkable]) -> tuple[list[list[str]], str]:
    """Each notice's kind, message and link, checked in ``notify_many``'s order (the
    message and its parameters made plain as ``_checked_each`` does, then the link, notice
    after notice, raising as it would), and the parameters of all as one JSON array."""
    try:
        encoded: str | None = _PARAMS_ENCODER.encode([dict(n.params or {}) for n in notices])
    except (TypeError, ValueError):
        encoded = None
    described = []
    if encoded is None:
        # Each notice alone, so the same notice fails with the same error.
        plain = []
        for notice in notices:
            registered, values = _checked(notice.message, notice.params)
            described.append([registered.kind, registered.key, _check_url(notice.url)])
            plain.append(values)
        return described, json.dumps(plain)
    for notice, values in zip(notices, json.loads(encoded), strict=True):
        registered = notification_message(notice.message)
        registered.check(values)
        described.append([registered.kind, registered.key, _check_url(notice.url)])
    return described, encoded


def _recipients_part(
    notices: Sequence[_Checkable], people: Sequence[Sequence[tuple[int, bool]]], *, ids: bool
) -> NotifyParts | None:
    """The part inserting, for each notice in turn, a row per person of its ``people``
    (``(user id, whether to e-mail them)``, each once), after checking every notice as
    ``notify_many`` does; returning the rows' ids and e-mail states only if ``ids`` (a row
    requests an e-mail exactly when its person is to be e-mailed, so the caller knows
    whether to send any without reading them back)."""
    described, params = _described(notices)
    user_ids: list[int] = []
    positions: list[int] = []
    emails: list[str] = []
    for position, persons in enumerate(people, start=1):
        for user_id, email in persons:
            user_ids.append(user_id)
            positions.append(position)
            emails.append("t" if email else "f")
    if not user_ids:
        return None
    return NotifyParts(
        Part(
            "notifications",
            _PARTS_SQL + " RETURNING id, email_state" if ids else _PARTS_SQL,
            [
                timezone.now(),
                "{" + ",".join(map(str, user_ids)) + "}",
                "{" + ",".join(map(str, positions)) + "}",
                "{" + ",".join(emails) + "}",
                json.dumps(described),
                params,
            ],
            result=(
                "(SELECT json_agg(json_build_array(id, email_state) ORDER BY id) "
                "FROM notifications)"
                if ids
                else None
            ),
        ),
        emails="t" in emails,
    )


def notify_many_parts(
    notices: Sequence[RecipientsNotice], *, ids: bool = True
) -> NotifyParts | None:
    """``notify_parts`` for a batch of notices, as one part (``notifications``) whatever
    their number: per notice, one row per distinct recipient, in the order given. ``None``
    when there is no one to tell. A caller that does not read the rows' ids
    (``ids=False``) spares the database returning them: the same rows are written and the
    same e-mails sent."""
    # Several notices often name one list of people (the fund officers): sorted out once.
    people: dict[tuple[int, bool], list[tuple[int, bool]]] = {}
    for notice in notices:
        key = (id(notice.recipients), notice.email)
        if key not in people:
            people[key] = [
                (r.pk, notice.email and is_email_deliverable(r))
                for r in {r.pk: r for r in notice.recipients}.values()
            ]
    return _recipients_part(
        notices, [people[(id(n.recipients), n.email)] for n in notices], ids=ids
    )


def notify_values_many_parts(
    notices: Sequence[_ValuesNotice], *, ids: bool = True
) -> NotifyParts | None:
    """``notify_many_parts`` of notices whose recipients are plain values, ``(user id,
    preferred language, active, e-mail)`` as ``Recipient`` takes them, each e-mailed if
    they can be: no ``Recipient`` is made. ``ids`` as for ``notify_many_parts``."""
    people: dict[int, list[tuple[int, bool]]] = {}
    for notice in notices:
        key = id(notice.recipients)
        if key not in people:
            people[key] = [
                (pk, bool(active and (email or "").strip()))
                for pk, _language, active, email in {r[0]: r for r in notice.recipients}.values()
            ]
    return _recipients_part(notices, [people[id(n.recipients)] for n in notices], ids=ids)


# ``notify_parts`` does not enqueue one message per transaction: after commit it enqueues
# the sender of every pending e-mail at most once per window per process, to run when the
# window ends. A commit the window skips happened before that run starts, so the run finds
# its rows pending. The reconciler still catches what a lost message leaves.
EMAIL_SWEEP_DELAY_SECONDS = 1.0


def _enqueue_sweep(delay: float) -> None:
    from .tasks import send_pending_notification_emails

    send_pending_notification_emails.apply_async(countdown=delay)


email_sweep = Debounced(_enqueue_sweep, EMAIL_SWEEP_DELAY_SECONDS)
_sweep_after_commit = email_sweep.after_commit


def _enqueue_emails(notification_ids: list[int]) -> None:
    from .tasks import send_notification_emails

    send_notification_emails.delay(notification_ids=notification_ids)


def notification_mark_read(*, notification: Notification, actor: Any) -> Notification:
    """Mark one of the actor's own notifications read.

    Idempotent: the first read time stays. Someone else's notification answers NotFound,
    the same as a missing one. A conditional UPDATE decides, so no row lock is needed.
    """
    if getattr(actor, "pk", None) is None or notification.user_id != actor.pk:
        raise NotFound()
    now = timezone.now()
    changed = Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=now
    )
    if changed:
        notification.read_at = now
    else:
        notification.refresh_from_db(fields=["read_at"])
    return notification


def notification_mark_all_read(*, actor: Any) -> int:
    """Mark every unread notification of the actor read; return how many changed."""
    if getattr(actor, "pk", None) is None:
        return 0
    return Notification.objects.filter(user_id=actor.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )


# --------------------------------------------------------------------------- e-mail


def absolute_url(path: str) -> str:
    if not path.startswith("/"):
        return path
    base = str(getattr(settings, "SITE_URL", "") or "http://localhost:8000").rstrip("/")
    return base + path


def notification_email(
    notification: Notification, *, connection: BaseEmailBackend | None = None
) -> EmailMessage:
    """The e-mail for one notification, rendered when it is sent, in the recipient's
    preferred language at that moment, with names in that language.

    Templates: ``emails/<kind>_subject.txt`` and ``emails/<kind>_body.txt``.
    """
    user = notification.user
    with translation.override(recipient_language(user)):
        # Rendered now, in the language the person prefers when it is sent.
        notifications_render([notification])
        context = {
            "notification": notification,
            "recipient_name": str(user),
            "title": notification.shown_title,
            "body": notification.shown_body,
            "link": absolute_url(notification.url),
            "kind_label": notification.get_kind_display(),
        }
        subject = render_to_string(f"emails/{notification.kind}_subject.txt", context)
        text = render_to_string(f"emails/{notification.kind}_body.txt", context)
    return EmailMessage(
        # A header is one line: templates may end with a newline, titles never carry one.
        subject=" ".join(subject.split()),
        body=text.strip() + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        connection=connection,
    )


@dataclass
class EmailReport:
    sent: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[int]]:
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed}


def _set_email_state(notification: Notification, state: str, *, at: datetime | None) -> None:
    """Move the locked row along ``EMAIL_WORKFLOW`` (the fund's own job) and save it. A
    skipped e-mail is audited (``notification.email_skipped``); a sent one is recorded by
    ``emailed_at`` alone: sending runs after the commit that notified, and adds nothing
    else to it (no audit event, no sealing of the chain) for every e-mail that goes out."""
    before = EMAIL_WORKFLOW.move(notification, state)
    notification.emailed_at = at
    notification.save(update_fields=["email_state", "emailed_at"])
    if state == EmailState.SENT:
        return
    audit_record(
        actor=None,
        action=f"notification.email_{state}",
        obj=notification,
        before={"email_state": before},
        after={"email_state": state, "kind": notification.kind},
    )


def notification_emails_send(*, notification_ids: Sequence[int]) -> EmailReport:
    """Send the pending e-mails of these notifications; safe to run twice or concurrently.

    Each row is locked (``skip_locked``: a row another worker holds is that worker's) and
    re-checked as ``pending`` before sending, and marked ``sent`` in the same transaction,
    so a redelivered task sends nothing again. If the database fails after the SMTP server
    accepted a message, the row stays pending and the e-mail may go twice: at least once,
    never lost. A person who has since been switched off or lost their address is skipped.
    A failure leaves the row pending for a retry and is reported in ``failed``.
    """
    report = EmailReport()
    ids = sorted({int(pk) for pk in notification_ids})
    if not ids:
        return report
    with get_connection() as connection:
        for pk in ids:
            try:
                with transaction.atomic():
                    notification = (
                        Notification.objects.select_for_update(of=("self",), skip_locked=True)
                        .select_related("user")
                        .filter(pk=pk, email_state=EmailState.PENDING)
                        .first()
                    )
                    if notification is None:
                        continue
                    if not is_email_deliverable(notification.user):
                        _set_email_state(notification, EmailState.SKIPPED, at=None)
                        report.skipped.append(pk)
                        continue
                    notification_email(notification, connection=connection).send()
                    _set_email_state(notification, EmailState.SENT, at=timezone.now())
                    report.sent.append(pk)
            except Exception:  # one bad address or template must not hold up the others
                logger.exception("Notification %s: e-mail not sent", pk)
                report.failed.append(pk)
    return report


def notification_emails_expire(*, now: datetime) -> int:
    """Give up on e-mails still unsent after the retry window: ``pending`` -> ``failed``.

    Set-based: the expired rows are locked (``skip_locked``: a row a sender holds is being
    sent), checked against ``EMAIL_WORKFLOW``, updated in one statement and audited
    (``notification.email_failed``) in one insert, in one transaction."""
    with transaction.atomic():
        expired = list(
            Notification.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(email_state=EmailState.PENDING, created_at__lte=now - EMAIL_RETRY_WINDOW)
            .order_by("pk")
            .only("pk", "kind", "email_state")
        )
        if not expired:
            return 0
        for notification in expired:
            EMAIL_WORKFLOW.check(notification.email_state, EmailState.FAILED)
        Notification.objects.filter(pk__in=[n.pk for n in expired]).update(
            email_state=EmailState.FAILED
        )
        audit_record_many(
            [
                AuditEntry(
                    actor=None,
                    action="notification.email_failed",
                    obj=notification,
                    before={"email_state": EmailState.PENDING},
                    after={"email_state": EmailState.FAILED, "kind": notification.kind},
                )
                for notification in expired
            ]
        )
    return len(expired)
