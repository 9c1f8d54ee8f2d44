"""Every file route refuses the unauthenticated and the unauthorised, and no input, however
malformed, gets a 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.files.conftest import FilesApi, pdf

ANY_ID = "00000000-0000-4000-8000-000000000000"
USER_ROUTES = [
    ("POST", "/api/files/upload"), ("GET", f"/api/files/{ANY_ID}"),
    ("GET", f"/api/files/{ANY_ID}/thumb"), ("GET", f"/api/files/{ANY_ID}/meta"),
    ("DELETE", f"/api/files/{ANY_ID}"), ("POST", "/api/account/avatar"),
    ("POST", "/api/account/banner"), ("POST", f"/api/communities/{ANY_ID}/icon"),
    ("POST", f"/api/communities/{ANY_ID}/banner"), ("POST", f"/api/groups/{ANY_ID}/icon"),
    ("POST", f"/api/groups/{ANY_ID}/banner"), ("POST", f"/api/groups/{ANY_ID}/voice-background"),
]
ADMIN_ROUTES = [
    ("GET", "/api/admin/files"), ("DELETE", f"/api/admin/files/{ANY_ID}"),
    ("POST", f"/api/admin/files/{ANY_ID}/quarantine"),
    ("POST", f"/api/admin/files/{ANY_ID}/unquarantine"), ("GET", "/api/admin/storage-stats"),
    ("GET", "/api/admin/blocked-hashes"), ("POST", "/api/admin/blocked-hashes"),
    ("DELETE", f"/api/admin/blocked-hashes/{ANY_ID}"),
]


async def test_authorization_matrix(files: FilesApi) -> None:
    owner = await files.api.register()  # the first account: the instance owner
    member = await files.api.register()
    for method, path in USER_ROUTES + ADMIN_ROUTES:
        r = await files.client.request(method, path)
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized"), (method, path)
    for method, path in ADMIN_ROUTES:
        r = await files.client.request(method, path, headers=member.auth)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden"), (method, path)
        body = {"json": {"sha256": "a" * 64}} if path.endswith("blocked-hashes") else {}
        r = await files.client.request(method, path, headers=owner.auth, **body)
        assert r.status_code in ((201,) if body and method == "POST" else (200, 404)), (
            method, path, r.text)
    for path in ("/api/avatars/x", "/api/community-assets/x", "/api/group-assets/x"):
        assert (await files.client.get(path)).status_code == 400  # public, but checked


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@pytest.fixture
async def uploader(files: FilesApi) -> Any:
    return await files.api.register()


@given(body=st.binary(max_size=600), boundary=st.text("abcXYZ0123-", min_size=1, max_size=20),
       channel=_text, encrypted=_text, name=_text)
async def test_no_malformed_upload_gets_a_500(files: FilesApi, uploader: Any, body: bytes,
                                              boundary: str, channel: str, encrypted: str,
                                              name: str) -> None:
    """Raw bodies under a multipart content type, and well-formed forms with arbitrary
    field values and names: always one of the protocol's answers."""
    user = uploader
    allowed = {400, 401, 403, 404, 413, 422, 429}
    r = await files.client.post("/api/files/upload", content=body, headers={
        **user.auth, "content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code in allowed, r.text
    assert set(r.json()) >= {"error", "code"}
    form = {"channel_id": channel or str(uuid.uuid4()), "encrypted": encrypted}
    r = await files.client.post("/api/files/upload", headers=user.auth, data=form,
                                files={"file": (name, pdf(64))})
    assert r.status_code in allowed, r.text
