"""Bad input on every spaces route: malformed ids, bodies of the wrong shape, unknown
fields, out-of-range values. Always a 4xx with the protocol's error body, never a 500."""

from __future__ import annotations

from typing import Any

from tests.accounts.conftest import Api, User
from tests.spaces.builders import SpacesBuilder
from tests.spaces.conftest import make_admin
from tests.spaces.test_authorization_matrix import ROUTES, build

BAD_BODIES: list[Any] = [[], "x", 7, {"surprise": 1}, {"name": 5},
                         {"user_id": "nope"}, {"role": "owner"}, {"max_uses": -1},
                         {"duration_secs": 10**9}, {"name": "x" * 100},
                         {"target_user_id": "x"}, {"nickname": "n" * 40}]


async def test_never_a_500(api: Api, spaces: SpacesBuilder, root: User) -> None:
    staff = await make_admin(api, root, await api.register())
    ctx = await build(spaces, staff)
    seen = set()
    for name, setup, _, _ in ROUTES:
        method, path, good = await setup(ctx, ctx.owner)
        if (method, path) in seen:
            continue
        seen.add((method, path))
        broken = path.replace(ctx.cid, "not-a-uuid").replace(ctx.ch, "123").replace(
            ctx.gid, "%00")
        tries: list[tuple[str, Any]] = []
        if broken != path:
            tries.append((broken, None))
        if good is not None:  # routes that take no body ignore one
            tries += [(path, body) for body in BAD_BODIES]
        for target, body in tries:
            kwargs: dict[str, Any] = {"headers": ctx.owner.auth}
            if body is not None:
                kwargs["json"] = body
            r = await api.client.request(method, target, **kwargs)
            assert 400 <= r.status_code < 500, (name, target, body, r.status_code, r.text)
            assert set(r.json()) >= {"error", "code"}, r.text
    r = await api.client.get(f"/api/communities/{ctx.cid}/members?limit=0",
                             headers=ctx.owner.auth)
    assert r.status_code == 400
    r = await api.client.get(f"/api/communities/{ctx.cid}/members?cursor=!!",
                             headers=ctx.owner.auth)
    assert r.status_code == 400
    r = await api.client.post("/api/communities", headers=ctx.owner.auth,
                              content=b"{not json")
    assert r.status_code == 400
