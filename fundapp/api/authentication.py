"""Bearer API keys (§14): one organisation, scopes, expiry, revocation, hash only."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from fundapp.accounts.models import API_KEY_PREFIX, ApiKey


def parse_key(raw: str) -> tuple[str, str] | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


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
        key = ApiKey.objects.select_related("organisation").filter(key_id=key_id).first()
        if key is None or not key.matches(secret):
            raise exceptions.AuthenticationFailed(_("Invalid API key."))
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This API key has been revoked."))
        if not key.is_usable():
            raise exceptions.AuthenticationFailed(_("This API key has expired."))
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return key, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
