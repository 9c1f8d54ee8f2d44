"""Every spaces route x every role: anonymous, non-member, member, moderator, admin, owner
(of the community), instance admin, banned (from the community) and timed-out (in the
channel). One table says what each must get; the test checks the status of every call and
that a refused command appended no event. Each call gets a valid body and, where it acts
on someone, a fresh victim, so an allowed call succeeds and the table shows exactly who may
do what.

Calls that change the caller's own membership (join, leave, accept, transfer) get a fresh
community per route; those that end the community (delete, transfer) one per allowed
role, so one role's call cannot change another's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from tests.accounts.conftest import Api, User
from tests.spaces.builders import SpacesBuilder
from tests.spaces.conftest import make_admin

ROLES = ("anonymous", "non_member", "member", "moderator", "admin", "owner",
         "instance_admin", "banned", "timed_out")
IN = ("member", "moderator", "admin", "owner", "timed_out")
MOD_UP = ("moderator", "admin", "owner", "instance_admin")
ADMIN_UP = ("admin", "owner", "instance_admin")
ALL = tuple(r for r in ROLES if r != "anonymous")


def exp(allowed: Iterable[str], ok: int = 200, refused: int = 403, **special: int
        ) -> dict[str, int]:
    table = {role: ok if role in allowed else refused for role in ROLES}
    return {**table, "anonymous": 401, **special}


JOIN = exp(("non_member", "instance_admin"), **dict.fromkeys(IN, 409))
LEAVE = exp(("member", "moderator", "admin", "timed_out"), refused=400, owner=403)
IN_OR_STAFF = exp((*IN, "instance_admin"))


@dataclass
class Ctx:
    b: SpacesBuilder
    staff: User
    users: dict[str, User]
    cid: str
    gid: str
    ch: str
    _victim: User | None = None
    made: dict[str, Any] = field(default_factory=dict)

    @property
    def owner(self) -> User:
        return self.users["owner"]

    async def victim(self) -> User:
        """A plain member (in the group and channel), fresh after each successful use."""
        if self._victim is None:
            self._victim = await self.b.api.register()
            await self.b.join(self._victim, self.cid)
        return self._victim

    def used(self) -> None:
        self._victim = None
        self.made.clear()

    async def once(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """What `make` made, kept until a call succeeds (a refused call consumed nothing)."""
        if key not in self.made:
            self.made[key] = await make()
        return self.made[key]

    async def owner_call(self, method: str, path: str, body: Any = None,
                         status: int = 200) -> Any:
        r = await self.b.request(method, path, self.owner, body)
        assert r.status_code == status, r.text
        return r.json()


async def build(b: SpacesBuilder, staff: User, users: dict[str, User] | None = None) -> Ctx:
    """A community in which each role has its user. The same users may play their roles
    in several communities (a new community each time): one community's state never
    depends on another's."""
    if users is None:
        users = {role: await b.api.register() for role in ROLES
                 if role not in ("anonymous", "instance_admin")}
        users["instance_admin"] = staff
    owner = users["owner"]
    cid = await b.create_community(owner, public=True)
    gid = await b.create_group(owner, cid)
    ch = await b.create_channel(owner, gid)
    for role in ("member", "moderator", "admin", "banned", "timed_out"):
        await b.join(users[role], cid)
    await b.set_role(owner, cid, users["moderator"], "moderator")
    await b.set_role(owner, cid, users["admin"], "admin")
    ctx = Ctx(b, staff, users, cid, gid, ch)
    await ctx.owner_call("POST", f"/api/communities/{cid}/bans/{users['banned'].id}")
    await ctx.owner_call("POST", f"/api/communities/{cid}/channels/{ch}/timeout",
                         {"user_id": users["timed_out"].id, "duration_secs": 3600})
    return ctx


Call = tuple[str, str, Any]
Setup = Callable[[Ctx, User], Awaitable[Call]]


def plain(method: str, template: str, body: Any = None) -> Setup:
    async def setup(ctx: Ctx, actor: User) -> Call:
        return method, template.format(c=ctx, me=actor), body
    return setup


