"""``Idempotency-Key`` for writes that move money or report facts (§14).

Decorate a DRF view method with ``@idempotent`` (below the ``@action``/``@extend_schema``
decorators, so it wraps the handler itself)::

    @extend_schema(parameters=[IDEMPOTENCY_KEY], ...)
    @action(detail=True, methods=["post"])
    @idempotent
    def confirm(self, request, pk=None): ...

Guarantees, for one actor (a person or an API key) and one key:

- the key is required (400 with ``errors["Idempotency-Key"]`` when missing, blank or longer
  than 200 characters); it is checked after authentication and scopes;
- the first successful (2xx) response is stored with a fingerprint of the request (method,
  path and the SHA-256 of the canonical JSON of the body); the same request again gets that
  response back, byte for byte, with ``Idempotent-Replayed: true``, and nothing is written;
- the same key with another body, method or path answers 422 and changes nothing;
- the record row is inserted *before* the write, in the same database transaction, and
  completed before the commit: the unique constraint (actor, key) makes a concurrent
  duplicate wait for the first to finish, then replay it — never write twice;
- a refused or failed request (an exception, or a 4xx/5xx answer) rolls the whole
  transaction back, record included, so the client may retry with the same key.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from fundapp.accounts.models import ApiKey, User
from fundapp.errors import Conflict, ValidationFailed

from .models import ActorKind, IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200
# Headers of the first response worth giving back on a replay.
_KEPT_HEADERS = ("Location",)

IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    # What idempotency_key() accepts: printable ASCII, no surrounding spaces, 1 to 200.
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": "^[!-~]([ -~]{0,198}[!-~])?$",
    },
    OpenApiParameter.HEADER,
    required=True,
    description=(
        "A key the client chooses for this write (at most 200 characters, e.g. a UUID). "
        "Sending the same key with the same body again returns the first response, with "
        "the header `Idempotent-Replayed: true`, and writes nothing; the same key with "
        "another body answers 422. A refused request stores nothing: retry with the same key."
    ),
)


@dataclass(frozen=True)
class Fingerprint:
    method: str
    path: str
    request_hash: str


def _jsonable(data: Any) -> Any:
    """The request's parsed body as plain JSON values (form bodies and files included)."""
    if isinstance(data, QueryDict):
        return {key: [_jsonable(v) for v in values] for key, values in data.lists()}
    if isinstance(data, UploadedFile):
        # Files count by their bytes: the same key with another file of the same name and
        # size is another request (422), not a replay.
        digest = hashlib.sha256()
        for chunk in data.chunks():
            digest.update(chunk)
        data.seek(0)
        return {"file": data.name, "size": data.size, "sha256": digest.hexdigest()}
    if isinstance(data, dict):
        return {str(key): _jsonable(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_jsonable(value) for value in data]
    return data


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: equal bodies give equal strings."""
    return json.dumps(
        _jsonable(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def request_hash(data: Any) -> str:
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def idempotency_key(request: Request) -> str:
    """The request's key, or a 400 naming the header."""
    raw = request.headers.get(HEADER)
    key = (raw or "").strip()
    if not key:
        raise exceptions.ValidationError({HEADER: [_("This header is required for this request.")]})
    if len(key) > MAX_KEY_LENGTH:
        raise exceptions.ValidationError(
            {HEADER: [_("Use at most %(max)d characters.") % {"max": MAX_KEY_LENGTH}]}
        )
    if not key.isprintable():
        raise exceptions.ValidationError({HEADER: [_("Use printable characters only.")]})
    return key


def actor_identity(request: Request) -> tuple[str, int]:
    """Keys are scoped per actor: the API key, or the signed-in person."""
    actor = request.user
    if isinstance(actor, ApiKey):
        return ActorKind.API_KEY, actor.pk
    if isinstance(actor, User) and actor.is_authenticated:
        return ActorKind.USER, actor.pk
    raise exceptions.NotAuthenticated()


class _KeyTaken(Exception):
    """Another request of the same actor committed this key first."""


def _committed(actor_kind: str, actor_id: int, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(
        actor_kind=actor_kind, actor_id=actor_id, key=key
    ).first()


def _replay(record: IdempotencyRecord, fingerprint: Fingerprint) -> Response:
    if (record.method, record.path, record.request_hash) != (
        fingerprint.method,
        fingerprint.path,
        fingerprint.request_hash,
    ):
        message = _(
            "This Idempotency-Key was already used for a different request; "
            "use a new key for a new request."
        )
        raise ValidationFailed(message, code="idempotency_key_reused", errors={HEADER: [message]})
    if record.response_status is None:  # only a row written outside this module
        raise Conflict(_("The first request with this Idempotency-Key has not finished."))
    headers = {**record.response_headers, REPLAYED_HEADER: "true"}
    body = json.loads(record.response_body) if record.response_body else None
    return Response(body, status=record.response_status, headers=headers)


def idempotent_response(request: Request, handler: Callable[[], Response]) -> Response:
    """Run ``handler`` (the write) at most once per actor and ``Idempotency-Key``."""
    key = idempotency_key(request)
    actor_kind, actor_id = actor_identity(request)
    fingerprint = Fingerprint(
        method=request.method or "",
        path=request.path[:500],
        request_hash=request_hash(request.data),
    )

    existing = _committed(actor_kind, actor_id, key)
    if existing is not None:
        return _replay(existing, fingerprint)

    try:
        with transaction.atomic():
            try:
                # First statement of the transaction: a concurrent duplicate blocks here on
                # the unique constraint until this transaction commits or rolls back.
                record = IdempotencyRecord.objects.create(
                    actor_kind=actor_kind,
                    actor_id=actor_id,
                    key=key,
                    method=fingerprint.method,
                    path=fingerprint.path,
                    request_hash=fingerprint.request_hash,
                )
            except IntegrityError:
                raise _KeyTaken() from None
            response = handler()
            if response.status_code >= 400:
                # An error answered without raising: undo the write and the record alike.
                transaction.set_rollback(True)
                return response
            record.response_status = response.status_code
            record.response_body = (
                JSONRenderer().render(response.data).decode() if response.data is not None else ""
            )
            record.response_headers = {
                name: response[name] for name in _KEPT_HEADERS if response.has_header(name)
            }
            record.save(update_fields=["response_status", "response_body", "response_headers"])
            return response
    except _KeyTaken:
        existing = _committed(actor_kind, actor_id, key)
        if existing is None:  # the winner's row vanished: nothing sane to replay
            raise Conflict(
                _("A request with this Idempotency-Key is in progress; retry shortly.")
            ) from None
        return _replay(existing, fingerprint)


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Make a DRF view method (``self, request, *args, **kwargs``) idempotent by key."""

    @functools.wraps(view_method)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        return idempotent_response(request, lambda: view_method(self, request, *args, **kwargs))

    # The schema (fundapp.api.schema.AutoSchema) documents the header on every such view.
    wrapper.idempotent = True  # type: ignore[attr-defined]
    return wrapper


def is_idempotent(view_method: Any) -> bool:
    """Whether ``view_method`` was decorated with :func:`idempotent`."""
    return bool(getattr(view_method, "idempotent", False))
