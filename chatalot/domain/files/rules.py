"""Rules of files and media (pure; no I/O): limits, names, what may be stored where, quota
and rate decisions, who may delete, byte ranges. docs/files.md says why each is so.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from chatalot.domain.errors import DomainError, bad_request, forbidden, not_found

MIB: Final = 1024 * 1024
FILENAME_MAX_BYTES: Final = 512
QUOTA_BYTES_DEFAULT: Final = 500 * MIB  # upstream's UPLOAD_QUOTA_MB default
UPLOADS_PER_WINDOW: Final = 10  # upstream: 10 uploads a minute
RATE_WINDOW: Final = timedelta(seconds=60)
MEDIA_MAX_BYTES: Final = 10 * MIB  # avatars, banners, icons, voice backgrounds
MAX_IMAGE_PIXELS: Final = 64_000_000  # a larger image is refused (decompression bombs)
THUMBNAIL_EDGE: Final = 400

# What a plaintext file may be (the detected type, never the client's claim). Everything
# else is refused; executables and scripts are refused by name too (SCRIPT_EXTENSIONS).
ALLOWED_TYPES: Final = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/avif",
    "image/heic", "image/heif",
    "video/mp4", "video/webm", "video/quicktime", "video/x-matroska", "video/x-m4v",
    "audio/mpeg", "audio/ogg", "audio/wav", "audio/x-wav", "audio/flac", "audio/x-flac",
    "audio/aac", "audio/mp4", "audio/x-m4a", "audio/opus", "audio/webm",
    "application/pdf", "application/zip", "application/gzip", "application/x-tar",
    "application/x-7z-compressed", "application/x-rar-compressed", "application/x-bzip2",
    "application/x-xz", "application/zstd", "application/epub+zip", "application/rtf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "video/x-msvideo", "video/mpeg", "video/3gpp", "audio/x-aiff", "audio/midi",
    "text/plain",
})
# Images re-encoded without metadata (EXIF, XMP, text chunks) and thumbnailed.
REENCODED_IMAGES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# Served inline; anything else is `Content-Disposition: attachment`.
INLINE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MEDIA_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})

SCRIPT_EXTENSIONS: Final = frozenset({
    "exe", "dll", "com", "scr", "msi", "msp", "bat", "cmd", "ps1", "psm1", "vbs", "vbe",
    "js", "jse", "mjs", "wsf", "wsh", "hta", "jar", "sh", "bash", "zsh", "csh", "ksh", "py",
    "pyc", "pl", "rb", "php", "phtml", "cgi", "apk", "app", "deb", "rpm", "elf", "bin",
    "run", "lnk", "reg", "scf", "html", "htm", "xhtml", "svg", "svgz", "xml", "swf",
})

MEDIA_PURPOSES: Final = {
    "user": ("avatar", "banner"),
    "community": ("icon", "banner"),
    "group": ("icon", "banner", "voice_background"),
}

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\]')


def too_large(limit_bytes: int) -> DomainError:
    return DomainError("too_large", f"the file exceeds the limit of {limit_bytes} bytes")


def clean_filename(raw: str | None) -> str:
    """The name a file is shown and downloaded under: no path, no control characters,
    NFC, at most 512 bytes of UTF-8 (longer is 400); an empty name is `file`."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".")
    if len(name.encode()) > FILENAME_MAX_BYTES:
        raise bad_request(f"the file name exceeds {FILENAME_MAX_BYTES} bytes")
    return name or "file"


def extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


# -- what may be uploaded where ------------------------------------------------------------


def check_kind_fits(*, encrypted: bool, channel_kind: str, e2e_required: bool) -> None:
    """An opaque (client-encrypted) blob only in an E2E channel or DM; a plaintext file
    never there (the server would see what the channel's members expect to be private)."""
    private = e2e_required or channel_kind == "dm"
    if private and not encrypted:
        raise DomainError("e2e_required", "this channel is end-to-end encrypted: encrypt"
                          " the file and upload it with encrypted=true")
    if encrypted and not private:
        raise bad_request("encrypted files go only into end-to-end encrypted channels and DMs")


def check_plaintext_type(detected: str | None, filename: str, head: bytes) -> str:
    """The stored content type of a plaintext file, or a 400 naming why it is refused:
    executables and scripts (by detected type, by name, by a `#!` line), SVG (it can carry
    script), and anything not on the allowlist."""
    ext = extension(filename)
    if detected in {"image/svg+xml"} or ext in {"svg", "svgz"} or _looks_like_svg(head):
        raise bad_request("SVG files are not accepted (they can carry script)")
    if detected is not None and (detected in _EXECUTABLE_TYPES or "executable" in detected):
        raise bad_request("executables are not accepted")
    if ext in SCRIPT_EXTENSIONS or head.startswith(b"#!"):
        raise bad_request("executables and scripts are not accepted")
    if detected is None and _is_text(head):
        if _looks_like_markup(head):
            raise bad_request("HTML and XML files are not accepted")
        return "text/plain"
    if detected is None or detected not in ALLOWED_TYPES:
        raise bad_request(f"this file type is not accepted ({detected or 'unknown'})")
    return detected


