"""Every key route, called as anonymous, with a garbage token, as a suspended user, as a
member (and, for the channel routes, as a user outside the channel): the status each must
get. Each call gets a valid body for its caller, so an authorized caller gets a 200 and
the matrix shows exactly who may do what. Channel membership is seeded in the
`channel_members` decision table (fixture data: there is no channels command yet)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from chatalot.ids import uuid7
from tests.keys.conftest import KeysApi, KeyUser, b64, random_public_keys
from tests.keys.test_sender_keys import message_envelope

ROLES = ("anonymous", "garbage_token", "suspended", "outsider", "member")
MEMBER_ONLY = {"anonymous": 401, "garbage_token": 401, "suspended": 401, "outsider": 200,
               "member": 200}
CHANNEL = {**MEMBER_ONLY, "outsider": 403}
Call = tuple[str, str, Any]
Setup = Callable[[KeyUser, "Ctx"], Awaitable[Call]]

_ids = itertools.count(10)


class Ctx:
    def __init__(self, kapi: KeysApi, owner: KeyUser, bob: KeyUser, channel: uuid.UUID
                 ) -> None:
        self.kapi, self.owner, self.bob, self.channel = kapi, owner, bob, channel


async def bundle(actor: KeyUser, ctx: Ctx) -> Call:
    return "GET", f"/api/keys/{ctx.bob.id}/bundle", None


async def signed(actor: KeyUser, ctx: Ctx) -> Call:
    spk = actor.keys.add_signed_prekey(next(_ids))
    return "POST", "/api/keys/prekeys/signed", {
        "key_id": spk.key_id, "public_key": b64(spk.public), "signature": b64(spk.signature)}


async def one_time(actor: KeyUser, ctx: Ctx) -> Call:
    return "POST", "/api/keys/prekeys/one-time", random_public_keys(next(_ids) * 10, 3)


async def count(actor: KeyUser, ctx: Ctx) -> Call:
    return "GET", "/api/keys/prekeys/count", None


async def distribute(actor: KeyUser, ctx: Ctx) -> Call:
    return "POST", f"/api/channels/{ctx.channel}/sender-keys", {
        "chain_id": 3, "distributions": [
            {"recipient_id": ctx.bob.id, "envelope": b64(message_envelope())}]}


async def fetch_sender_keys(actor: KeyUser, ctx: Ctx) -> Call:
    return "GET", f"/api/channels/{ctx.channel}/sender-keys", None


ROUTES: list[tuple[Setup, dict[str, int]]] = [
    (bundle, MEMBER_ONLY), (signed, MEMBER_ONLY), (one_time, MEMBER_ONLY),
    (count, MEMBER_ONLY), (distribute, CHANNEL), (fetch_sender_keys, CHANNEL),
]


async def _actor(ctx: Ctx, role: str) -> KeyUser:
    user = await ctx.kapi.register()
    if role == "member":
        await ctx.kapi.join(ctx.channel, user)
    if role == "suspended":
        await ctx.kapi.join(ctx.channel, user)
        r = await ctx.kapi.client.post(f"/api/admin/users/{user.id}/suspend",
                                       json={"reason": "test"}, headers=ctx.owner.auth)
        assert r.status_code == 200, r.text
    return user


async def test_every_key_route_and_role(kapi: KeysApi) -> None:
    owner = await kapi.register("owner")
    bob = await kapi.register("bob", one_time=30)
    channel = uuid7()
    await kapi.join(channel, bob)
    ctx = Ctx(kapi, owner, bob, channel)
    got: dict[tuple[str, str], int] = {}
    for setup, _ in ROUTES:
        for role in ROLES:
            actor = await _actor(ctx, role)
            method, path, body = await setup(actor, ctx)
            headers = {"anonymous": {}, "garbage_token": {"Authorization": "Bearer x.y.z"}
                       }.get(role, actor.auth)
            r = await kapi.client.request(method, path, json=body, headers=headers)
            got[(setup.__name__, role)] = r.status_code
            if r.status_code >= 400:
                assert r.json()["code"] in ("unauthorized", "forbidden"), r.text
            else:
                assert r.status_code == 200, r.text
    wanted = {(setup.__name__, role): expected[role] for setup, expected in ROUTES
              for role in ROLES}
    assert got == wanted


async def test_openapi_documents_every_key_route(kapi: KeysApi) -> None:
    paths = (await kapi.client.get("/schema/openapi.json")).json()["paths"]
    expected = {
        "/api/keys/{user_id}/bundle": ("get", {"401", "403", "404"}),
        "/api/keys/prekeys/signed": ("post", {"400", "401", "409"}),
        "/api/keys/prekeys/one-time": ("post", {"400", "401", "409", "422"}),
        "/api/keys/prekeys/count": ("get", {"401"}),
        "/api/channels/{channel_id}/sender-keys": ("post", {"400", "401", "403"}),
    }
    for path, (method, statuses) in expected.items():
        responses = set(paths[path][method]["responses"])
        assert statuses | {"429"} <= responses, (path, responses)
    fetch = paths["/api/channels/{channel_id}/sender-keys"]["get"]
    assert {"401", "403", "503"} <= set(fetch["responses"])
    assert "chatalot-min-position" in {p["name"].lower() for p in fetch["parameters"]}
