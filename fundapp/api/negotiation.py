"""Content negotiation with the API's common case first (§14: JSON only).

A partner system sends no ``Accept`` header, ``*/*`` or ``application/json``; for these
DRF's negotiation parses the header into media types and matches each against every
renderer to arrive, every time, at the first renderer (JSON). :class:`JsonFirstNegotiation`
answers them directly with what DRF would choose and leaves everything else (other media
types, quality values, ``?format=``, a format suffix) to DRF unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

# Accept headers for which DRF picks the first renderer with its own media type.
_JSON_OR_ANY: Final = frozenset({"*/*", "application/json"})


class JsonFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> Any:
        renderers = list(renderers)
        first = renderers[0] if renderers else None
        if (
            type(first) is JSONRenderer
            and not format_suffix
            and request.META.get("HTTP_ACCEPT", "*/*").strip() in _JSON_OR_ANY
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return first, JSONRenderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
