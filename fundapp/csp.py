"""The Content-Security-Policy of the pages (§17), sent by django-csp.

The policy itself is ``CONTENT_SECURITY_POLICY`` in ``fundapp.settings``: only this
origin, no inline script or style, no ``eval``, no framing. This middleware is django-csp's
with one difference: the partner API (JSON, ``API_PREFIXES``) is skipped before any work is
done, so API requests pay one ``str.startswith`` and nothing else.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponseBase

# JSON and the OpenAPI document: no HTML, so no policy to build. The interactive docs
# (/api/docs/, /api/redoc/) are pages and keep it.
API_PREFIXES = ("/api/v1/", "/api/schema/")


class PageCSPMiddleware(CSPMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        if request.path_info.startswith(API_PREFIXES):
            return
        super().process_request(request)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if request.path_info.startswith(API_PREFIXES):
            return response
        return super().process_response(request, response)