def on_victim(method: str, template: str, body: Any = None, *, pre: str | None = None
              ) -> Setup:
    """A call on a fresh member; `pre` = "ban" / "channel_ban" / "timeout" puts the victim
    in that state first (by the owner)."""
    async def setup(ctx: Ctx, actor: User) -> Call:
        v = await ctx.victim()
        if pre == "ban":
            await ctx.owner_call("POST", f"/api/communities/{ctx.cid}/bans/{v.id}")
        elif pre == "channel_ban":
            await ctx.owner_call("POST", f"/api/channels/{ctx.ch}/members/{v.id}/ban")
        elif pre == "timeout":
            await ctx.owner_call("POST", f"/api/communities/{ctx.cid}/channels/{ctx.ch}/timeout",
                                 {"user_id": v.id, "duration_secs": 600})
        if pre:
            ctx.used()  # consumed whatever the call answers
        data = {k: (v.id if val == "{victim}" else val) for k, val in (body or {}).items()}
        return method, template.format(c=ctx, v=v), data if body is not None else None
    return setup


async def fresh_group(ctx: Ctx, public: bool = True) -> str:
    async def make() -> str:
        r = await ctx.owner_call("POST", "/api/groups", {
            "community_id": ctx.cid, "name": "fresh", "public": public}, 201)
        return str(r["id"])
    return str(await ctx.once(f"group {public}", make))


async def delete_group(ctx: Ctx, actor: User) -> Call:
    return "DELETE", f"/api/groups/{await fresh_group(ctx)}", None


async def transfer_group(ctx: Ctx, actor: User) -> Call:
    return ("POST", f"/api/groups/{await fresh_group(ctx)}/transfer-ownership",
            {"user_id": ctx.users["member"].id})


async def leave_group(ctx: Ctx, actor: User) -> Call:
    return "POST", f"/api/groups/{await fresh_group(ctx)}/leave", None


async def delete_channel(ctx: Ctx, actor: User) -> Call:
    r = await ctx.once("channel", lambda: ctx.owner_call(
        "POST", f"/api/groups/{ctx.gid}/channels", {"name": "tmp"}, 201))
    return "DELETE", f"/api/groups/{ctx.gid}/channels/{r['id']}", None


async def invite(ctx: Ctx) -> Any:
    return await ctx.once("invite", lambda: ctx.owner_call(
        "POST", f"/api/communities/{ctx.cid}/invites", {}, 201))


async def delete_invite(ctx: Ctx, actor: User) -> Call:
    return "DELETE", f"/api/communities/{ctx.cid}/invites/{(await invite(ctx))['id']}", None


async def invite_info(ctx: Ctx, actor: User) -> Call:
    return "GET", f"/api/community-invites/{(await invite(ctx))['code']}", None


async def accept(ctx: Ctx, actor: User) -> Call:
    return "POST", f"/api/community-invites/{(await invite(ctx))['code']}/accept", None


async def group_invite(ctx: Ctx) -> str:
    async def make() -> str:
        gid = await fresh_group(ctx, public=False)
        r = await ctx.owner_call("POST", f"/api/groups/{gid}/invites", {}, 201)
        return str(r["code"])
    return str(await ctx.once("group invite", make))


async def group_invite_info(ctx: Ctx, actor: User) -> Call:
    return "GET", f"/api/group-invites/{await group_invite(ctx)}", None


async def accept_group(ctx: Ctx, actor: User) -> Call:
    return "POST", f"/api/group-invites/{await group_invite(ctx)}/accept", None


