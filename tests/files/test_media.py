"""Avatars and banners: re-encoded, served publicly, kept in the profile; a replaced
image's bytes are collected."""

from __future__ import annotations

import io

from PIL import Image

from tests.files.conftest import FilesApi, pdf
from tests.files.images import animated_gif, has_metadata, jpeg_with_exif


async def test_avatar_upload_replace_and_profile(files: FilesApi) -> None:
    user = await files.api.register()
    post = files.client.post
    r = await post("/api/account/avatar", headers=user.auth,
                   files={"file": ("me.jpg", jpeg_with_exif((1200, 900)))})
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["url"].startswith("/api/avatars/") and first["url"].endswith(".webp")
    served = await files.client.get(first["url"])  # public
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"
    assert has_metadata(served.content) == []
    with Image.open(io.BytesIO(served.content)) as image:
        assert max(image.size) == 512
    me = await files.client.get("/api/account/me", headers={
        **user.auth, "Chatalot-Min-Position": first["position"]})
    assert me.json()["avatar_url"] == first["url"]

    r = await post("/api/account/avatar", headers=user.auth,
                   files={"file": ("anim.gif", animated_gif())})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["content_type"] == "image/gif"
    assert (await files.client.get(first["url"])).status_code == 404
    await files.wait_until(lambda: files.blob_count() == 1)

    r = await post("/api/account/banner", headers=user.auth,
                   files={"file": ("b.jpg", jpeg_with_exif((3000, 1000)))})
    assert r.status_code == 200, r.text
    me = await files.client.get("/api/account/me", headers={
        **user.auth, "Chatalot-Min-Position": r.json()["position"]})
    assert me.json()["banner_url"] == r.json()["url"]
    assert me.json()["avatar_url"] == second["url"]


async def test_avatar_refusals(files: FilesApi) -> None:
    user = await files.api.register()
    post = files.client.post
    r = await post("/api/account/avatar", headers=user.auth,
                   files={"file": ("doc.pdf", pdf(100))})
    assert (r.status_code, r.json()["code"]) == (400, "bad_request")
    r = await post("/api/account/avatar", headers=user.auth,
                   files={"file": ("big.jpg", b"\xff\xd8\xff" + bytes(10 * 1024 * 1024))})
    assert (r.status_code, r.json()["code"]) == (413, "too_large")
    r = await post("/api/account/avatar", files={"file": ("a.jpg", jpeg_with_exif())})
    assert r.status_code == 401
    assert (await files.client.get("/api/avatars/nothing.webp")).status_code == 400
    missing = "/api/avatars/00000000-0000-4000-8000-000000000000.webp"
    assert (await files.client.get(missing)).status_code == 404
    assert files.blob_count() == 0


async def test_community_and_group_images_need_their_admins(files: FilesApi) -> None:
    space = await files.space(members=1)
    owner, member = space.owner, space.members[0]
    image = {"file": ("icon.png", jpeg_with_exif((800, 800)))}
    routes = [f"/api/communities/{space.community_id}/icon",
              f"/api/communities/{space.community_id}/banner",
              f"/api/groups/{space.group_id}/icon", f"/api/groups/{space.group_id}/banner",
              f"/api/groups/{space.group_id}/voice-background"]
    for route in routes:
        r = await files.client.post(route, headers=member.auth, files=image)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden"), (route, r.text)
        r = await files.client.post(route, headers=owner.auth, files=image)
        assert r.status_code == 200, (route, r.text)
        url = r.json()["url"]
        prefix = "/api/community-assets/" if "communities" in route else "/api/group-assets/"
        assert url.startswith(prefix)
        served = await files.client.get(url)
        assert served.status_code == 200
        assert has_metadata(served.content) == []
    r = await files.client.post("/api/communities/00000000-0000-4000-8000-000000000000/icon",
                                headers=owner.auth, files=image)
    assert r.status_code == 404
