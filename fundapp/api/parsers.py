"""Request body parsers of the API (§14, §17): JSON with bounded size and nesting.

A body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` answers 413 before it is read; JSON
nested deeper than :data:`MAX_JSON_DEPTH` answers 400 (Python's parser would otherwise
recurse until it fails, a 500); the depth is measured on the parsed value without
recursion, so the check costs one pass over what was sent.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DrfJSONParser
from rest_framework.parsers import MultiPartParser as DrfMultiPartParser

from fundapp.errors import PayloadTooLarge

MAX_JSON_DEPTH = 32


def json_depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (a scalar is 0, ``[]`` is 1)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def refuse_oversize(parser_context: dict[str, Any] | None) -> None:
    request = (parser_context or {}).get("request")
    meta = getattr(getattr(request, "_request", request), "META", {}) or {}
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and length > limit:
        raise PayloadTooLarge(
            _("The request body is larger than %(limit)d bytes.") % {"limit": limit},
            code="payload_too_large",
        )


class JSONParser(DrfJSONParser):
    """DRF's JSON parser with the size and nesting limits."""

    def parse(self, stream, media_type=None, parser_context=None):
        refuse_oversize(parser_context)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
            too_deep = True
        else:
            too_deep = json_depth(data) > MAX_JSON_DEPTH
        if too_deep:
            raise ParseError(
                _("JSON nested deeper than %(depth)d levels is not accepted.")
                % {"depth": MAX_JSON_DEPTH}
            )
        return data


class MultiPartParser(DrfMultiPartParser):
    """Uploads: Django's own limits apply to the file parts; the body as a whole answers
    413 above the upload limit."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        meta = getattr(getattr(request, "_request", request), "META", {}) or {}
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_ATTACHMENT_BYTES + 1024 * 1024:
            raise PayloadTooLarge(
                _("The request body is larger than %(limit)d bytes.")
                % {"limit": settings.MAX_ATTACHMENT_BYTES},
                code="payload_too_large",
            )
        return super().parse(stream, media_type, parser_context)


__all__ = ["MAX_JSON_DEPTH", "JSONParser", "MultiPartParser", "json_depth"]
