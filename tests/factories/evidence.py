"""Small real evidence files (§22), made in code: a PDF, a CSV, a PNG and a JPEG that the
content checks accept, and uploads of them."""

from __future__ import annotations

import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
CSV = "time,値\n2026-05-01T10:00:00+09:00,12.5\n".encode()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    """An RGB PNG of one colour."""
    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    """A baseline 8×8 grey JPEG: one DC-only block with one-code Huffman tables."""
    soi, eoi = b"\xff\xd8", b"\xff\xd9"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 8, 8, 1) + b"\x01\x11\x00"
    # Tables with one code of length 1: DC category 0 and the AC end-of-block.
    counts = bytes([1] + [0] * 15)
    dht = b"\xff\xc4" + struct.pack(">H", 2 + 2 * 18) + b"\x00" + counts + b"\x00"
    dht += b"\x10" + counts + b"\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00" + b"\x00\x3f\x00"
    # DC "0" then EOB "0", padded with ones.
    return soi + dqt + sof + dht + sos + b"\x3f" + eoi


def upload(name: str, content: bytes, content_type: str = "") -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name, content, content_type=content_type or "application/octet-stream"
    )


def every_kind() -> list[SimpleUploadedFile]:
    """One upload of each accepted kind."""
    return [
        upload("run.pdf", PDF, "application/pdf"),
        upload("run.csv", CSV, "text/csv"),
        upload("chart.png", png(), "image/png"),
        upload("photo.jpg", jpeg(), "image/jpeg"),
    ]