C, G, CH = "/api/communities/{c.cid}", "/api/groups/{c.gid}", "/api/channels/{c.ch}"
T = f"{C}/channels/{{c.ch}}"
# name, setup, expected, fresh: None (shared community), "route" or "role"
ROUTES: list[tuple[str, Setup, dict[str, int], str | None]] = [
    ("my communities", plain("GET", "/api/communities"), exp(ALL), None),
    ("discover", plain("GET", "/api/communities/discover"), exp(ALL), None),
    ("create community", plain("POST", "/api/communities", {"name": "n"}), exp(ALL, 201), None),
    ("community", plain("GET", C), exp(ALL, banned=403), None),
    ("update community", plain("PATCH", C, {"name": "renamed"}), exp(ADMIN_UP), None),
    ("delete community", plain("DELETE", C), exp(("owner", "instance_admin")), "role"),
    ("transfer community", plain("POST", C + "/transfer-ownership", {"user_id": "{v}"}),
     exp(("owner",)), "role"),
    ("join community", plain("POST", C + "/join"), JOIN, "route"),
    ("leave community", plain("POST", C + "/leave"), LEAVE, "route"),
    ("community members", plain("GET", C + "/members"), exp(ALL, banned=403), None),
    ("community role", on_victim("PUT", C + "/members/{v.id}/role", {"role": "moderator"}),
     exp(ADMIN_UP), None),
    ("nickname", plain("PUT", C + "/members/{me.id}/nickname", {"nickname": "nick"}),
     exp(IN), None),
    ("kick", on_victim("DELETE", C + "/members/{v.id}"), exp(MOD_UP), None),
    ("bans", plain("GET", C + "/bans"), exp(MOD_UP), None),
    ("ban", on_victim("POST", C + "/bans/{v.id}", {"reason": "r"}), exp(MOD_UP), None),
    ("unban", on_victim("DELETE", C + "/bans/{v.id}", pre="ban"), exp(MOD_UP), None),
    ("invites", plain("GET", C + "/invites"), IN_OR_STAFF, None),
    ("create invite", plain("POST", C + "/invites", {"max_uses": 5}), exp(MOD_UP, 201), None),
    ("delete invite", delete_invite, exp(MOD_UP), None),
    ("community groups", plain("GET", C + "/groups"), exp(ALL, banned=403), None),
    ("timeout", on_victim("POST", T + "/timeout", {"user_id": "{victim}", "duration_secs": 60}),
     exp(MOD_UP), None),
    ("end timeout", on_victim("DELETE", T + "/timeout/{v.id}", pre="timeout"), exp(MOD_UP),
     None),
    ("warn", on_victim("POST", T + "/warn", {"user_id": "{victim}", "reason": "r"}),
     exp(MOD_UP, 201), None),
    ("warnings", on_victim("GET", T + "/warnings/{v.id}"), exp(MOD_UP), None),
    ("invite info", invite_info, exp(ALL), None),
    ("accept invite", accept, JOIN, "route"),
    ("my groups", plain("GET", "/api/groups"), exp(ALL), None),
    ("create group", plain("POST", "/api/groups", {"community_id": "{c.cid}", "name": "g"}),
     exp(ADMIN_UP, 201), None),
    ("discover groups", plain("GET", "/api/groups/discover"), exp(ALL), None),
    ("group", plain("GET", G), IN_OR_STAFF, None),
    ("update group", plain("PATCH", G, {"name": "renamed"}), exp(ADMIN_UP), None),
    ("delete group", delete_group, exp(("owner", "instance_admin")), None),
    ("transfer group", transfer_group, exp(("owner",)), "route"),
    ("join group", plain("POST", G + "/join"), exp((), **dict.fromkeys(IN, 409)), "route"),
    ("leave group", leave_group, LEAVE, "route"),
    ("group members", plain("GET", G + "/members"), IN_OR_STAFF, None),
    ("group channels", plain("GET", G + "/channels"), IN_OR_STAFF, None),
    ("create channel", plain("POST", G + "/channels", {"name": "c", "kind": "voice"}),
     exp(ADMIN_UP, 201), None),
    ("update group channel", plain("PATCH", G + "/channels/{c.ch}", {"topic": "t"}),
     exp(ADMIN_UP), None),
    ("delete channel", delete_channel, exp(ADMIN_UP), None),
    ("group invites", plain("GET", G + "/invites"), exp(ADMIN_UP), None),
    ("create group invite", plain("POST", G + "/invites", {}), exp(ADMIN_UP, 201), None),
    ("group invite info", group_invite_info, exp(ALL), None),
    ("accept group invite", accept_group, exp(("non_member", "instance_admin", *IN),
                                              owner=409), "route"),
    ("my channels", plain("GET", "/api/channels"), exp(ALL), None),
    ("channel", plain("GET", CH), exp(IN), None),
    ("update channel", plain("PATCH", CH, {"slow_mode_secs": 10}), exp(ADMIN_UP), None),
    ("join channel", plain("POST", CH + "/join"), exp((), **dict.fromkeys(IN, 409)), "route"),
    # the community's owner created the channel: its owner leaves only after a transfer
    ("leave channel", plain("POST", CH + "/leave"), exp(IN, refused=400, owner=403), "route"),
    ("transfer channel", on_victim("POST", CH + "/transfer-ownership",
                                   {"user_id": "{victim}"}), exp(("owner",)), "role"),
    ("channel members", plain("GET", CH + "/members"), exp(IN), None),
    ("channel role", on_victim("PATCH", CH + "/members/{v.id}/role", {"role": "moderator"}),
     exp(ADMIN_UP), None),
    ("channel kick", on_victim("POST", CH + "/members/{v.id}/kick", {}), exp(MOD_UP), None),
    ("channel ban", on_victim("POST", CH + "/members/{v.id}/ban"), exp(MOD_UP), None),
    ("channel unban", on_victim("POST", CH + "/members/{v.id}/unban", pre="channel_ban"),
     exp(MOD_UP), None),
    ("my dms", plain("GET", "/api/dms"), exp(ALL), None),
    ("create dm", on_victim("POST", "/api/dms", {"target_user_id": "{victim}"}),
     exp((*IN, "instance_admin")), None),
]