_EXECUTABLE_TYPES: Final = frozenset({
    "application/x-msdownload", "application/x-executable", "application/x-elf",
    "application/x-mach-binary", "application/x-sharedlib", "application/x-dosexec",
    "application/vnd.microsoft.portable-executable", "application/x-shockwave-flash",
    "application/java-archive", "application/x-java-archive", "application/wasm",
    "application/vnd.android.package-archive", "application/x-deb", "application/x-rpm",
    "application/x-google-chrome-extension", "application/vnd.ms-cab-compressed",
})


def _looks_like_svg(head: bytes) -> bool:
    lowered = head[:4096].lower()
    return b"<svg" in lowered


def _looks_like_markup(head: bytes) -> bool:
    start = head[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<?xml", b"<!doctype", b"<html", b"<script", b"<head", b"<body",
                             b"<iframe", b"<svg"))


def _is_text(head: bytes) -> bool:
    """UTF-8 without NULs (a cut multi-byte character at the end is allowed)."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def check_media_type(detected: str | None) -> str:
    if detected not in MEDIA_TYPES:
        raise bad_request("images must be PNG, JPEG, WebP or GIF")
    return detected


def check_media_purpose(owner_kind: str, purpose: str) -> None:
    if purpose not in MEDIA_PURPOSES.get(owner_kind, ()):
        raise not_found(f"no {purpose} for a {owner_kind}")


def is_inline(content_type: str, encrypted: bool) -> bool:
    return not encrypted and content_type in INLINE_TYPES


# -- quota and rate ------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """A user's stored bytes and the times of their uploads in the rate window."""

    bytes_used: int
    recent: Sequence[datetime]


def window(recent: Sequence[datetime], now: datetime) -> list[datetime]:
    """The upload times still inside the rate window at `now`."""
    return sorted(t for t in recent if now - t < RATE_WINDOW)


def check_rate(recent: Sequence[datetime], now: datetime,
               per_window: int = UPLOADS_PER_WINDOW) -> None:
    """At most `per_window` uploads in any 60 s: 429 with the seconds until one leaves."""
    inside = window(recent, now)
    if len(inside) >= per_window:
        oldest = inside[len(inside) - per_window]
        wait = RATE_WINDOW - (now - oldest)
        raise DomainError("rate_limited", f"at most {per_window} uploads a minute",
                          retry_after_secs=max(1, int(wait.total_seconds() + 0.999)))


def check_quota(bytes_used: int, size: int, quota: int) -> None:
    """The user's stored bytes plus this file must fit the quota (0 = no quota): 422
    limit_reached."""
    if quota and bytes_used + size > quota:
        raise DomainError("limit_reached", f"upload quota of {quota} bytes reached"
                          f" ({max(0, quota - bytes_used)} bytes left)")


def decide_upload(usage: Usage, size: int, now: datetime, *, quota: int,
                  per_window: int = UPLOADS_PER_WINDOW) -> Usage:
    """The usage after one more upload of `size` bytes, or the refusal."""
    check_rate(usage.recent, now, per_window)
    check_quota(usage.bytes_used, size, quota)
    return Usage(usage.bytes_used + size, [*window(usage.recent, now), now])


# -- deletion and moderation ---------------------------------------------------------------


def check_may_delete(actor: uuid.UUID, uploader: uuid.UUID, *, actor_is_staff: bool) -> bool:
    """The uploader deletes their own files; instance staff any (returns whether the
    deletion is an admin's)."""
    if actor == uploader:
        return False
    if actor_is_staff:
        return True
    raise forbidden("only the uploader or an instance admin may delete this file")


def check_may_download(*, quarantined: bool, is_staff: bool) -> None:
    if quarantined and not is_staff:
        raise forbidden("this file is quarantined")


_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_sha256(value: str) -> str:
    value = value.strip().lower()
    if not _SHA256.fullmatch(value):
        raise bad_request("sha256 must be 64 hexadecimal digits")
    return value


# -- byte ranges ---------------------------------------------------------------------------


class RangeNotSatisfiable(Exception):
    """416: the range lies outside the file."""


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single `Range: bytes=` range as (first, last) inclusive, clamped to the file;
    None to serve the whole file (no header, several ranges, a malformed one: RFC 9110
    lets a server ignore those). A range that starts past the end raises
    RangeNotSatisfiable."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if first_text == "":
        if last_text == "":
            return None
        suffix = int(last_text)
        if suffix == 0:
            raise RangeNotSatisfiable
        return (max(0, size - suffix), size - 1) if size else _unsatisfiable()
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid: ignored
    if first >= size:
        raise RangeNotSatisfiable
    last = int(last_text) if last_text else size - 1
    return first, min(last, size - 1)


def _unsatisfiable() -> tuple[int, int]:
    raise RangeNotSatisfiable
