"""Uploaded PDFs with active content or trailing data are refused (§17)."""

from __future__ import annotations

import base64
import binascii
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from fundapp.errors import ValidationFailed
from fundapp.uploads.pdf import MAX_INFLATED_BYTES, Finding, check_pdf_upload, scan
from tests.factories.proposals import MINIMAL_PDF

CATALOG = b"1 0 obj<</Type/Catalog/Pages 2 0 R%s>>endobj\n"
PAGES = (
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R>>endobj\n"
)
CONTENT = b"BT /F1 12 Tf 20 180 Td (Research plan) Tj ET"


def pdf(catalog_extra: bytes = b"", *objects: bytes, tail: bytes = b"%%EOF\n") -> bytes:
    """A one-page PDF whose catalog gets ``catalog_extra`` and whose body gets ``objects``
    (the offsets in its cross-reference table are not checked by the scan)."""
    content = (
        b"4 0 obj<</Length %d/Filter/FlateDecode>>stream\n" % len(zlib.compress(CONTENT))
        + zlib.compress(CONTENT)
        + b"\nendstream endobj\n"
    )
    return (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
        + CATALOG % catalog_extra
        + PAGES
        + content
        + b"".join(objects)
        + b"xref\n0 1\n0000000000 65535 f \ntrailer<</Size 5/Root 1 0 R>>\nstartxref\n9\n"
        + tail
    )


def object_stream(body: bytes, *, filters: bytes = b"/FlateDecode", encoded: bytes | None = None):
    data = zlib.compress(body) if encoded is None else encoded
    return (
        b"9 0 obj<</Type/ObjStm/N 1/First 5/Length %d/Filter %s>>stream\n" % (len(data), filters)
        + data
        + b"\nendstream\nendobj\n"
    )


JS_ACTION = b"5 0 obj<</S/JavaScript/JS(app.alert\\(1\\))>>endobj\n"


def test_a_clean_pdf_is_accepted():
    assert scan(pdf()) is None
    assert scan(MINIMAL_PDF) is None
    # Compressed page contents are not read as names, and an ordinary OpenAction is fine.
    assert scan(pdf(b"/OpenAction[3 0 R/Fit]")) is None
    assert scan(pdf(b"", object_stream(b"7 0 <</Type/Font/Subtype/Type1>>"))) is None
    # Whitespace and line ends after %%EOF are allowed; so are incremental updates.
    assert scan(pdf(tail=b"%%EOF\r\n \n")) is None
    assert scan(pdf(tail=b"%%EOF\n" + b"trailer<</Root 1 0 R>>\n%%EOF")) is None


@pytest.mark.parametrize(
    ("document", "finding"),
    [
        pytest.param(pdf(b"/OpenAction 5 0 R", JS_ACTION), Finding.JAVASCRIPT, id="openaction-js"),
        pytest.param(
            pdf(b"/Names<</JavaScript<</Names[(x)5 0 R]>>>>", JS_ACTION),
            Finding.JAVASCRIPT,
            id="document-javascript",
        ),
        pytest.param(
            pdf(b"/AA<</O<</S/J#61vaScript/J#53(x)>>>>"), Finding.JAVASCRIPT, id="hex-escaped"
        ),
        pytest.param(
            pdf(b"/OpenAction<</S/Launch/F(cmd.exe)>>"), Finding.LAUNCH, id="launch-action"
        ),
        pytest.param(
            pdf(b"/OpenAction<</S/L#61unch/F(calc)>>"), Finding.LAUNCH, id="launch-hex-escaped"
        ),
        pytest.param(
            pdf(
                b"/Names<</EmbeddedFiles<</Names[(a.exe)6 0 R]>>>>",
                b"6 0 obj<</Type/Filespec/F(a.exe)/EF<</F 7 0 R>>>>endobj\n",
                b"7 0 obj<</Type/EmbeddedFile/Length 2>>stream\nMZ\nendstream endobj\n",
            ),
            Finding.EMBEDDED_FILE,
            id="embedded-file",
        ),
        pytest.param(
            pdf(b"", b"6 0 obj<</Type/Filespec/F(a.exe)/#45F<</F 7 0 R>>>>endobj\n"),
            Finding.EMBEDDED_FILE,
            id="embedded-file-hex-escaped",
        ),
        pytest.param(
            pdf(b"", b"8 0 obj<</Type/Annot/Subtype/RichMedia>>endobj\n"),
            Finding.RICH_MEDIA,
            id="richmedia",
        ),
        pytest.param(pdf(b"/AcroForm<</XFA 8 0 R>>"), Finding.XFA, id="xfa"),
    ],
)
def test_active_content_is_found(document, finding):
    assert scan(document) is finding


