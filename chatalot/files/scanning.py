"""What the server does to a plaintext file before storing it, in worker threads: detect
its type from its bytes (`filetype`, a maintained magic-bytes library), refuse what
domain/files/rules.py refuses, re-encode images without their metadata (EXIF, GPS, XMP,
comments, text chunks) and make a thumbnail; and re-encode avatars, banners and icons.

Every function here is synchronous and CPU-bound: callers run them through
`ImageWorkers.run`, which bounds how many run at once and keeps them off the event loop.
An opaque (client-encrypted) blob never comes here.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import filetype
from PIL import Image, ImageOps, ImageSequence

from chatalot.domain.errors import bad_request
from chatalot.domain.files import rules

T = TypeVar("T")
HEAD_BYTES = 8192
Image.MAX_IMAGE_PIXELS = rules.MAX_IMAGE_PIXELS
MAX_ANIMATION_PIXELS = 4 * rules.MAX_IMAGE_PIXELS  # all frames together
_KEPT_ANIMATION_INFO = ("duration", "loop", "transparency", "background", "disposal")
_ALIASES = {"image/apng": "image/png"}


class ImageWorkers:
    """At most `limit` image jobs at once, each in a worker thread."""

    def __init__(self, limit: int | None = None) -> None:
        self._slots = asyncio.Semaphore(limit or max(1, (os.cpu_count() or 2) - 1))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._slots:
            return await asyncio.to_thread(fn, *args)


@dataclass(frozen=True)
class Produced:
    """A blob a worker wrote into staging: where, its hash and size."""

    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Scanned:
    content_type: str
    cleaned: Produced | None  # the re-encoded image, when the file was one
    thumbnail: Produced | None


def detect(path: Path) -> tuple[str | None, bytes]:
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    kind = filetype.guess(head)
    mime = kind.mime if kind is not None else None
    return _ALIASES.get(mime, mime) if mime else None, head


def scan_plaintext(path: Path, filename: str, new_path: Callable[[], Path]) -> Scanned:
    """Check a received plaintext file; re-encode and thumbnail it if it is an image."""
    detected, head = detect(path)
    content_type = rules.check_plaintext_type(detected, filename, head)
    if content_type not in rules.REENCODED_IMAGES:
        return Scanned(content_type, None, None)
    with _open_image(path) as image:
        cleaned = _reencode(image, content_type, new_path())
        thumbnail = make_thumbnail(image, new_path())
    return Scanned(content_type, cleaned, thumbnail)


def reencode_media(path: Path, new_path: Callable[[], Path], max_edge: int
                   ) -> tuple[str, Produced]:
    """An avatar, banner, icon or background: PNG, JPEG, WebP or GIF in; the same picture
    out, at most `max_edge` pixels on its long side, without metadata (animated GIFs stay
    animated GIFs; everything else becomes WebP)."""
    detected, _ = detect(path)
    rules.check_media_type(detected)
    with _open_image(path) as image:
        if getattr(image, "n_frames", 1) > 1 and detected == "image/gif":
            frames = _frames(image, max_edge)
            return "image/gif", _save_frames(frames, image, "GIF", new_path())
        picture = _oriented(image)
        picture.thumbnail((max_edge, max_edge))
        return "image/webp", _save(picture, new_path(), "WEBP", quality=88)


def make_thumbnail(image: Image.Image, target: Path) -> Produced:
    """At most 400x400, WebP, first frame only."""
    image.seek(0)
    picture = image.copy()
    if picture.mode not in ("RGB", "RGBA"):
        picture = picture.convert("RGBA" if _has_alpha(picture) else "RGB")
    picture.thumbnail((rules.THUMBNAIL_EDGE, rules.THUMBNAIL_EDGE), reducing_gap=2.0)
    return _save(picture, target, "WEBP", quality=80)


def _open_image(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise bad_request("the image is too large to process") from None
    except (OSError, SyntaxError, ValueError):
        raise bad_request("the image could not be decoded") from None
    return image


def _reencode(image: Image.Image, content_type: str, target: Path) -> Produced:
    """The same image without metadata: JPEG re-encoded at high quality after applying
    its EXIF orientation; PNG, GIF and WebP re-saved (lossless for PNG and GIF)."""
    if getattr(image, "n_frames", 1) > 1 and content_type in ("image/gif", "image/webp"):
        frames = _frames(image, None)
        fmt = "GIF" if content_type == "image/gif" else "WEBP"
        return _save_frames(frames, image, fmt, target)
    picture = _oriented(image)
    if content_type == "image/jpeg":
        if picture.mode not in ("RGB", "L", "CMYK"):
            picture = picture.convert("RGB")
        return _save(picture, target, "JPEG", quality=92, optimize=False)
    if content_type == "image/png":
        return _save(picture, target, "PNG", compress_level=3)
    if content_type == "image/gif":
        return _save(picture, target, "GIF")
    return _save(picture, target, "WEBP", quality=90)


def _oriented(image: Image.Image) -> Image.Image:
    """A copy with the EXIF orientation applied and every metadata entry dropped."""
    image.seek(0)
    picture = ImageOps.exif_transpose(image) or image.copy()
    if picture is image:
        picture = image.copy()
    picture.info = {}
    return picture


def _frames(image: Image.Image, max_edge: int | None) -> list[Image.Image]:
    width, height = image.size
    if width * height * getattr(image, "n_frames", 1) > MAX_ANIMATION_PIXELS:
        raise bad_request("the animation is too large to process")
    frames = []
    for frame in ImageSequence.Iterator(image):
        copy = frame.convert("RGBA")
        if max_edge is not None:
            copy.thumbnail((max_edge, max_edge))
        copy.info = {}
        frames.append(copy)
    return frames


def _save_frames(frames: list[Image.Image], source: Image.Image, fmt: str, target: Path
                 ) -> Produced:
    kept = {k: source.info[k] for k in ("duration", "loop") if k in source.info}
    first, rest = frames[0], frames[1:]
    first.save(target, fmt, save_all=True, append_images=rest, **kept)
    return _produced(target)


def _save(picture: Image.Image, target: Path, fmt: str, **options: Any) -> Produced:
    picture.info = {}
    picture.save(target, fmt, **options)
    return _produced(target)


def _produced(path: Path) -> Produced:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return Produced(path, digest.hexdigest(), size)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
