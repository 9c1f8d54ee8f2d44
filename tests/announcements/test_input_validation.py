"""Whatever a client sends to the announcement routes (random JSON bodies, titles and
bodies of any text, any length at the limits, random path segments), the answer is a 2xx
or a 4xx with a JSON `{"error", "code"}` body, never a 500; and the limits are exact."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given

from chatalot.domain.announcements.rules import BODY_MAX, TITLE_MAX
from tests.accounts.conftest import Api, User
from tests.accounts.test_input_validation import check, json_values, weird_text

_state: dict[str, Any] = {}


async def owner_of(api: Api) -> User:
    if _state.get("api") is not api:
        _state.update(api=api, owner=await api.register("root"))
    owner: User = _state["owner"]
    return owner


@given(body=json_values)
async def test_random_bodies_never_500(api: Api, body: Any) -> None:
    owner = await owner_of(api)
    check(await api.client.post("/api/admin/announcements", json=body, headers=owner.auth))


@given(title=weird_text, body=weird_text)
async def test_any_text_is_published_or_refused_as_the_rules_say(api: Api, title: str,
                                                                   body: str) -> None:
    owner = await owner_of(api)
    r = await api.client.post("/api/admin/announcements", headers=owner.auth,
                              json={"title": title, "body": body})
    check(r)
    fits = all(t.strip() and len(t) <= most and "\x00" not in t
               for t, most in ((title, TITLE_MAX), (body, BODY_MAX)))
    assert r.status_code == (201 if fits else 400), (r.text, title, body)
    if fits:  # kept exactly as written
        assert (r.json()["title"], r.json()["body"]) == (title, body)


@given(segment=weird_text)
async def test_random_dismiss_paths_never_500(api: Api, segment: str) -> None:
    owner = await owner_of(api)
    r = await api.client.post(f"/api/announcements/{quote(segment, safe='')}/dismiss",
                              headers=owner.auth)
    check(r)
    assert r.status_code in (400, 404, 405), r.text


@pytest.mark.parametrize(("title", "body", "status"), [
    ("t" * TITLE_MAX, "b" * BODY_MAX, 201),
    ("💥" * TITLE_MAX, "ß" * BODY_MAX, 201),  # characters, not bytes
    ("t" * (TITLE_MAX + 1), "b", 400),
    ("t", "b" * (BODY_MAX + 1), 400),
    ("", "b", 400), ("t", "", 400), ("   ", "b", 400), ("t", "\n\t", 400),
    ("t\x00", "b", 400), ("t", "b\x00", 400),
])
async def test_the_limits(api: Api, title: str, body: str, status: int) -> None:
    owner = await owner_of(api)
    r = await api.client.post("/api/admin/announcements", headers=owner.auth,
                              json={"title": title, "body": body})
    assert r.status_code == status, r.text


@pytest.mark.parametrize("body", [
    {"title": "t"}, {"body": "b"}, {"title": 1, "body": "b"}, {"title": "t", "body": None},
    {"title": "t", "body": "b", "extra": 1}, [], "text", None,
])
async def test_malformed_bodies_are_400(api: Api, body: Any) -> None:
    owner = await owner_of(api)
    r = await api.client.post("/api/admin/announcements", headers=owner.auth, json=body)
    assert r.status_code == 400, r.text
