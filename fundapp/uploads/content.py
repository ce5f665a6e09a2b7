"""What an upload's bytes are, read in chunks (§17): whether it is UTF-8 text, or CSV.

Used wherever an upload is checked by its content rather than its name (measurement
evidence, deliverable files). Each function rewinds the upload before reading it.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import Any

CHUNK_BYTES = 65536


def upload_chunks(upload: Any) -> Iterator[bytes]:
    """The upload's bytes from the start, in chunks (Django's own for an ``UploadedFile``)."""
    upload.seek(0)
    if hasattr(upload, "chunks"):
        yield from upload.chunks()
    else:
        yield from iter(lambda: upload.read(CHUNK_BYTES), b"")


def is_utf8_text(upload: Any) -> bool:
    """UTF-8 text without NUL bytes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in upload_chunks(upload):
            if b"\x00" in chunk:
                return False
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def is_csv_text(upload: Any) -> bool:
    """UTF-8 text without NUL bytes that the CSV reader splits without an error."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    parts: list[str] = []
    try:
        for chunk in upload_chunks(upload):
            if b"\x00" in chunk:
                return False
            parts.append(decoder.decode(chunk))
        parts.append(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        return False
    try:
        for _row in csv.reader(io.StringIO("".join(parts), newline=""), strict=True):
            pass
    except csv.Error:
        return False
    return True


__all__ = ["upload_chunks", "is_csv_text", "is_utf8_text"]
