"""What the server does to plaintext files before storing them (no database)."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from PIL import Image

from chatalot.domain.errors import DomainError
from chatalot.files.scanning import reencode_media, scan_plaintext
from tests.files.images import (
    SVG_WITH_SCRIPT,
    animated_gif,
    has_metadata,
    jpeg_with_exif,
    png_with_text,
)


def _scan(tmp_path: Path, data: bytes, name: str):  # type: ignore[no-untyped-def]
    source = tmp_path / "upload"
    source.write_bytes(data)
    counter = itertools.count()
    return scan_plaintext(source, name, lambda: tmp_path / f"out{next(counter)}")


def test_jpeg_exif_is_gone_and_the_orientation_applied(tmp_path: Path) -> None:
    original = jpeg_with_exif((64, 48))
    assert has_metadata(original)
    scanned = _scan(tmp_path, original, "photo.jpg")
    assert scanned.content_type == "image/jpeg"
    assert scanned.cleaned is not None
    cleaned = scanned.cleaned.path.read_bytes()
    assert has_metadata(cleaned) == []
    with Image.open(io.BytesIO(cleaned)) as image:
        assert image.size == (48, 64)  # rotated as the EXIF orientation said
    assert scanned.thumbnail is not None
    with Image.open(scanned.thumbnail.path) as thumb:
        assert thumb.format == "WEBP"
        assert max(thumb.size) <= 400


def test_png_text_and_gif_comments_are_gone(tmp_path: Path) -> None:
    png = _scan(tmp_path, png_with_text(), "a.png")
    assert png.cleaned is not None
    assert has_metadata(png.cleaned.path.read_bytes()) == []
    gif = _scan(tmp_path, animated_gif(), "a.gif")
    assert gif.cleaned is not None
    data = gif.cleaned.path.read_bytes()
    assert has_metadata(data) == []
    with Image.open(io.BytesIO(data)) as image:
        assert image.n_frames == 3  # still animated


@pytest.mark.parametrize(("data", "name"), [
    (SVG_WITH_SCRIPT, "cat.svg"), (SVG_WITH_SCRIPT, "cat.png"),
    # every SVG, not only one with a script: refused, not sanitised (docs/files.md, "SVG")
    (b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>', "a.svg"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>', "a.txt"),
    (b"MZ\x90\x00\x03" + bytes(200), "setup.exe"), (b"\x7fELF\x02\x01\x01" + bytes(100), "a"),
    (b"#!/usr/bin/env python\nprint(1)\n", "x.txt"),
    (b"\xff\xd8\xff\xe0" + bytes(50), "broken.jpg"),
])
def test_refused(tmp_path: Path, data: bytes, name: str) -> None:
    with pytest.raises(DomainError) as refused:
        _scan(tmp_path, data, name)
    assert refused.value.code == "bad_request"


def test_other_allowed_files_are_kept_as_they_are(tmp_path: Path) -> None:
    scanned = _scan(tmp_path, b"%PDF-1.7\n%...\n", "doc.pdf")
    assert scanned.content_type == "application/pdf"
    assert scanned.cleaned is None
    assert scanned.thumbnail is None


def test_media_is_reencoded_small_and_clean(tmp_path: Path) -> None:
    source = tmp_path / "avatar"
    source.write_bytes(jpeg_with_exif((2000, 1000)))
    content_type, produced = reencode_media(source, lambda: tmp_path / "out", 512)
    assert content_type == "image/webp"
    data = produced.path.read_bytes()
    assert has_metadata(data) == []
    with Image.open(io.BytesIO(data)) as image:
        assert max(image.size) == 512
    source.write_bytes(b"%PDF-1.7")
    with pytest.raises(DomainError):
        reencode_media(source, lambda: tmp_path / "out2", 512)
