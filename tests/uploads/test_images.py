"""PNG and JPEG structure checks (§17, §22): pure functions over bytes."""

from __future__ import annotations

import struct
import zlib

import pytest

from fundapp.uploads import images
from fundapp.uploads.images import ImageFinding, ImageKind, check_image, check_jpeg, check_png
from tests.factories.evidence import jpeg, png


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


IHDR = chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_well_formed_images_pass():
    assert check_image(png()) == (ImageKind.PNG, None)
    assert check_image(png(64, 1, (0, 0, 0))) == (ImageKind.PNG, None)
    assert check_image(jpeg()) == (ImageKind.JPEG, None)


@pytest.mark.parametrize(
    "data",
    [
        SIGNATURE,  # nothing but the signature
        SIGNATURE + IHDR + chunk(b"IEND", b""),  # no image data
        SIGNATURE + chunk(b"IDAT", zlib.compress(b"\x00" * 7)) + IHDR + chunk(b"IEND", b""),
        SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 2, 8, 2, 0, 0, 0)),  # 0 wide
        SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 3, 2, 0, 0, 0)),  # bad depth
        SIGNATURE + IHDR + chunk(b"IDAT", b"not zlib") + chunk(b"IEND", b""),
        SIGNATURE + IHDR + chunk(b"IDAT", zlib.compress(b"\x00" * 14)[:-3]) + chunk(b"IEND", b""),
        png()[:-4] + b"\x00\x00\x00\x00",  # IEND's CRC wrong
        png()[:30],  # cut short
    ],
)
def test_malformed_pngs_are_refused(data):
    assert check_png(data) is ImageFinding.MALFORMED


def test_data_after_iend_is_refused():
    assert check_png(png() + b"\x00") is ImageFinding.TRAILING_DATA


def test_a_png_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(images, "MAX_INFLATED_BYTES", 10_000)
    bomb = SIGNATURE + IHDR + chunk(b"IDAT", zlib.compress(b"\x00" * 50_000)) + chunk(b"IEND", b"")

    assert check_png(bomb) is ImageFinding.TOO_LARGE


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xd9",  # no frame, no scan
        jpeg().replace(b"\xff\xda", b"\xff\xfe", 1),  # no scan
        jpeg()[:-2],  # no end marker
        jpeg()[:20],
        b"\xff\xd8\xff\xe0\x00\x01",  # a length below 2
    ],
)
def test_malformed_jpegs_are_refused(data):
    assert check_jpeg(data) is ImageFinding.MALFORMED


def test_jpeg_padding_passes_and_trailing_data_does_not():
    assert check_jpeg(jpeg() + b"\x00\x00") is None
    assert check_jpeg(jpeg() + b"%PDF-1.4") is ImageFinding.TRAILING_DATA


def test_other_formats_claim_no_image_kind():
    assert check_image(b"GIF89a\x01\x00") == (None, ImageFinding.MALFORMED)
    assert check_image(b"%PDF-1.4") == (None, ImageFinding.MALFORMED)
