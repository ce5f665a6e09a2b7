from __future__ import annotations

import ipaddress
import uuid

from .context import RequestContext, reset_request_context, set_request_context


def _client_address(request) -> str | None:
    addr = request.META.get("REMOTE_ADDR")
    try:
        return str(ipaddress.ip_address(addr)) if addr else None
    except ValueError:
        return None


class RequestContextMiddleware:
    """Gives each request an id (kept from X-Request-ID when sane) for the audit trail."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = (
            incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        )
        request.request_id = request_id
        token = set_request_context(
            RequestContext(request_id=request_id, client_address=_client_address(request))
        )
        try:
            response = self.get_response(request)
        finally:
            reset_request_context(token)
        response["X-Request-ID"] = request_id
        return response
