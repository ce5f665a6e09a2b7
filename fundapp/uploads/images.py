"""Uploaded PNG and JPEG images are checked by their structure, not their name (§17, §22).

A file is accepted as an image only when its whole structure reads as one:

- **PNG**: the eight-byte signature; chunks each with a length, a type of four ASCII
  letters and a CRC that matches; ``IHDR`` first (13 bytes, a non-zero size, a valid bit
  depth for its colour type); at least one ``IDAT``, whose joined data inflate as one
  complete zlib stream (at most ``MAX_INFLATED_BYTES``: a decompression bomb is refused);
  ``IEND`` last, with nothing after it.
- **JPEG**: ``SOI`` first; marker segments with consistent lengths; a frame header (``SOF``)
  with a non-zero size and 1 to 4 components before the first scan (``SOS``); entropy-coded
  data ended by a marker; ``EOI`` last, followed by nothing but zero padding.

Anything after the end of the image is refused, as for PDFs (§17): a file that is also
something else (a polyglot) is not evidence. The check is pure: bytes in, a finding or
``None`` out; :func:`image_kind` says which format the first bytes claim.
"""

from __future__ import annotations

import enum
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
# Inflated image data per file: a 20 MB upload of a real photo or chart stays far below.
MAX_INFLATED_BYTES = 256 * 1024 * 1024
_MAX_CHUNK = 2**31 - 1
# Bit depths allowed per PNG colour type (PNG spec, table 11.1).
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
# Start-of-frame markers (baseline, extended, progressive, lossless; Huffman and arithmetic).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Markers without a length: TEM and the restart markers.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


class ImageKind(enum.Enum):
    PNG = "png"
    JPEG = "jpeg"


class ImageFinding(enum.Enum):
    MALFORMED = "malformed"  # the structure does not read as the format it claims
    TRAILING_DATA = "trailing_data"
    TOO_LARGE = "too_large"  # its pixel data inflate beyond MAX_INFLATED_BYTES


def image_kind(head: bytes) -> ImageKind | None:
    """The image format the file's first bytes claim, if any."""
    if head.startswith(PNG_SIGNATURE):
        return ImageKind.PNG
    if head.startswith(JPEG_SOI):
        return ImageKind.JPEG
    return None


def check_png(data: bytes) -> ImageFinding | None:
    if not data.startswith(PNG_SIGNATURE):
        return ImageFinding.MALFORMED
    pos = len(PNG_SIGNATURE)
    first = True
    idat: list[bytes] = []
    while True:
        if pos + 12 > len(data):
            return ImageFinding.MALFORMED  # no IEND
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if length > _MAX_CHUNK or not kind.isalpha() or not kind.isascii():
            return ImageFinding.MALFORMED
        end = pos + 8 + length
        if end + 4 > len(data):
            return ImageFinding.MALFORMED
        body = data[pos + 8 : end]
        (crc,) = struct.unpack(">I", data[end : end + 4])
        if zlib.crc32(kind + body) != crc:
            return ImageFinding.MALFORMED
        if first:
            if kind != b"IHDR" or not _valid_ihdr(body):
                return ImageFinding.MALFORMED
            first = False
        elif kind == b"IHDR":
            return ImageFinding.MALFORMED
        pos = end + 4
        if kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            if length != 0:
                return ImageFinding.MALFORMED
            break
    if pos != len(data):
        return ImageFinding.TRAILING_DATA
    if not idat:
        return ImageFinding.MALFORMED
    return _inflates(idat)


def _valid_ihdr(body: bytes) -> bool:
    if len(body) != 13:
        return False
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", body
    )
    return (
        0 < width <= _MAX_CHUNK
        and 0 < height <= _MAX_CHUNK
        and depth in _PNG_DEPTHS.get(colour, set())
        and compression == 0
        and filtering == 0
        and interlace in (0, 1)
    )


def _inflates(parts: list[bytes]) -> ImageFinding | None:
    """The image data is one complete zlib stream, inflated within the bound."""
    inflater = zlib.decompressobj()
    total = 0
    try:
        for part in parts:
            pending = part
            while pending:
                out = inflater.decompress(pending, 1024 * 1024)
                total += len(out)
                if total > MAX_INFLATED_BYTES:
                    return ImageFinding.TOO_LARGE
                pending = inflater.unconsumed_tail
                if inflater.eof:
                    break
        while not inflater.eof:
            out = inflater.decompress(b"", 1024 * 1024)
            if not out:
                break
            total += len(out)
            if total > MAX_INFLATED_BYTES:
                return ImageFinding.TOO_LARGE
    except zlib.error:
        return ImageFinding.MALFORMED
    if not inflater.eof or inflater.unused_data.strip(b"\x00"):
        return ImageFinding.MALFORMED
    return None


def check_jpeg(data: bytes) -> ImageFinding | None:
    if not data.startswith(JPEG_SOI):
        return ImageFinding.MALFORMED
    pos = 2
    framed = False
    scanned = False
    size = len(data)
    while True:
        if pos >= size or data[pos] != 0xFF:
            return ImageFinding.MALFORMED
        while pos < size and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= size:
            return ImageFinding.MALFORMED
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            break
        if marker in _STANDALONE:
            continue
        if marker in (0x00, 0xD8) or pos + 2 > size:
            return ImageFinding.MALFORMED
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > size:
            return ImageFinding.MALFORMED
        segment = data[pos + 2 : pos + length]
        pos += length
        if marker in _SOF:
            if framed or not _valid_frame(segment):
                return ImageFinding.MALFORMED
            framed = True
        elif marker == 0xDA:  # SOS: entropy-coded data follows, up to the next marker
            if not framed or not segment or not 1 <= segment[0] <= 4:
                return ImageFinding.MALFORMED
            scanned = True
            pos = _end_of_scan(data, pos)
            if pos < 0:
                return ImageFinding.MALFORMED
    if not scanned:
        return ImageFinding.MALFORMED
    if data[pos:].strip(b"\x00"):
        return ImageFinding.TRAILING_DATA
    return None


def _valid_frame(segment: bytes) -> bool:
    if len(segment) < 6:
        return False
    precision, height, width, components = struct.unpack(">BHHB", segment[:6])
    return (
        precision in (8, 12, 16)
        and height > 0
        and width > 0
        and 1 <= components <= 4
        and len(segment) == 6 + 3 * components
    )


def _end_of_scan(data: bytes, pos: int) -> int:
    """Where the marker ending the entropy-coded data at ``pos`` starts (-1 if none):
    ``FF 00`` is a stuffed byte and ``FF D0``–``FF D7`` restart markers, both part of it."""
    while True:
        found = data.find(b"\xff", pos)
        if found < 0 or found + 1 >= len(data):
            return -1
        following = data[found + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos = found + 1 if following == 0xFF else found + 2
            continue
        return found


def check_image(data: bytes) -> tuple[ImageKind | None, ImageFinding | None]:
    """The format the file claims and what is wrong with it (``None`` when well formed)."""
    kind = image_kind(data[:8])
    if kind is ImageKind.PNG:
        return kind, check_png(data)
    if kind is ImageKind.JPEG:
        return kind, check_jpeg(data)
    return None, ImageFinding.MALFORMED


__all__ = [
    "MAX_INFLATED_BYTES",
    "ImageFinding",
    "ImageKind",
    "check_image",
    "check_jpeg",
    "check_png",
    "image_kind",
]
