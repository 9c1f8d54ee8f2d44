"""The file rules alone (no database): names, kinds, types, quota and rate, ranges."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatalot.domain.errors import DomainError
from chatalot.domain.files import rules
from tests.hypothesis_budget import pure

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pure
@given(st.text(max_size=600))
def test_a_clean_name_has_no_path_no_control_and_fits(raw: str) -> None:
    try:
        name = rules.clean_filename(raw)
    except DomainError as exc:
        assert exc.code == "bad_request"
        return
    assert name
    assert "/" not in name
    assert "\\" not in name
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
    assert len(name.encode()) <= rules.FILENAME_MAX_BYTES
    assert not name.startswith(".")


def test_names_lose_their_directories_and_keep_512_bytes() -> None:
    assert rules.clean_filename("../../etc/passwd") == "passwd"
    assert rules.clean_filename("C:\\Users\\me\\photo.jpg") == "photo.jpg"
    assert rules.clean_filename("") == "file"
    assert rules.clean_filename("é" * 256) == "é" * 256  # 512 bytes exactly
    with pytest.raises(DomainError):
        rules.clean_filename("é" * 256 + "x")


@pytest.mark.parametrize(("encrypted", "kind", "e2e", "code"), [
    (False, "text", False, None), (True, "text", True, None), (True, "dm", False, None),
    (False, "dm", False, "e2e_required"), (False, "text", True, "e2e_required"),
    (True, "text", False, "bad_request"), (True, "voice", False, "bad_request"),
])
def test_a_file_kind_goes_only_where_it_fits(encrypted: bool, kind: str, e2e: bool,
                                              code: str | None) -> None:
    if code is None:
        rules.check_kind_fits(encrypted=encrypted, channel_kind=kind, e2e_required=e2e)
        return
    with pytest.raises(DomainError) as refused:
        rules.check_kind_fits(encrypted=encrypted, channel_kind=kind, e2e_required=e2e)
    assert refused.value.code == code


@pytest.mark.parametrize(("detected", "name", "head"), [
    ("application/x-msdownload", "setup.exe", b"MZ"),
    ("application/x-executable", "tool", b"\x7fELF"),
    (None, "run.sh", b"echo hi"),
    (None, "notes.txt", b"#!/bin/sh\nrm -rf /"),
    (None, "page.txt", b"<!DOCTYPE html><script>x</script>"),
    (None, "image.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
    (None, "image.png", b"<?xml version='1.0'?><svg><script>alert(1)</script></svg>"),
    ("application/x-sqlite3", "db.sqlite", b"SQLite format 3\x00"),
    (None, "blob.bin", b"\x00\x01\x02\xff\xfe"),
    ("image/jpeg", "photo.js", b"\xff\xd8\xff"),
])
def test_executables_scripts_markup_and_unknown_types_are_refused(
        detected: str | None, name: str, head: bytes) -> None:
    with pytest.raises(DomainError) as refused:
        rules.check_plaintext_type(detected, name, head)
    assert refused.value.code == "bad_request"


def test_allowed_types_keep_the_detected_type_never_the_name() -> None:
    assert rules.check_plaintext_type("image/png", "photo.jpg", b"\x89PNG") == "image/png"
    assert rules.check_plaintext_type(None, "readme", "héllo\n".encode()) == "text/plain"
    assert rules.check_plaintext_type("application/pdf", "a.pdf", b"%PDF") == "application/pdf"


@pure
@given(st.lists(st.integers(min_value=0, max_value=3600), max_size=30),
       st.integers(min_value=1, max_value=20))
def test_at_most_n_uploads_in_any_sixty_seconds(offsets: list[int], per: int) -> None:
    """Whatever the history, deciding uploads one by one never lets more than `per`
    into a 60 s window, and a refusal says when one leaves it."""
    times = sorted(NOW + timedelta(seconds=s) for s in offsets)
    accepted: list[datetime] = []
    for moment in times:
        try:
            rules.check_rate(accepted, moment, per)
        except DomainError as exc:
            assert exc.code == "rate_limited"
            assert exc.retry_after_secs is not None
            assert 1 <= exc.retry_after_secs <= 60
            continue
        accepted.append(moment)
    for moment in accepted:
        inside = [t for t in accepted if timedelta(0) <= moment - t < rules.RATE_WINDOW]
        assert len(inside) <= per


@pure
@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10**9),
       st.integers(min_value=0, max_value=10**9))
def test_quota_is_exact(used: int, size: int, quota: int) -> None:
    usage = rules.Usage(used, [])
    try:
        after = rules.decide_upload(usage, size, NOW, quota=quota)
    except DomainError as exc:
        assert exc.code == "limit_reached"
        assert quota and used + size > quota
        return
    assert not quota or used + size <= quota
    assert after.bytes_used == used + size
    assert after.recent == [NOW]


@pure
@given(st.integers(min_value=0, max_value=10_000), st.text(max_size=30))
def test_ranges_stay_inside_the_file(size: int, header: str) -> None:
    try:
        got = rules.parse_range(header, size)
    except rules.RangeNotSatisfiable:
        return
    if got is not None:
        first, last = got
        assert 0 <= first <= last < size


@pytest.mark.parametrize(("header", "size", "expected"), [
    ("bytes=0-99", 1000, (0, 99)), ("bytes=500-", 1000, (500, 999)),
    ("bytes=-100", 1000, (900, 999)), ("bytes=990-2000", 1000, (990, 999)),
    ("bytes=-5000", 1000, (0, 999)), ("bytes=0-0", 1, (0, 0)),
    ("bytes=0-1,5-6", 1000, None), ("items=0-1", 1000, None), (None, 1000, None),
    ("bytes=9-3", 1000, None),
])
def test_range_examples(header: str | None, size: int, expected: tuple[int, int] | None
                        ) -> None:
    assert rules.parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=1000-", 1000), ("bytes=-0", 10),
                                              ("bytes=0-", 0)])
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(rules.RangeNotSatisfiable):
        rules.parse_range(header, size)


def test_only_the_uploader_or_staff_delete() -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    assert rules.check_may_delete(me, me, actor_is_staff=False) is False
    assert rules.check_may_delete(other, me, actor_is_staff=True) is True
    with pytest.raises(DomainError):
        rules.check_may_delete(other, me, actor_is_staff=False)


def test_sha256_must_be_hex() -> None:
    assert rules.check_sha256("A" * 64) == "a" * 64
    for bad in ("a" * 63, "g" * 64, ""):
        with pytest.raises(DomainError):
            rules.check_sha256(bad)
