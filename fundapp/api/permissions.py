"""Scopes for API keys (§14). Browser sessions are governed by role rules alone."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from fundapp.accounts.models import ApiKey


def actor_of(request):
    """The acting user or API key, as the services take it."""
    return request.user


class HasScope(BasePermission):
    """A key needs the view's scope for the method: ``required_scopes = {"GET": "proposals:read", ...}``;
    a tuple of scopes means any one of them."""

    message = "This API key lacks the scope this request needs."

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.user, ApiKey):
            return bool(request.user and request.user.is_authenticated)
        scopes = getattr(view, "required_scopes", {})
        action = getattr(view, "action", None)
        needed = scopes.get(action) or scopes.get(request.method) or scopes.get("*")
        alternatives = (needed,) if isinstance(needed, str) else tuple(needed or ())
        if any(request.user.has_scope(scope) for scope in alternatives):
            return True
        # A detail route answers 404 for an object the key may not see, never 403 (§2):
        # look it up first; only a visible object gets the scope refusal.
        lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", "pk")
        if lookup in getattr(view, "kwargs", {}) and hasattr(view, "get_object"):
            view.get_object()
        return False
