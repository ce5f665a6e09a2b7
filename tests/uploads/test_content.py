"""fundapp/uploads/content.py: what an upload's bytes are, read in chunks."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fundapp.uploads.content import CHUNK_BYTES, is_csv_text, is_utf8_text, upload_chunks


def test_chunks_start_from_the_beginning_whatever_was_read_before() -> None:
    data = b"a" * (CHUNK_BYTES + 10)
    handle = io.BytesIO(data)
    handle.read(5)

    parts = list(upload_chunks(handle))

    assert b"".join(parts) == data
    assert len(parts) == 2


def test_an_uploaded_file_is_read_with_its_own_chunks() -> None:
    upload = SimpleUploadedFile("a.txt", "日本語,한국어\n".encode())

    assert b"".join(upload_chunks(upload)) == "日本語,한국어\n".encode()


@pytest.mark.parametrize(
    ("data", "utf8", "csv"),
    [
        (b"kpi,value\nyield,0.9\n", True, True),
        ("評価,값\n".encode(), True, True),
        (b"a,b\x00\n", False, False),
        (b"\xff\xfe not utf-8", False, False),
        ("日本".encode()[:-1], False, False),  # cut inside a character
        (b'a,"unterminated\n', True, False),
    ],
)
def test_text_and_csv_by_content(data: bytes, utf8: bool, csv: bool) -> None:
    assert is_utf8_text(io.BytesIO(data)) is utf8
    assert is_csv_text(io.BytesIO(data)) is csv


def test_a_character_split_across_chunks_is_still_text() -> None:
    data = b"a" * (CHUNK_BYTES - 1) + "日".encode()

    assert is_utf8_text(io.BytesIO(data))
