"""The published OpenAPI schema (§14): what drf-spectacular cannot infer by itself.

- :class:`AutoSchema` documents the ``Idempotency-Key`` header on every view method
  decorated with :func:`fundapp.api.idempotency.idempotent`.
- :func:`postprocess_problems` documents the errors of every operation as
  ``application/problem+json`` with the one ``Problem`` component (the body
  :mod:`fundapp.api.errors` writes): 400, 401, 403, 404, 405, 429 and 503 everywhere
  (429 and 503 with ``Retry-After``), 409 on writes, 413 and 415 where a body is sent, 422
  where a key may be reused with another body or the view says so.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

from fundapp.api.errors import PROBLEM_CONTENT_TYPE
from fundapp.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from fundapp.api.idempotency import IDEMPOTENCY_KEY, is_idempotent


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "fundapp.api.authentication.ApiKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "API key: jkf_<id>_<secret>"}


class AutoSchema(SpectacularAutoSchema):
    def _handler(self) -> Any:
        action = getattr(self.view, "action", None)
        if action:
            return getattr(self.view, action, None)
        return getattr(self.view, self.method.lower(), None)

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if is_idempotent(self._handler()) and IDEMPOTENCY_KEY not in parameters:
            parameters.append(IDEMPOTENCY_KEY)
        return parameters


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# RFC 9457 as fundapp.api.errors.problem_response (and fundapp.outage) write it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An error (RFC 9457 problem details).",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "A stable, machine-readable error code."},
        "errors": {
            "type": "object",
            "description": "Field (or header, or query parameter) → messages; "
            "nested fields as dotted paths (e.g. stages.0.kpis.1.target).",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}

_DESCRIPTIONS = {
    400: "Malformed body, header or query parameter (field errors in `errors`).",
    401: "No credentials, or an unknown, revoked or expired API key.",
    403: "Authenticated, but not allowed to do this (or the API key lacks the scope).",
    404: "No such object, or not visible to the caller.",
    405: "The resource does not support this method.",
    409: "The object's state does not allow this now.",
    413: "The request body is larger than the limit.",
    415: "The request body is not of a supported media type.",
    422: "Field errors the schema cannot express, or an Idempotency-Key reused with another body.",
    429: "Too many requests: wait `Retry-After` seconds.",
    503: "Database or cache briefly unavailable; nothing was changed. Retry after "
    "`Retry-After` seconds.",
}
_HEADERS: dict[int, dict[str, Any]] = {429: RETRY_AFTER, 503: RETRY_AFTER}

_HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
_WRITES = {"post", "put", "patch", "delete"}
_EVERYWHERE = (400, 401, 403, 404, 405, 429, 503)


def _statuses(method: str, operation: dict[str, Any]) -> set[int]:
    statuses = set(_EVERYWHERE)
    if method in _WRITES:
        statuses.add(409)
    if "requestBody" in operation:
        # 422: values the schema cannot judge (an unknown id, a date out of range, a URL
        # that does not resolve), refused by the service with field errors.
        statuses |= {413, 415, 422}
    if any(
        p.get("in") == "header" and p.get("name") == IDEMPOTENCY_HEADER
        for p in operation.get("parameters", [])
    ):
        statuses.add(422)
    return statuses


def _problem(status: int, documented: dict[str, Any] | None) -> dict[str, Any]:
    """The response for ``status``: the view's description and examples kept, the body
    always a Problem in ``application/problem+json``."""
    documented = documented or {}
    examples: dict[str, Any] = {}
    for media in (documented.get("content") or {}).values():
        examples.update(media.get("examples") or {})
    content: dict[str, Any] = {"schema": PROBLEM_REF}
    if examples:
        content["examples"] = examples
    response: dict[str, Any] = {
        "description": documented.get("description") or _DESCRIPTIONS.get(status, ""),
        "content": {PROBLEM_CONTENT_TYPE: content},
    }
    headers = {**documented.get("headers", {}), **_HEADERS.get(status, {})}
    if headers:
        response["headers"] = headers
    return response


def _require_needed_body(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A body whose schema has required properties is itself required (drf-spectacular
    leaves PATCH bodies optional)."""
    body = operation.get("requestBody")
    if not body:
        return
    if len(body.get("content", {})) > 1:
        # A body offered in several media types (JSON references, or multipart with the
        # files) is declared optional: openapi-python-client writes a module that cannot be
        # imported for a required body with several media types (its template then uses
        # ``Unset`` without importing it). The server answers a missing body with 400.
        body.pop("required", None)
        return
    for media in body.get("content", {}).values():
        schema = media.get("schema", {})
        ref = schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            schema = schemas.get(ref.rsplit("/", 1)[1], {})
        if schema.get("required"):
            body["required"] = True


def _unique_security(operation: dict[str, Any]) -> None:
    if "security" in operation:
        seen: list[dict[str, Any]] = []
        for requirement in operation["security"]:
            if requirement not in seen:
                seen.append(requirement)
        operation["security"] = seen


def _replace_refs(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict):
        if node.get("$ref") == old:
            node["$ref"] = new
        for value in node.values():
            _replace_refs(value, old, new)
    elif isinstance(node, list):
        for value in node:
            _replace_refs(value, old, new)


def postprocess_problems(result, generator, request, public, **kwargs):
    """drf-spectacular postprocessing hook: document every operation's errors."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    # Views that named their own copy of the body share the one component.
    for name in [n for n in schemas if n.endswith("Problem") and n != "Problem"]:
        del schemas[name]
        _replace_refs(result, f"#/components/schemas/{name}", PROBLEM_REF["$ref"])
    schemas["Problem"] = PROBLEM_SCHEMA
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in _HTTP_METHODS:
                continue
            _unique_security(operation)
            _require_needed_body(operation, schemas)
            responses = operation.setdefault("responses", {})
            documented = {int(code) for code in responses if str(code).isdigit()}
            for status in sorted(
                _statuses(method, operation) | {s for s in documented if s >= 400}
            ):
                responses[str(status)] = _problem(status, responses.get(str(status)))
            operation["responses"] = dict(sorted(responses.items()))
    return result
