"""Bearer API keys (§14): one organisation, scopes, expiry, revocation, hash only."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from fundapp.accounts.models import API_KEY_PREFIX, ApiKey, Organisation
from fundapp.prepared import fetch_prepared


def parse_key(raw: str) -> tuple[str, str] | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


# ``last_used_at`` tells officers which keys are alive; to the minute is precise enough,
# and stamping it on every request would make each read a write.
LAST_USE_RESOLUTION: Final = timedelta(minutes=1)


def stamp_last_use(key: ApiKey) -> None:
    """Record that the key was used now, at most once a minute per key.

    The update is conditional in SQL too, so concurrent requests of one key at the turn
    of the minute write the row once and never wait on each other's row lock for long.
    """
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USE_RESOLUTION:
        return
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USE_RESOLUTION), pk=key.pk
    ).update(last_used_at=now)
    key.last_used_at = now


_KEY_FIELDS: Final = [f.attname for f in ApiKey._meta.concrete_fields]
_ORGANISATION_FIELDS: Final = [f.attname for f in Organisation._meta.concrete_fields]


def _find_key_sql(placeholder: str) -> str:
    key, organisation = ApiKey._meta, Organisation._meta
    columns = [f"k.{f.column}" for f in key.concrete_fields]
    columns += [f"o.{f.column}" for f in organisation.concrete_fields]
    return (
        f"SELECT {', '.join(columns)} FROM {key.db_table} k "  # noqa: S608 - model names only
        f"JOIN {organisation.db_table} o ON o.id = k.organisation_id "
        f"WHERE k.key_id = {placeholder}"
    )


_FIND_KEY_SQL: Final = _find_key_sql("%s")
_KEY_WIDTH: Final = len(_KEY_FIELDS) + len(_ORGANISATION_FIELDS)


def _key_from_row(row: Sequence[Any]) -> ApiKey:
    split = len(_KEY_FIELDS)
    key = ApiKey.from_db(DEFAULT_DB_ALIAS, _KEY_FIELDS, row[:split])
    key.organisation = Organisation.from_db(
        DEFAULT_DB_ALIAS, _ORGANISATION_FIELDS, row[split:_KEY_WIDTH]
    )
    return key


def find_key(key_id: str) -> ApiKey | None:
    """The key with this public id and its organisation, in one query.

    Every API request runs this first, so it is plain SQL over the two tables: the same
    rows ``select_related("organisation")`` would read, without building the query anew
    each time (which costs more than PostgreSQL's answer), and a prepared statement, so
    PostgreSQL does not parse and plan it anew either; being the first statement of the
    request, it is also the connection's health check (:func:`fetch_prepared`). The row
    comes in the binary format (its timestamps and scopes are not printed and parsed as
    text). The row is read on every request: a revoked or expired key stops working at
    once.
    """
    rows = fetch_prepared(_FIND_KEY_SQL, [key_id], binary=True)
    return _key_from_row(rows[0]) if rows else None


@functools.cache
def _with_key_sql(sql: str) -> str:
    key = _find_key_sql("%(api_key_id)s")
    # The caller's statement text and model names, never a value.
    return (
        f"WITH found_key AS ({key}), found AS ({sql}) "  # noqa: S608
        "SELECT found_key.*, found.* FROM (SELECT) AS one "
        "LEFT JOIN found_key ON TRUE LEFT JOIN found ON TRUE"
    )


def find_key_with(
    key_id: str, sql: str, params: dict[str, Any]
) -> tuple[ApiKey | None, list[tuple[Any, ...]]]:
    """The key, as :func:`find_key`, and the rows of the read-only statement ``sql``
    (named parameters ``params``), in one statement: one round trip where a view knows
    before authenticating what it will read (the single licence check, §19).

    The rows are read whether or not the key is valid; the caller uses them only once
    the key has been authenticated and authorised as on any request (:func:`use_found_key`
    hands the key to :class:`ApiKeyAuthentication`, which checks it as always). A row of
    ``sql`` whose first column is NULL cannot be told from "no rows": ``sql``'s first
    column must never be NULL. The rows come in the binary format, as :func:`find_key`'s:
    ``sql`` returns no ``json`` or ``jsonb`` column (it would come decoded).
    """
    rows = fetch_prepared(_with_key_sql(sql), {**params, "api_key_id": key_id}, binary=True)
    key = _key_from_row(rows[0]) if rows and rows[0][0] is not None else None
    found = [row[_KEY_WIDTH:] for row in rows if row[_KEY_WIDTH] is not None]
    return key, found


_FOUND_KEY: Final = "api_key_found"


def bearer_key(request: HttpRequest) -> tuple[str, str] | None:
    """The public id and the secret of the API key in the request's ``Authorization``
    header, if any (the key is not looked up, let alone checked)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, raw = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return parse_key(raw.strip())


def bearer_key_id(request: HttpRequest) -> str | None:
    """The public id of the API key in the request's ``Authorization`` header, if any."""
    parsed = bearer_key(request)
    return parsed[0] if parsed else None


def accepts_key(key: ApiKey | None, secret_hash: str) -> bool:
    """Whether :class:`ApiKeyAuthentication` would accept ``key`` (found for the request's
    key id) with the secret whose hash (``hash_secret``) is ``secret_hash``: the secret
    matches, as ``ApiKey.matches`` compares it, and the key is neither revoked nor expired.
    The caller hashes the presented secret once for this and the rate limit's counter. A
    caller that finds it would not lets the API's view answer (401)."""
    return key is not None and hmac.compare_digest(key.secret_hash, secret_hash) and key.is_usable()


def use_found_key(request: HttpRequest, key_id: str, key: ApiKey | None) -> None:
    """Let :class:`ApiKeyAuthentication` take ``key`` (read by :func:`find_key_with` in
    this request) for ``key_id`` instead of reading it again. It checks it as any key."""
    setattr(request, _FOUND_KEY, (key_id, key))


def _key_for(request: Any, key_id: str) -> ApiKey | None:
    found = getattr(getattr(request, "_request", request), _FOUND_KEY, None)
    if found is not None and found[0] == key_id:
        return found[1]
    return find_key(key_id)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer jkf_<id>_<secret>``; request.user and request.auth are the key."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _sep, raw = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        parsed = parse_key(raw.strip())
        if parsed is None:
            raise exceptions.AuthenticationFailed(_("Invalid API key."))
        key_id, secret = parsed
        key = _key_for(request, key_id)
        if key is None or not key.matches(secret):
            raise exceptions.AuthenticationFailed(_("Invalid API key."))
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This API key has been revoked."))
        if not key.is_usable():
            raise exceptions.AuthenticationFailed(_("This API key has expired."))
        stamp_last_use(key)
        return key, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
