"""Every route of issue 4 (and the admin projections routes that now use accounts), called
as anonymous, member, suspended user, admin and owner: the status each must get.

Each call gets a fresh actor of its role (except the one owner), and whatever state the
route needs (a second session, a pending TOTP setup, a victim to suspend, ...), so an
authorized caller gets a 2xx and the matrix shows exactly who may do what.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import pyotp

from tests.accounts.conftest import PASSWORD, Api, User, key_fields

ROLES = ("anonymous", "member", "suspended", "admin", "owner")
Call = tuple[str, str, Any]  # method, path, json body
Setup = Callable[["Ctx", User | None], Awaitable[Call]]

PUBLIC = dict.fromkeys(ROLES, 200)
SELF = {"anonymous": 401, "member": 200, "suspended": 401, "admin": 200, "owner": 200}
STAFF = {"anonymous": 401, "member": 403, "suspended": 401, "admin": 200, "owner": 200}


@dataclass
class Ctx:
    api: Api
    owner: User
    totp: dict[str, str] = field(default_factory=dict)  # user id -> secret, while enabled

    async def member(self) -> User:
        return await self.api.register()

    async def relogin_owner(self) -> None:
        """A fresh owner token (TOTP steps age the clock), with a code when TOTP is on."""
        extra = {}
        if self.owner.id in self.totp:
            extra["totp_code"] = await self.code(self.totp[self.owner.id])
        r = await self.api.login(self.owner, **extra)
        assert r.status_code == 200, r.text
        self.owner.access = r.json()["access_token"]

    async def as_owner(self, method: str, path: str, body: Any = None) -> Any:
        r = await self.api.client.request(method, path, json=body, headers=self.owner.auth)
        assert r.status_code < 300, (path, r.text)
        return r.json()

    async def code(self, secret: str) -> str:
        self.api.clock.advance(30)  # a fresh time step: codes are single-use
        return pyotp.TOTP(secret).at(self.api.clock())


def _sid(user: User) -> str:
    return str(jwt.decode(user.access, options={"verify_signature": False})["sid"])


def _live(actor: User | None) -> bool:
    return actor is not None and "suspended" not in actor.extra


async def _totp_on(ctx: Ctx, actor: User) -> str:
    if actor.id in ctx.totp:
        return ctx.totp[actor.id]
    api = ctx.api
    secret = (await api.client.post("/api/totp/setup", headers=actor.auth)).json()["secret"]
    r = await api.client.post("/api/totp/verify", headers=actor.auth,
                              json={"code": await ctx.code(secret)})
    assert r.status_code == 200, r.text
    ctx.totp[actor.id] = secret
    return secret


_fresh = itertools.count(1)


async def register(ctx: Ctx, _: User | None) -> Call:
    return "POST", "/api/auth/register", {
        "username": f"fresh{next(_fresh)}", "password": PASSWORD, **key_fields()}


async def login(ctx: Ctx, _: User | None) -> Call:
    user = await ctx.member()
    return "POST", "/api/auth/login", {"username": user.username, "password": PASSWORD}


async def refresh(ctx: Ctx, _: User | None) -> Call:
    return "POST", "/api/auth/refresh", {"refresh_token": (await ctx.member()).refresh}


async def recover(ctx: Ctx, _: User | None) -> Call:
    user = await ctx.member()
    return "POST", "/api/auth/recover", {"username": user.username,
                                         "recovery_code": user.recovery_code,
                                         "new_password": "a recovered password"}


def plain(method: str, path: str, body: Any = None) -> Setup:
    async def setup(ctx: Ctx, actor: User | None) -> Call:
        return method, path, body
    return setup


async def revoke_one(ctx: Ctx, actor: User | None) -> Call:
    if not _live(actor):
        return "DELETE", f"/api/account/sessions/{ctx.owner.id}", None
    assert actor is not None
    extra = {"totp_code": await ctx.code(ctx.totp[actor.id])} if actor.id in ctx.totp else {}
    other = await ctx.api.login(actor, **extra)
    sid = jwt.decode(other.json()["access_token"], options={"verify_signature": False})["sid"]
    return "DELETE", f"/api/account/sessions/{sid}", None


async def own_profile(ctx: Ctx, actor: User | None) -> Call:
    return "GET", f"/api/users/{(actor or ctx.owner).id}", None


async def totp_verify(ctx: Ctx, actor: User | None) -> Call:
    if not _live(actor):
        return "POST", "/api/totp/verify", {"code": "123456"}
    assert actor is not None
    r = await ctx.api.client.post("/api/totp/setup", headers=actor.auth)
    secret = r.json()["secret"]
    ctx.totp[actor.id] = secret  # on once the call below succeeds
    return "POST", "/api/totp/verify", {"code": await ctx.code(secret)}


async def totp_disable(ctx: Ctx, actor: User | None) -> Call:
    if not _live(actor):
        return "POST", "/api/totp/disable", {"password": PASSWORD, "code": "123456"}
    assert actor is not None
    secret = await _totp_on(ctx, actor)
    del ctx.totp[actor.id]  # off once the call below succeeds
    return "POST", "/api/totp/disable", {"password": actor.password,
                                         "code": await ctx.code(secret)}


async def regenerate_codes(ctx: Ctx, actor: User | None) -> Call:
    if _live(actor):
        assert actor is not None
        await _totp_on(ctx, actor)
    return "POST", "/api/totp/backup-codes/regenerate", {"password": PASSWORD}


async def block(ctx: Ctx, actor: User | None) -> Call:
    return "POST", "/api/users/block", {"user_id": (await ctx.member()).id}


async def unblock(ctx: Ctx, actor: User | None) -> Call:
    target = await ctx.member()
    if _live(actor):
        assert actor is not None
        r = await ctx.api.client.post("/api/users/block", headers=actor.auth,
                                      json={"user_id": target.id})
        assert r.status_code == 200
    return "POST", f"/api/users/unblock/{target.id}", None


async def report(ctx: Ctx, actor: User | None) -> Call:
    return "POST", "/api/reports", {"report_type": "user", "target_id": (await ctx.member()).id,
                                    "reason": "spam"}


def on_victim(method: str, suffix: str, body: Any = None, *, suspended: bool = False
              ) -> Setup:
    async def setup(ctx: Ctx, actor: User | None) -> Call:
        victim = await ctx.member()
        if suspended:
            await ctx.as_owner("POST", f"/api/admin/users/{victim.id}/suspend", {})
        return method, f"/api/admin/users/{victim.id}{suffix}", body
    return setup


async def delete_invite(ctx: Ctx, actor: User | None) -> Call:
    invite = await ctx.as_owner("POST", "/api/admin/invites", {})
    return "DELETE", f"/api/admin/invites/{invite['id']}", None


async def review(ctx: Ctx, actor: User | None) -> Call:
    reporter, target = await ctx.member(), await ctx.member()
    r = await ctx.api.client.post("/api/reports", headers=reporter.auth, json={
        "report_type": "user", "target_id": target.id, "reason": "spam"})
    return "POST", f"/api/admin/reports/{r.json()['id']}/review", {"status": "dismissed"}


ROUTES: list[tuple[str, Setup, dict[str, int | set[int]]]] = [
    ("register", register, dict.fromkeys(ROLES, 201)),
    ("login", login, PUBLIC),
    ("refresh", refresh, PUBLIC),
    ("recover", recover, PUBLIC),
    ("config", plain("GET", "/api/auth/config"), PUBLIC),
    ("health", plain("GET", "/api/health"), PUBLIC),
    ("me", plain("GET", "/api/account/me"), SELF),
    ("profile", plain("PATCH", "/api/account/profile", {"bio": "hi"}), SELF),
    ("change password", plain("POST", "/api/account/change-password", {
        "current_password": PASSWORD, "new_password": PASSWORD}), SELF),
    ("sessions", plain("GET", "/api/account/sessions"), SELF),
    ("revoke session", revoke_one, SELF),
    ("revoke all", plain("POST", "/api/account/sessions/revoke-all"), SELF),
    ("delete account", plain("DELETE", "/api/account/delete", {"password": PASSWORD}),
     {**SELF, "owner": 403}),
    ("get preferences", plain("GET", "/api/account/preferences"), SELF),
    ("put preferences", plain("PUT", "/api/account/preferences",
                              {"preferences": {"a": 1}}), SELF),
    ("recovery code", plain("POST", "/api/account/recovery-code", {"password": PASSWORD}),
     SELF),
    ("totp setup", plain("POST", "/api/totp/setup"), SELF),
    ("totp verify", totp_verify, SELF),
    ("totp disable", totp_disable, SELF),
    ("backup codes", plain("GET", "/api/totp/backup-codes"), SELF),
    ("regenerate codes", regenerate_codes, SELF),
    ("search", plain("GET", "/api/users/search?q=user"), SELF),
    ("get user", own_profile, SELF),
    ("block", block, SELF),
    ("unblock", unblock, SELF),
    ("blocked", plain("GET", "/api/users/blocked"), SELF),
    ("report", report, {**SELF, "member": 201, "admin": 201, "owner": 201}),
    ("admin users", plain("GET", "/api/admin/users"), STAFF),
    ("suspend", on_victim("POST", "/suspend", {"reason": "x"}), STAFF),
    ("unsuspend", on_victim("POST", "/unsuspend", suspended=True), STAFF),
    ("admin delete", on_victim("DELETE", ""), STAFF),
    ("grant admin", on_victim("PUT", "/admin", {"is_admin": True}), {**STAFF, "admin": 403}),
    ("reset password", on_victim("PUT", "/password", {"new_password": "reset by staff"}),
     STAFF),
    ("list invites", plain("GET", "/api/admin/invites"), STAFF),
    ("create invite", plain("POST", "/api/admin/invites", {"max_uses": 1}),
     {**STAFF, "admin": 201, "owner": 201}),
    ("delete invite", delete_invite, STAFF),
    ("reports", plain("GET", "/api/admin/reports"), STAFF),
    ("review", review, STAFF),
    ("projections", plain("GET", "/api/admin/projections"), STAFF),
    ("rebuild", plain("POST", "/api/admin/projections/event_stats/rebuild"),
     {**STAFF, "admin": {200, 202}, "owner": {200, 202}}),
]


async def actor_for(ctx: Ctx, role: str) -> User | None:
    api = ctx.api
    if role == "anonymous":
        return None
    if role == "owner":
        return ctx.owner
    user = await ctx.member()
    if role == "admin":
        await ctx.as_owner("PUT", f"/api/admin/users/{user.id}/admin", {"is_admin": True})
        await api.relogin(user)
    if role == "suspended":
        await ctx.as_owner("POST", f"/api/admin/users/{user.id}/suspend", {})
        user.extra["suspended"] = True
    return user


async def test_authorization_matrix(api: Api) -> None:
    owner = await api.register("owner")
    ctx = Ctx(api, owner)
    failures = []
    for name, setup, expected in ROUTES:
        for role in ROLES:
            if role == "owner":
                await ctx.relogin_owner()
            actor = await actor_for(ctx, role)
            method, path, body = await setup(ctx, actor)
            # queries answer from read models that have seen everything so far
            headers = {**(actor.auth if actor else {}),
                       "Chatalot-Min-Position": await api.head()}
            r = await api.client.request(method, path, json=body, headers=headers)
            want = expected[role]
            ok = r.status_code in want if isinstance(want, set) else r.status_code == want
            if not ok:
                failures.append(f"{name} as {role}: {r.status_code} {r.text[:120]}"
                                f" (want {want})")
            if r.status_code >= 400:
                assert set(r.json()) >= {"error", "code"}, (name, role, r.text)
    assert not failures, "\n".join(failures)
