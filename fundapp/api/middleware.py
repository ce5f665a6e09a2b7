"""405 before anything else (§14): a method the resource does not support answers 405
problem+json, whoever asks — never a 401 or 403 from a permission check that would have
refused a method no one may use anyway."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from fundapp.api.errors import PROBLEM_CONTENT_TYPE


def allowed_methods(view_func: Callable[..., Any]) -> list[str] | None:
    """The methods a DRF view answers, or None for anything that is not a DRF view."""
    methods = _allowed_methods(view_func)
    return None if methods is None else list(methods)


# A view function's methods are fixed when its URL conf is built; every API request asks.
@functools.lru_cache(maxsize=1024)
def _allowed_methods(view_func: Callable[..., Any]) -> tuple[str, ...] | None:
    cls = getattr(view_func, "cls", None)
    if cls is None:
        return None
    actions = getattr(view_func, "actions", None)
    if actions is not None:  # a viewset: the router bound these methods
        methods = {method.upper() for method in actions}
    else:
        methods = {m.upper() for m in cls.http_method_names if hasattr(cls, m)}
    methods.add("OPTIONS")
    if "GET" in methods:
        methods.add("HEAD")
    return tuple(sorted(methods))


class MethodNotAllowedMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if not request.path_info.startswith("/api/"):
            return None
        allowed = _allowed_methods(view_func)
        if allowed is None or (request.method or "GET").upper() in allowed:
            return None
        body = {
            "type": "https://jk-fund.example/problems/method_not_allowed",
            "title": _("Method not allowed"),
            "status": 405,
            "detail": _("The method %(method)s is not allowed here.") % {"method": request.method},
            "code": "method_not_allowed",
        }
        response = JsonResponse(body, status=405, content_type=PROBLEM_CONTENT_TYPE)
        response["Allow"] = ", ".join(allowed)
        return response
