"""The renderer of file downloads (§14, §22, §24).

A download's view answers the file itself (a ``FileResponse``, which no renderer touches);
this renderer only lets a client ask for ``application/octet-stream`` (or ``?format=bin``)
without a 406, and keeps an error answered to such a request a problem document.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework.renderers import BaseRenderer


class FileDownloadRenderer(BaseRenderer):
    """Lets a client ask for a file's bytes on a download; errors stay problem+json."""

    media_type = "application/octet-stream"
    format = "bin"
    charset = None
    render_style = "binary"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> Any:
        if isinstance(data, bytes) or data is None:
            return data
        # An error asked for as bytes (``?format=bin``) is still a problem document.
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/problem+json"
        return json.dumps(data, ensure_ascii=False).encode()


__all__ = ["FileDownloadRenderer"]
