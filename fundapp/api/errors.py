"""RFC 9457 problem+json for every API error (§14, §21)."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from fundapp.errors import DomainError
from fundapp.outage import OUTAGE_ERRORS, RETRY_AFTER_SECONDS, outage_body

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

_TITLES = {
    400: lambda: _("Bad request"),
    401: lambda: _("Authentication required"),
    403: lambda: _("Forbidden"),
    404: lambda: _("Not found"),
    405: lambda: _("Method not allowed"),
    406: lambda: _("Not acceptable"),
    409: lambda: _("Conflict"),
    413: lambda: _("Request too large"),
    415: lambda: _("Unsupported media type"),
    422: lambda: _("Unprocessable content"),
    429: lambda: _("Too many requests"),
    503: lambda: _("Service unavailable"),
}


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested error detail → {"field.sub": [messages]}."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            if all(not isinstance(v, dict | list) for v in value):
                out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
            else:
                for i, sub in enumerate(value):
                    if sub:
                        walk(f"{prefix}.{i}" if prefix else str(i), sub)
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return out


def problem_response(
    status_code: int, detail: str, *, code: str, errors=None, headers=None
) -> Response:
    body = {
        "type": f"https://jk-fund.example/problems/{code}",
        "title": str(_TITLES.get(status_code, lambda: _("Error"))()),
        "status": status_code,
        "detail": str(detail),
        "code": code,
    }
    if errors:
        body["errors"] = errors
    response = Response(body, status=status_code, headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_exception_handler(exc, context):
    if isinstance(exc, OUTAGE_ERRORS):
        body = outage_body()
        response = problem_response(
            503,
            body["detail"],
            code="service_unavailable",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
        return response
    if isinstance(exc, RequestDataTooBig):
        return problem_response(
            413, _("The request body is larger than the limit."), code="payload_too_large"
        )
    if isinstance(exc, TooManyFieldsSent):
        return problem_response(400, _("The request has too many fields."), code="invalid")
    if isinstance(exc, DomainError):
        errors = {k: [str(m) for m in v] for k, v in exc.errors.items()}
        return problem_response(
            exc.status, exc.message or exc.code, code=exc.code, errors=errors or None
        )
    if isinstance(exc, DjangoValidationError):
        errors = _flatten(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return problem_response(
            422, _("The request has invalid fields."), code="validation_failed", errors=errors
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    handled = exception_handler(exc, context)
    if handled is None:
        return None
    headers = {
        k: v
        for k, v in handled.headers.items()
        if k in ("Retry-After", "WWW-Authenticate", "Allow")
    }
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        return problem_response(
            status.HTTP_400_BAD_REQUEST,
            _("The request has invalid fields."),
            code="invalid",
            errors=errors,
            headers=headers,
        )
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "error"
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        handled.status_code = 401
        headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
    return problem_response(handled.status_code, str(detail), code=code, headers=headers)
