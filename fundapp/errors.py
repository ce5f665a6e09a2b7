"""The one family of domain errors. Views map them to problem+json or to form errors."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused operation, with a stable code, a translated message and field errors."""

    code = "invalid"
    status = 400

    def __init__(
        self,
        message: Any = "",
        *,
        code: str | None = None,
        errors: dict[str, list[Any]] | None = None,
    ):
        super().__init__(str(message))
        self.message = message
        if code:
            self.code = code
        self.errors: dict[str, list[Any]] = errors or {}


class ValidationFailed(DomainError):
    code = "validation_failed"
    status = 422


class Conflict(DomainError):
    """The state changed under the caller (stale version, wrong state)."""

    code = "conflict"
    status = 409


class NotFound(DomainError):
    """Missing or not visible to the actor: the same answer for both (no existence leak)."""

    code = "not_found"
    status = 404


class PermissionDenied(DomainError):
    """The actor may see the object but may not do this to it."""

    code = "forbidden"
    status = 403


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415