async def _events(conn: psycopg.AsyncConnection[Any]) -> int:
    cur = await conn.execute("SELECT count(*) FROM events")
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_every_spaces_route_and_role(api: Api, spaces: SpacesBuilder, root: User
                                           ) -> None:
    async with await psycopg.AsyncConnection.connect(api.db.database_url,
                                                     autocommit=True) as conn:
        await _matrix(api, spaces, root, conn)


async def _matrix(api: Api, spaces: SpacesBuilder, root: User,
                  conn: psycopg.AsyncConnection[Any]) -> None:
    staff = await make_admin(api, root, await api.register())
    shared = await build(spaces, staff)
    got: dict[tuple[str, str], int] = {}
    for name, setup, expected, fresh in ROUTES:
        route_ctx = shared if fresh is None else await build(spaces, staff, shared.users)
        for role in ROLES:
            # a refused call changes nothing (checked below), so only a call that should
            # succeed needs a community of its own
            ctx = route_ctx
            if fresh == "role" and expected[role] < 300:
                ctx = await build(spaces, staff, shared.users)
            actor = ctx.users.get(role) or ctx.owner
            method, path, body = await setup(ctx, actor)
            if isinstance(body, dict) and body.get("user_id") == "{v}":
                body = {"user_id": ctx.users["member"].id}
            if isinstance(body, dict) and body.get("community_id") == "{c.cid}":
                body = {**body, "community_id": ctx.cid}
            before = await _events(conn)
            r = await spaces.request(method, path, None if role == "anonymous" else actor,
                                     body)
            got[(name, role)] = r.status_code
            if r.status_code >= 400:
                assert r.json()["code"] in ("unauthorized", "forbidden", "conflict",
                                            "bad_request"), r.text
                if method != "GET":
                    assert await _events(conn) == before, (name, role, "refused but appended")
            elif method != "GET":
                ctx.used()
    wanted = {(name, role): expected[role] for name, _, expected, _ in ROUTES
              for role in ROLES}
    wrong = {k: (got[k], wanted[k]) for k in wanted if got[k] != wanted[k]}
    assert not wrong, f"(route, role): (got, wanted): {wrong}"


MESSAGING_ROUTES = ("/unread", "/read-all", "/messages", "/threads/", "/pins", "/read",
                    "/polls", "/webhooks")
"""Channel routes of the messaging context (tests/messaging has their matrix)."""
MEDIA_ROUTES = ("/icon", "/banner", "/voice-background")
"""Community and group pictures: the files context's routes (tests/files has their matrix)."""


async def test_openapi_documents_every_spaces_route(api: Api) -> None:
    paths = (await api.client.get("/schema/openapi.json")).json()["paths"]
    ours = {p for p in paths if (p.startswith(("/api/communities", "/api/community-invites",
                                              "/api/groups", "/api/group-invites", "/api/dms"))
                                 and not p.endswith(MEDIA_ROUTES))
            or (p.startswith("/api/channels") and "sender-keys" not in p
                and not any(part in p for part in MESSAGING_ROUTES))}
    documented = {(p, m) for p in ours for m in paths[p]}
    assert len(documented) == len(ROUTES), sorted(documented)
    for path in ours:
        for method, op in paths[path].items():
            assert {"400", "401"} <= set(op["responses"]), (path, method)
