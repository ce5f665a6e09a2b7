"""Uploaded PDFs are refused for active content or trailing data (§17).

A PDF is refused when it contains, anywhere, one of these names (the keys and action types
that make a viewer run or open something):

- ``/JavaScript``, ``/JS``: scripts (document-level, in ``/OpenAction``, ``/AA``, links);
- ``/Launch``: an action that starts a program or opens a file;
- ``/EmbeddedFile``, ``/EmbeddedFiles``, ``/EF``: files carried inside the PDF;
- ``/RichMedia``: embedded Flash/video; ``/XFA``: XML forms with their own scripting;

or when anything but whitespace follows its last ``%%EOF``. ``/OpenAction`` and ``/AA``
themselves are allowed (a PDF opening at a given page is ordinary): what would make them
dangerous, a JavaScript or Launch action, is refused wherever it is written.

Names are compared after their ``#xx`` escapes are decoded (``/J#61vaScript`` is
``/JavaScript``). Dictionaries can also sit compressed in object streams (``/ObjStm``):
those are inflated (FlateDecode, ASCIIHex, ASCII85; at most ``MAX_INFLATED_BYTES`` in all)
and scanned; an object stream that cannot be decoded (another filter, a predictor,
encryption, corrupt data, a decompression bomb) cannot be checked and is refused. The data
of other streams (page contents, images, fonts) is not scanned: no reader takes objects from
it, and compressed bytes would match names by chance.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import zlib
from typing import Any

from django.utils.translation import gettext as _

from fundapp.errors import ValidationFailed

# Inflated bytes of object streams per file: a 20 MB upload never needs more.
MAX_INFLATED_BYTES = 64 * 1024 * 1024
# How far back from a ``stream`` keyword its dictionary is looked for.
MAX_DICT_BYTES = 64 * 1024


class Finding(enum.Enum):
    JAVASCRIPT = "javascript"
    LAUNCH = "launch"
    EMBEDDED_FILE = "embedded_file"
    RICH_MEDIA = "rich_media"
    XFA = "xfa"
    TRAILING_DATA = "trailing_data"
    INCOMPLETE = "incomplete"
    UNCHECKABLE = "uncheckable"


FORBIDDEN_NAMES: dict[bytes, Finding] = {
    b"JavaScript": Finding.JAVASCRIPT,
    b"JS": Finding.JAVASCRIPT,
    b"Launch": Finding.LAUNCH,
    b"EmbeddedFile": Finding.EMBEDDED_FILE,
    b"EmbeddedFiles": Finding.EMBEDDED_FILE,
    b"EF": Finding.EMBEDDED_FILE,
    b"RichMedia": Finding.RICH_MEDIA,
    b"XFA": Finding.XFA,
}

# A name: a solidus and the regular characters after it (PDF 32000-1, 7.3.5).
NAME_RE = re.compile(rb"/([^\x00\t\n\x0c\r /\[\]()<>{}%]*)")
HEX_ESCAPE_RE = re.compile(rb"#([0-9A-Fa-f]{2})")
# The ``stream`` keyword after its dictionary's ``>>``, and its end of line.
STREAM_RE = re.compile(rb">>[\x00\t\n\x0c\r ]*stream(?:\r\n|\n|\r)")
OBJ_RE = re.compile(rb"\d+\s+\d+\s+obj(?![A-Za-z])")
LENGTH_RE = re.compile(rb"/Length\s+(\d+)(?!\s+\d+\s+R)")
FILTER_RE = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[^\s/\[\]()<>{}%]+)")
PREDICTOR_RE = re.compile(rb"/Predictor\s+(\d+)")
ENDSTREAM = b"endstream"
# What may follow the last %%EOF: end-of-line characters and blanks, nothing else.
TRAILING_WHITESPACE = b" \t\r\n\x0c"

FLATE = {b"FlateDecode", b"Fl"}
ASCII_HEX = {b"ASCIIHexDecode", b"AHx"}
ASCII_85 = {b"ASCII85Decode", b"A85"}


class Uncheckable(Exception):
    """An object stream whose content cannot be recovered to be checked."""


def _unescape(name: bytes) -> bytes:
    if b"#" not in name:
        return name
    return HEX_ESCAPE_RE.sub(lambda m: bytes([int(m.group(1), 16)]), name)


def _names(data: bytes) -> list[bytes]:
    return [_unescape(m.group(1)) for m in NAME_RE.finditer(data)]


def _forbidden(data: bytes) -> Finding | None:
    for match in NAME_RE.finditer(data):
        finding = FORBIDDEN_NAMES.get(_unescape(match.group(1)))
        if finding is not None:
            return finding
    return None


def _normalise_names(data: bytes) -> bytes:
    """The dictionary with its names' escapes decoded, for the regular expressions."""
    return NAME_RE.sub(lambda m: b"/" + _unescape(m.group(1)), data)