def test_javascript_hidden_in_a_compressed_object_stream_is_found():
    hidden = b"5 0 <</S/JavaScript/JS(app.alert\\(1\\))>>"
    assert scan(pdf(b"/OpenAction 5 0 R", object_stream(hidden))) is Finding.JAVASCRIPT
    escaped = b"5 0 <</S/Launch/F(cmd.exe)>> <</Type/#45mbeddedFiles>>"
    assert scan(pdf(b"", object_stream(escaped))) is Finding.LAUNCH
    # The stream dictionary's own names may be escaped too.
    disguised = object_stream(hidden).replace(b"/Type/ObjStm", b"/Type/Obj#53tm")
    assert scan(pdf(b"", disguised)) is Finding.JAVASCRIPT
    # Filters after Flate, and the ASCII filters alone, are decoded as well.
    hex_flate = binascii.hexlify(zlib.compress(hidden)) + b">"
    chained = object_stream(hidden, filters=b"[/ASCIIHexDecode/FlateDecode]", encoded=hex_flate)
    assert scan(pdf(b"", chained)) is Finding.JAVASCRIPT
    a85 = base64.a85encode(hidden) + b"~>"
    assert scan(pdf(b"", object_stream(hidden, filters=b"/A85", encoded=a85))) is (
        Finding.JAVASCRIPT
    )


def test_an_object_stream_that_cannot_be_read_is_refused():
    hidden = b"5 0 <</S/JavaScript>>"
    lzw = object_stream(hidden, filters=b"/LZWDecode", encoded=b"\x80\x0b\x60\x50")
    assert scan(pdf(b"", lzw)) is Finding.UNCHECKABLE
    corrupt = object_stream(hidden, encoded=b"\x00not deflate data")
    assert scan(pdf(b"", corrupt)) is Finding.UNCHECKABLE
    predictor = object_stream(hidden).replace(
        b"/Filter", b"/DecodeParms<</Predictor 12/Columns 4>>/Filter"
    )
    assert scan(pdf(b"", predictor)) is Finding.UNCHECKABLE
    bomb = object_stream(b"", encoded=zlib.compress(b"\x00" * (MAX_INFLATED_BYTES + 10), 9))
    assert scan(pdf(b"", bomb)) is Finding.UNCHECKABLE


def test_objects_hidden_inside_stream_data_are_scanned():
    # A stream whose data runs over a whole object (no usable /Length): what a reader
    # might parse as an object is scanned as text.
    sneaky = (
        b"6 0 obj<</Length 6 0 R>>stream\n\x8f\x01junk\n"
        b"5 0 obj<</S/JavaScript/JS(x)>>endobj\nendstream endobj\n"
    )
    assert scan(pdf(b"/OpenAction 5 0 R", sneaky)) is Finding.JAVASCRIPT


@pytest.mark.parametrize(
    "tail",
    [
        b"%%EOF\nMZ\x90\x00",
        b"%%EOF\n<script>alert(1)</script>\n",
        b"%%EOF\n\x00\x00\x00",
        b"%%EOFPK\x03\x04",
    ],
    ids=["executable", "html", "nul-padding", "zip-right-after"],
)
def test_data_after_the_last_eof_is_refused(tail):
    assert scan(pdf(tail=tail)) is Finding.TRAILING_DATA


def test_a_pdf_without_eof_is_incomplete():
    assert scan(pdf(tail=b"")) is Finding.INCOMPLETE


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "This PDF contains JavaScript"),
        ("ja", "JavaScript"),
        ("ko", "JavaScript"),
    ],
)
def test_the_refusal_is_a_translated_field_error(language, text):
    upload = SimpleUploadedFile("plan.pdf", pdf(b"/OpenAction 5 0 R", JS_ACTION))
    with translation.override(language), pytest.raises(ValidationFailed) as caught:
        check_pdf_upload(upload, field="file")
    [message] = caught.value.errors["file"]
    assert text in message
    if language != "en":
        assert "not accepted" not in message  # translated, not the English msgid
    assert upload.tell() == 0


def test_a_clean_upload_passes_and_is_rewound():
    upload = SimpleUploadedFile("plan.pdf", pdf())
    check_pdf_upload(upload, field="file")
    assert upload.tell() == 0