def _decode(raw: bytes, filters: list[bytes], budget: int) -> bytes:
    data = raw
    for name in filters:
        if name in FLATE:
            inflater = zlib.decompressobj()
            try:
                data = inflater.decompress(data, budget + 1)
            except zlib.error as exc:
                raise Uncheckable(str(exc)) from exc
            if len(data) > budget:
                raise Uncheckable("inflates beyond the limit")
        elif name in ASCII_HEX:
            hex_digits = re.sub(rb"\s+", b"", data.split(b">", 1)[0])
            if len(hex_digits) % 2:
                hex_digits += b"0"
            try:
                data = binascii.unhexlify(hex_digits)
            except binascii.Error as exc:
                raise Uncheckable(str(exc)) from exc
        elif name in ASCII_85:
            body = re.sub(rb"\s+", b"", data.split(b"~>", 1)[0])
            if body.startswith(b"<~"):
                body = body[2:]
            try:
                data = base64.a85decode(body)
            except ValueError as exc:
                raise Uncheckable(str(exc)) from exc
        else:
            raise Uncheckable(f"filter {name!r}")
    return data


def scan(data: bytes) -> Finding | None:
    """What makes this PDF unacceptable, or None. ``data`` is the whole file."""
    end = data.rfind(b"%%EOF")
    if end < 0:
        return Finding.INCOMPLETE
    if data[end + 5 :].strip(TRAILING_WHITESPACE):
        return Finding.TRAILING_DATA

    budget = MAX_INFLATED_BYTES
    position = 0  # where the part not yet scanned starts
    search_from = 0
    while True:
        keyword = STREAM_RE.search(data, search_from)
        if keyword is None:
            break
        # The stream's dictionary: from its "N G obj" (or as far back as allowed) to "stream".
        window_start = max(position, keyword.start() - MAX_DICT_BYTES)
        head = data[window_start : keyword.start()]
        objects = list(OBJ_RE.finditer(head))
        dictionary = head[objects[-1].end() :] if objects else head
        normalised = _normalise_names(dictionary)
        names = set(_names(dictionary))

        start = keyword.end()
        stop = -1
        length = LENGTH_RE.search(normalised)
        if length is not None:
            candidate = start + int(length.group(1))
            if data[candidate : candidate + 64].lstrip().startswith(ENDSTREAM):
                stop = candidate
        if stop < 0:
            stop = data.find(ENDSTREAM, start)
            if stop < 0:
                stop = len(data)
        raw = data[start:stop]

        # The text before the stream data (other objects and this dictionary).
        finding = _forbidden(data[position:start])
        if finding is not None:
            return finding
        if b"obj" in raw and (b"endobj" in raw or OBJ_RE.search(raw)):
            # Objects inside what looks like stream data: a malformed or deceptive layout.
            # Scan it as text too (compressed bytes do not spell "N G obj" by chance).
            finding = _forbidden(raw)
            if finding is not None:
                return finding

        if b"ObjStm" in names or (b"N" in names and b"First" in names):
            filter_match = FILTER_RE.search(normalised)
            filters = _names(filter_match.group(1)) if filter_match else []
            predictor = PREDICTOR_RE.search(normalised)
            if predictor is not None and int(predictor.group(1)) > 1:
                return Finding.UNCHECKABLE
            try:
                inflated = _decode(raw, filters, budget)
            except Uncheckable:
                return Finding.UNCHECKABLE
            budget -= len(inflated)
            finding = _forbidden(inflated)
            if finding is not None:
                return finding

        position = stop
        search_from = max(stop, keyword.end())
    return _forbidden(data[position:])


def refusal_reason(finding: Finding) -> str:
    """The translated reason shown on the upload's field."""
    reasons = {
        Finding.JAVASCRIPT: _("This PDF contains JavaScript; PDFs with scripts are not accepted."),
        Finding.LAUNCH: _(
            "This PDF contains a launch action that would start a program; "
            "such PDFs are not accepted."
        ),
        Finding.EMBEDDED_FILE: _(
            "This PDF contains embedded files; PDFs with files inside are not accepted."
        ),
        Finding.RICH_MEDIA: _(
            "This PDF contains embedded multimedia (RichMedia); such PDFs are not accepted."
        ),
        Finding.XFA: _("This PDF contains an XFA form; such PDFs are not accepted."),
        Finding.TRAILING_DATA: _(
            "This PDF has data after its end-of-file marker; such files are not accepted."
        ),
        Finding.INCOMPLETE: _("This PDF file is incomplete."),
        Finding.UNCHECKABLE: _(
            "Part of this PDF cannot be read to check it for active content; "
            "such files are not accepted."
        ),
    }
    return str(reasons[finding])


def check_pdf_upload(upload: Any, *, field: str) -> None:
    """Refuse (``ValidationFailed`` on ``field``) an uploaded PDF with active content or
    trailing data. The upload's size has been checked (≤ 20 MB); it is read whole and
    rewound."""
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    finding = scan(bytes(data))
    if finding is None:
        return
    reason = refusal_reason(finding)
    raise ValidationFailed(reason, errors={field: [reason]})
