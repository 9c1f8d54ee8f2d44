"""Whole account flows through HTTP, against the real app and a real database."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import msgspec
import psycopg
import pyotp
import pytest
from psycopg import sql

from chatalot.db import database_name
from chatalot.domain.accounts.registration_mode import RegistrationMode
from tests.accounts.conftest import (
    PASSWORD,
    Api,
    FrozenClock,
    key_fields,
    make_settings,
    running_app,
)


async def test_registration_first_account_owns_the_instance(api: Api) -> None:
    owner = await api.register("Owner", email="owner@example.org", display_name="The Owner")
    member = await api.register("member1")
    assert len(owner.recovery_code) == 19
    r = await api.client.get("/api/account/me", headers={
        **owner.auth, **await api.wait(owner.position)})
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["username"] == "Owner" and me["display_name"] == "The Owner"
    assert me["is_owner"] and me["is_admin"] and me["email"] == "owner@example.org"
    r = await api.client.get("/api/account/me", headers={
        **member.auth, **await api.wait(member.position)})
    assert r.json()["is_owner"] is False and r.json()["is_admin"] is False
    # one event stream per account; credentials never in the log
    events = await api.events(f"user-{owner.id}")
    assert [e.type for e in events] == ["UserRegistered"]
    assert events[0].metadata.command == "register"
    keys = await api.events(f"keys-{owner.id}")
    assert [e.type for e in keys] == ["IdentityKeyRegistered", "SignedPrekeyUploaded",
                                      "OneTimePrekeysUploaded"]
    everything = " ".join(row[0] for row in await api.db.fetch("SELECT data::text FROM events"))
    assert PASSWORD not in everything and "argon2" not in everything
    assert owner.recovery_code not in everything


async def test_registration_refusals(api: Api) -> None:
    await api.register("Alice", email="alice@example.org")
    cases = [
        ({"username": "ALICE"}, 409, "conflict"),
        ({"username": "alice2", "email": "ALICE@example.org"}, 409, "conflict"),
        ({"username": "a"}, 400, "bad_request"),
        ({"username": "bad name"}, 400, "bad_request"),
        ({"username": "b" * 33}, 400, "bad_request"),  # the cap is 32 (docs/accounts.md)
        ({"username": "bob..b"}, 400, "bad_request"),
        ({"username": "bob."}, 400, "bad_request"),
        ({"username": "bob", "password": "password123"}, 400, "bad_request"),
        ({"username": "bob", "password": "short"}, 400, "bad_request"),
        ({"username": "bob", "display_name": "x" * 65}, 400, "bad_request"),
        ({"username": "bob", "unknown_field": 1}, 400, "bad_request"),
    ]
    for change, status, code in cases:
        body = {"username": "bob", "password": PASSWORD, **key_fields(), **change}
        r = await api.client.post("/api/auth/register", json=body)
        assert (r.status_code, r.json()["code"]) == (status, code), (change, r.text)
    # keys: a signature that does not verify, a small-order prekey, bad base64
    bad_sig = key_fields()
    sig = bytearray(base64.b64decode(bad_sig["signed_prekey"]["signature"]))
    sig[0] ^= 1
    bad_sig["signed_prekey"]["signature"] = base64.b64encode(bytes(sig)).decode()
    small = key_fields()
    small["one_time_prekeys"][0]["public_key"] = base64.b64encode(bytes(32)).decode()
    garbage = key_fields()
    garbage["identity_key"] = "%%%"
    for keys in (bad_sig, small, garbage):
        r = await api.client.post("/api/auth/register", json={
            "username": "bob", "password": PASSWORD, **keys})
        assert r.status_code == 400, r.text
    # a one-time key id twice: 409 conflict, as at POST /api/keys/prekeys/one-time (the
    # key server's rules decide both), and nothing is stored
    twice = key_fields()
    twice["one_time_prekeys"][1]["key_id"] = twice["one_time_prekeys"][0]["key_id"]
    r = await api.client.post("/api/auth/register", json={
        "username": "bob", "password": PASSWORD, **twice})
    assert (r.status_code, r.json()["code"]) == (409, "conflict"), r.text
    r = await api.client.post("/api/auth/register", json={
        "username": "bob", "password": PASSWORD, **key_fields()})
    assert r.status_code == 201, r.text  # the refused ones left the name free
    assert (await api.client.get("/api/auth/config")).json()["registration_mode"] == "open"
    longest = await api.register("b" * 32)  # exactly at the cap
    assert (await api.login(longest)).status_code == 200


async def test_invite_only_and_closed_modes(tmp_path: Path, fast_database_url: str) -> None:
    database_url = fast_database_url
    clock = FrozenClock()
    settings = make_settings(tmp_path, registration_mode=RegistrationMode.INVITE_ONLY)
    async with running_app(settings, database_url, clock) as api:
        client = api.client
        owner = await api.register("owner")  # the first account needs no invite
        body = {"username": "guest", "password": PASSWORD, **key_fields()}
        r = await client.post("/api/auth/register", json=body)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
        r = await client.post("/api/admin/invites", json={"max_uses": 1, "expires_in_hours": 1},
                              headers=owner.auth)
        assert r.status_code == 201, r.text
        invite = r.json()
        assert len(invite["code"]) == 12 and invite["used_count"] == 0 and invite["position"]
        r = await client.post("/api/auth/register", json={**body, "invite_code": "nope"})
        assert r.status_code == 403
        r = await client.post("/api/auth/register", json={**body, "invite_code": invite["code"]})
        assert r.status_code == 201, r.text
        r = await client.post("/api/auth/register", json={
            **body, "username": "guest2", "invite_code": invite["code"]})
        assert r.status_code == 403  # used up
        r = await client.get("/api/admin/invites", headers={
            **owner.auth, **await api.wait(r.json().get("position") or invite["position"])})
        listed = r.json()
        assert listed[0]["id"] == invite["id"]
        # expiry
        r = await client.post("/api/admin/invites", json={"expires_in_hours": 1},
                              headers=owner.auth)
        second = r.json()
        clock.advance(3601)
        r = await client.post("/api/auth/register", json={
            **body, "username": "late", "invite_code": second["code"]})
        assert r.status_code == 403
        await api.relogin(owner)  # the access token expired meanwhile
        r = await client.delete(f"/api/admin/invites/{second['id']}", headers=owner.auth)
        assert r.status_code == 200 and r.json()["position"]
        deleted_at = r.json()["position"]
        r = await client.delete(f"/api/admin/invites/{second['id']}", headers=owner.auth)
        assert r.status_code == 404
        # read our own write: the listing must reflect the deletion, not only the creation
        r = await client.get("/api/admin/invites", headers={
            **owner.auth, "Chatalot-Min-Position": deleted_at})
        assert second["id"] not in [i["id"] for i in r.json()]
    closed = make_settings(tmp_path, registration_mode=RegistrationMode.CLOSED)
    async with running_app(closed, database_url, clock) as closed_api:
        client = closed_api.client
        r = await client.post("/api/auth/register", json={**body, "username": "nobody"})
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")


async def test_login_failures_look_alike(api: Api) -> None:
    alice = await api.register("alice")
    wrong = await api.client.post("/api/auth/login", json={
        "username": "alice", "password": "not the password"})
    unknown = await api.client.post("/api/auth/login", json={
        "username": "nobody-here", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    ok = await api.client.post("/api/auth/login", json={
        "username": "ALICE", "password": PASSWORD}, headers={"User-Agent": "Mozilla/5.0 (X11;"
                                                             " Linux x86_64) Firefox/120.0"})
    assert ok.status_code == 200
    assert ok.json()["user"]["id"] == alice.id
    # audit: failures and the success are events with actor, IP and user agent
    events = await api.events(f"user-{alice.id}")
    failed = [e for e in events if e.type == "LoginFailed"]
    assert failed and failed[0].data.reason == "bad_password"
    assert failed[0].metadata.ip and failed[0].metadata.actor_id == alice.id
    success = [e for e in events if e.type == "LoginSucceeded"][-1]
    assert "Firefox" in (success.metadata.user_agent or "")
    rows = await api.db.fetch("SELECT data->>'reason' FROM events WHERE stream_id LIKE 'auth-%'")
    assert [r[0] for r in rows] == ["unknown_user"]


async def test_refresh_rotation_and_reuse_detection(api: Api) -> None:
    alice = await api.register("alice")
    first = alice.refresh
    r = await api.client.post("/api/auth/refresh", json={"refresh_token": first})
    assert r.status_code == 200, r.text
    second = r.json()["refresh_token"]
    access = r.json()["access_token"]
    assert second != first and r.json()["position"]
    assert (await api.client.get("/api/account/sessions", headers={
        "Authorization": f"Bearer {access}",
        "Chatalot-Min-Position": r.json()["position"]})).status_code == 200
    # the rotated token comes back: theft. The whole session family is revoked.
    r = await api.client.post("/api/auth/refresh", json={"refresh_token": first})
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    r = await api.client.post("/api/auth/refresh", json={"refresh_token": second})
    assert r.status_code == 401
    r = await api.client.get("/api/account/sessions", headers={
        "Authorization": f"Bearer {access}"})
    assert r.status_code == 401  # the access token of that session stops at once
    types = [tuple(row) for row in await api.db.fetch(
        "SELECT type, data->>'reason' FROM events WHERE stream_id LIKE 'session-%'"
        " ORDER BY position")]
    assert ("RefreshTokenReused", None) in types
    assert ("SessionRevoked", "refresh_token_reused") in types
    r = await api.client.post("/api/auth/refresh", json={"refresh_token": "f" * 64})
    assert r.status_code == 401


async def test_refresh_after_expiry_fails(api: Api) -> None:
    alice = await api.register("alice")
    api.clock.advance(31 * 86400)
    r = await api.client.post("/api/auth/refresh", json={"refresh_token": alice.refresh})
    assert r.json() == {"error": "the session has ended", "code": "unauthorized"}, r.text
    assert r.status_code == 401
    r = await api.client.get("/api/account/sessions", headers=alice.auth)
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")  # expired long ago


async def test_sessions_list_and_revocation(api: Api) -> None:
    alice = await api.register("alice")
    phone = await api.client.post("/api/auth/login", json={
        "username": "alice", "password": PASSWORD, "device_name": "Alice's phone"})
    laptop = await api.client.post("/api/auth/login", json={
        "username": "alice", "password": PASSWORD}, headers={"User-Agent": "curl/8.0"})
    phone_auth = {"Authorization": f"Bearer {phone.json()['access_token']}"}
    r = await api.client.get("/api/account/sessions", headers={
        **phone_auth, "Chatalot-Min-Position": laptop.json()["position"]})
    assert r.status_code == 200, r.text
    sessions = r.json()
    assert len(sessions) == 3
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1 and current[0]["device_name"] == "Alice's phone"
    assert {s["device_name"] for s in sessions} >= {"curl", "Alice's phone"}
    assert all(s["ip_address"] and s["last_used_at"] for s in sessions)
    other = next(s for s in sessions if s["device_name"] == "curl")
    r = await api.client.delete(f"/api/account/sessions/{other['id']}", headers=phone_auth)
    assert r.status_code == 200 and r.json()["position"]
    r = await api.client.delete(f"/api/account/sessions/{other['id']}", headers=phone_auth)
    assert r.status_code == 409
    laptop_auth = {"Authorization": f"Bearer {laptop.json()['access_token']}"}
    assert (await api.client.get("/api/account/me", headers=laptop_auth)).status_code == 401
    r = await api.client.post("/api/account/sessions/revoke-all", headers=phone_auth)
    assert r.json()["revoked_count"] == 1  # the registration session
    assert (await api.client.get("/api/account/me", headers=alice.auth)).status_code == 401
    r = await api.client.post("/api/account/sessions/revoke-all", headers=phone_auth)
    assert r.json() == {"revoked_count": 0, "position": None}
    r = await api.client.get("/api/account/sessions", headers={
        **phone_auth, "Chatalot-Min-Position": r.json()["position"] or phone.json()[
            "position"]})
    assert r.status_code == 200, r.text
    assert [(s["device_name"], s["current"]) for s in r.json()] == [("Alice's phone", True)]
    r = await api.client.delete(
        "/api/account/sessions/00000000-0000-7000-8000-000000000000", headers=phone_auth)
    assert r.status_code == 404


async def test_change_password_revokes_other_sessions(api: Api) -> None:
    alice = await api.register("alice")
    other = await api.login(alice)
    r = await api.client.post("/api/account/change-password", headers=alice.auth, json={
        "current_password": "wrong password here", "new_password": "a brand new secret"})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await api.client.post("/api/account/change-password", headers=alice.auth, json={
        "current_password": PASSWORD, "new_password": "password1"})
    assert r.status_code == 400
    r = await api.client.post("/api/account/change-password", headers=alice.auth, json={
        "current_password": PASSWORD, "new_password": "a brand new secret"})
    assert r.status_code == 200 and r.json()["position"]
    assert (await api.client.get("/api/account/me", headers=alice.auth)).status_code == 200
    r = await api.client.post("/api/auth/refresh", json={
        "refresh_token": other.json()["refresh_token"]})
    assert r.status_code == 401
    assert (await api.login(alice)).status_code == 401
    alice.password = "a brand new secret"
    assert (await api.login(alice)).status_code == 200
    types = [e.type for e in await api.events(f"user-{alice.id}")]
    assert "PasswordChanged" in types


async def test_recovery(api: Api) -> None:
    alice = await api.register("alice")
    body = {"username": "alice", "recovery_code": alice.recovery_code,
            "new_password": "recovered at last"}
    r = await api.client.post("/api/auth/recover", json={**body, "recovery_code": "AAAA-BBBB"})
    assert r.status_code == 401
    r = await api.client.post("/api/auth/recover", json=body)
    assert r.status_code == 200, r.text
    new_code = r.json()["recovery_code"]
    assert new_code != alice.recovery_code
    assert (await api.client.get("/api/account/me", headers=alice.auth)).status_code == 401
    r = await api.client.post("/api/auth/recover", json=body)
    assert r.status_code == 401  # the old code no longer works
    alice.password = "recovered at last"
    await api.relogin(alice)
    r = await api.client.post("/api/account/recovery-code", headers=alice.auth,
                              json={"password": alice.password})
    assert r.status_code == 200 and r.json()["recovery_code"] != new_code
    r = await api.client.post("/api/auth/recover", json={
        **body, "recovery_code": new_code, "new_password": "yet another secret"})
    assert r.status_code == 401


async def test_totp_with_a_frozen_clock(api: Api) -> None:
    alice = await api.register("alice")
    r = await api.client.post("/api/totp/setup", headers=alice.auth)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert r.json()["otpauth_url"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(secret)
    r = await api.client.post("/api/totp/verify", headers=alice.auth, json={"code": "000000"
                              if totp.at(api.clock()) != "000000" else "111111"})
    assert (r.status_code, r.json()["code"]) == (400, "totp_invalid")
    r = await api.client.post("/api/totp/verify", headers=alice.auth,
                              json={"code": totp.at(api.clock())})
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is True  # clients (and upstream) read it (issue 18)
    backup = r.json()["backup_codes"]
    assert len(backup) == 8
    r = await api.client.post("/api/totp/setup", headers=alice.auth)
    assert r.status_code == 409
    r = await api.login(alice)
    assert (r.status_code, r.json()["code"]) == (401, "totp_required")
    r = await api.login(alice, totp_code="123456" if totp.at(api.clock()) != "123456"
                        else "654321")
    assert (r.status_code, r.json()["code"]) == (401, "totp_invalid")
    # the code used at /verify was spent: wait for the next step
    api.clock.advance(30)
    code = totp.at(api.clock())
    r = await api.login(alice, totp_code=code)
    assert r.status_code == 200, r.text
    r = await api.login(alice, totp_code=code)
    assert (r.status_code, r.json()["code"]) == (401, "totp_invalid")  # no replay
    r = await api.login(alice, totp_code=backup[0])
    assert r.status_code == 200, r.text
    used_at = r.json()["position"]
    r = await api.login(alice, totp_code=backup[0])
    assert (r.status_code, r.json()["code"]) == (401, "totp_invalid")  # single use
    r = await api.client.get("/api/totp/backup-codes", headers={
        **alice.auth, "Chatalot-Min-Position": used_at})
    assert (r.status_code, r.json()) == (200, {"enabled": True, "remaining": 7}), r.text
    r = await api.client.post("/api/totp/backup-codes/regenerate", headers=alice.auth,
                              json={"password": PASSWORD})
    assert r.status_code == 200
    fresh = r.json()["backup_codes"]
    r = await api.client.get("/api/totp/backup-codes", headers={
        **alice.auth, "Chatalot-Min-Position": r.json()["position"]})
    assert r.json() == {"enabled": True, "remaining": 8}
    r = await api.login(alice, totp_code=backup[2])
    assert r.status_code == 401  # the old codes are gone
    api.clock.advance(30)
    r = await api.client.post("/api/totp/disable", headers=alice.auth,
                              json={"password": PASSWORD, "code": "000000"})
    assert r.status_code == 400
    r = await api.client.post("/api/totp/disable", headers=alice.auth,
                              json={"password": PASSWORD, "code": fresh[0]})
    assert r.status_code == 200, r.text
    assert (await api.login(alice)).status_code == 200
    types = [e.type for e in await api.events(f"user-{alice.id}")]
    for t in ["TotpSetupStarted", "TotpEnabled", "BackupCodeUsed", "BackupCodesRegenerated",
              "TotpDisabled"]:
        assert t in types


async def test_lockout_grows_and_recovers(api: Api) -> None:
    alice = await api.register("alice")
    policy = api.settings.security
    statuses = []
    for _ in range(policy.lockout_threshold + 1):
        r = await api.client.post("/api/auth/login", json={
            "username": "alice", "password": "wrong wrong wrong"})
        statuses.append(r.status_code)
    assert statuses[:policy.lockout_threshold] == [401] * policy.lockout_threshold
    assert statuses[-1] == 429
    r = await api.login(alice)  # even the right password waits
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1 and r.json()["code"] == "rate_limited"
    # unknown usernames lock the same way: the lockout reveals nothing
    for _ in range(policy.lockout_threshold + 1):
        r = await api.client.post("/api/auth/login", json={
            "username": "ghost", "password": "wrong wrong wrong"})
    assert r.status_code == 429
    api.clock.advance(policy.lockout_max_delay_secs + 1)
    assert (await api.login(alice)).status_code == 200
    failures = [e for e in await api.events(f"user-{alice.id}") if e.type == "LoginFailed"]
    assert failures[-1].data.reason == "locked"
    assert any(e.data.locked_until for e in failures)


async def test_profile_preferences_and_visibility(api: Api) -> None:
    owner = await api.register("owner")
    alice = await api.register("alice")
    bob = await api.register("bob")
    r = await api.client.patch("/api/account/profile", headers=alice.auth, json={
        "display_name": "Alice A.", "bio": "hello\nworld", "pronouns": "she/her",
        "custom_status": "coding", "avatar_url": "https://cdn.example/a.png",
        "banner_url": "/api/files/banner"})
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "Alice A."
    for bad in [{"bio": "x" * 501}, {"pronouns": "x" * 51}, {"avatar_url": "javascript:x"},
                {}, {"display_name": ""}]:
        r2 = await api.client.patch("/api/account/profile", headers=alice.auth, json=bad)
        assert r2.status_code == 400, bad
    me = (await api.client.get("/api/account/me", headers={
        **alice.auth, "Chatalot-Min-Position": r.json()["position"]})).json()
    assert (me["display_name"], me["bio"], me["pronouns"]) == ("Alice A.", "hello\nworld",
                                                                "she/her")
    r = await api.client.patch("/api/account/profile", headers=alice.auth, json={"bio": ""})
    assert r.status_code == 200, r.text
    me = (await api.client.get("/api/account/me", headers={
        **alice.auth, "Chatalot-Min-Position": r.json()["position"]})).json()
    assert me["bio"] is None
    # preferences: merged, a null removes a key
    r = await api.client.put("/api/account/preferences", headers=alice.auth,
                             json={"preferences": {"theme": "dark", "font": 14}})
    assert r.json()["preferences"] == {"theme": "dark", "font": 14}
    r = await api.client.put("/api/account/preferences", headers=alice.auth,
                             json={"preferences": {"font": None, "density": "compact"}})
    assert r.status_code == 200, r.text
    r = await api.client.get("/api/account/preferences", headers={
        **alice.auth, "Chatalot-Min-Position": r.json()["position"]})
    assert r.json()["preferences"] == {"theme": "dark", "density": "compact"}
    # visibility: no communities yet, so members find only themselves; staff find everyone
    wait = {"Chatalot-Min-Position": bob.position}
    r = await api.client.get("/api/users/search", params={"q": "ali"},
                             headers={**alice.auth, **wait})
    assert [u["username"] for u in r.json()] == ["alice"]
    r = await api.client.get("/api/users/search", params={"q": "bo"},
                             headers={**alice.auth, **wait})
    assert r.json() == []
    r = await api.client.get("/api/users/search", params={"q": "o"}, headers=alice.auth)
    assert r.status_code == 400
    r = await api.client.get("/api/users/search", params={"q": "b"}, headers=owner.auth)
    assert r.status_code == 400
    r = await api.client.get("/api/users/search", params={"q": "bo"},
                             headers={**owner.auth, **wait})
    assert [u["username"] for u in r.json()] == ["bob"]
    assert (await api.client.get(f"/api/users/{bob.id}", headers=alice.auth)).status_code == 404
    r = await api.client.get(f"/api/users/{alice.id}", headers=owner.auth)
    assert r.status_code == 200 and r.json()["pronouns"] == "she/her"
    assert (await api.client.get(f"/api/users/{alice.id}", headers=alice.auth)).status_code == 200


async def test_blocks_and_reports(api: Api) -> None:
    owner = await api.register("owner")
    alice = await api.register("alice")
    bob = await api.register("bob")
    r = await api.client.post("/api/users/block", headers=alice.auth, json={"user_id": bob.id})
    assert r.status_code == 200, r.text
    r2 = await api.client.post("/api/users/block", headers=alice.auth, json={"user_id": bob.id})
    assert r2.status_code == 409
    assert (await api.client.post("/api/users/block", headers=alice.auth,
                                  json={"user_id": alice.id})).status_code == 400
    assert (await api.client.post("/api/users/block", headers=alice.auth, json={
        "user_id": "00000000-0000-7000-8000-000000000000"})).status_code == 404
    r = await api.client.get("/api/users/blocked", headers={
        **alice.auth, "Chatalot-Min-Position": r.json()["position"]})
    assert [b["username"] for b in r.json()] == ["bob"]
    r = await api.client.post(f"/api/users/unblock/{bob.id}", headers=alice.auth)
    assert r.status_code == 200
    assert (await api.client.post(f"/api/users/unblock/{bob.id}",
                                  headers=alice.auth)).status_code == 409
    r = await api.client.get("/api/users/blocked", headers={
        **alice.auth, "Chatalot-Min-Position": r.json()["position"]})
    assert r.json() == []
    # reports go to the admin queue
    r = await api.client.post("/api/reports", headers=alice.auth, json={
        "report_type": "user", "target_id": bob.id, "reason": "spam"})
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]
    r2 = await api.client.post("/api/reports", headers=bob.auth, json={
        "report_type": "user", "target_id": alice.id, "reason": "rude"})
    assert r2.status_code == 201
    # what does not exist cannot be reported (a message or file id: none exist yet)
    for kind, target in [("user", "00000000-0000-7000-8000-000000000001"),
                         ("message", "00000000-0000-7000-8000-000000000001"),
                         ("file", bob.id)]:
        r3 = await api.client.post("/api/reports", headers=alice.auth, json={
            "report_type": kind, "target_id": target, "reason": "rude"})
        assert (r3.status_code, r3.json()["code"]) == (404, "not_found"), (kind, r3.text)
    assert (await api.client.post("/api/reports", headers=alice.auth, json={
        "report_type": "user", "target_id": bob.id, "reason": ""})).status_code == 400
    assert (await api.client.post("/api/reports", headers=alice.auth, json={
        "report_type": "planet", "target_id": bob.id, "reason": "x"})).status_code == 400
    r = await api.client.get("/api/admin/reports", params={"status": "pending", "limit": 1},
                             headers={**owner.auth,
                                      "Chatalot-Min-Position": r2.json()["position"]})
    page = r.json()
    assert [i["id"] for i in page["items"]] == [report_id] and page["next_cursor"]
    r = await api.client.get("/api/admin/reports", params={"cursor": page["next_cursor"]},
                             headers=owner.auth)
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"] is None
    r = await api.client.post(f"/api/admin/reports/{report_id}/review", headers=owner.auth,
                              json={"status": "resolved", "admin_notes": "warned"})
    assert r.status_code == 200
    r2 = await api.client.post(f"/api/admin/reports/{report_id}/review", headers=owner.auth,
                               json={"status": "dismissed"})
    assert r2.status_code == 409
    r = await api.client.get("/api/admin/reports", params={"status": "resolved"}, headers={
        **owner.auth, "Chatalot-Min-Position": r.json()["position"]})
    item = r.json()["items"][0]
    assert item["reviewed_by"] == owner.id and item["admin_notes"] == "warned"
    assert (await api.client.post(
        "/api/admin/reports/00000000-0000-7000-8000-000000000000/review", headers=owner.auth,
        json={"status": "resolved"})).status_code == 404


async def test_admin_user_management(api: Api) -> None:
    owner = await api.register("owner")
    admin = await api.register("helper")
    alice = await api.register("alice", email="alice@example.org")
    r = await api.client.put(f"/api/admin/users/{admin.id}/admin", headers=owner.auth,
                             json={"is_admin": True})
    assert r.status_code == 200, r.text
    await api.relogin(admin)  # a fresh token carries the new claim
    assert (await api.client.get("/api/admin/users", headers=admin.auth)).status_code == 200
    # only the owner grants admin
    r = await api.client.put(f"/api/admin/users/{alice.id}/admin", headers=admin.auth,
                             json={"is_admin": True})
    assert r.status_code == 403
    # suspension: the user's tokens stop working at once, and login is refused
    r = await api.client.post(f"/api/admin/users/{alice.id}/suspend", headers=admin.auth,
                              json={"reason": "spamming"})
    assert r.status_code == 200, r.text
    assert (await api.client.get("/api/account/me", headers=alice.auth)).status_code == 401
    r2 = await api.client.post("/api/auth/refresh", json={"refresh_token": alice.refresh})
    assert r2.status_code == 401
    assert (await api.login(alice)).status_code == 401
    assert (await api.client.post(f"/api/admin/users/{alice.id}/suspend", headers=admin.auth,
                                  json={})).status_code == 409
    r = await api.client.get("/api/admin/users", params={"q": "ALICE@"}, headers={
        **admin.auth, "Chatalot-Min-Position": r.json()["position"]})
    [row] = r.json()["items"]
    assert row["suspended_reason"] == "spamming" and row["suspended_at"]
    r = await api.client.post(f"/api/admin/users/{alice.id}/unsuspend", headers=admin.auth)
    assert r.status_code == 200
    await api.relogin(alice)
    # an admin cannot act on another admin or the owner; the owner can
    assert (await api.client.post(f"/api/admin/users/{owner.id}/suspend",
                                  headers=admin.auth)).status_code == 403
    r = await api.client.put(f"/api/admin/users/{alice.id}/password", headers=admin.auth,
                             json={"new_password": "set by an admin"})
    assert r.status_code == 200
    assert (await api.client.get("/api/account/me", headers=alice.auth)).status_code == 401
    alice.password = "set by an admin"
    await api.relogin(alice)
    # revoking admin takes effect at once, even with the old token's claim
    r = await api.client.put(f"/api/admin/users/{admin.id}/admin", headers=owner.auth,
                             json={"is_admin": False})
    assert (await api.client.get("/api/admin/users", headers=admin.auth)).status_code == 403
    # paging
    r = await api.client.get("/api/admin/users", params={"limit": 2}, headers={
        **owner.auth, "Chatalot-Min-Position": r.json()["position"]})
    first = r.json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    r = await api.client.get("/api/admin/users", params={"limit": 2,
                             "cursor": first["next_cursor"]}, headers=owner.auth)
    assert [u["username"] for u in first["items"] + r.json()["items"]] == [
        "owner", "helper", "alice"]
    assert (await api.client.get("/api/admin/users", params={"cursor": "!!"},
                                 headers=owner.auth)).status_code == 400
    assert (await api.client.get("/api/admin/users", params={"limit": 1000},
                                 headers=owner.auth)).status_code == 400
    # deletion by an admin
    r = await api.client.delete(f"/api/admin/users/{alice.id}", headers=owner.auth)
    assert r.status_code == 200
    assert (await api.login(alice)).status_code == 401
    r = await api.client.get("/api/admin/users", headers={
        **owner.auth, "Chatalot-Min-Position": r.json()["position"]})
    assert "alice" not in [u["username"] for u in r.json()["items"]]


async def test_delete_account_redacts_personal_data(api: Api) -> None:
    owner = await api.register("owner")
    alice = await api.register("alice", email="alice@example.org", display_name="Alice Liddell")
    r = await api.client.patch("/api/account/profile", headers=alice.auth, json={
        "bio": "I live at 1 Rabbit Hole"})
    assert r.status_code == 200, r.text
    r = await api.client.request("DELETE", "/api/account/delete", headers=alice.auth,
                                 json={"password": "wrong password!"})
    assert r.status_code == 403
    r = await api.client.request("DELETE", "/api/account/delete", headers=owner.auth,
                                 json={"password": PASSWORD})
    assert r.status_code == 403  # the owner cannot leave the instance ownerless
    r = await api.client.request("DELETE", "/api/account/delete", headers=alice.auth,
                                 json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    assert (await api.client.get("/api/account/me", headers=alice.auth)).status_code == 401
    assert (await api.login(alice)).status_code == 401
    events = await api.events(f"user-{alice.id}")
    registered = events[0]
    assert registered.redacted and registered.data.email is None
    assert registered.data.username.startswith("deleted-")
    assert registered.data.display_name == "Deleted user"
    assert events[-1].type == "UserDeleted"
    everything = " ".join(row[0] for row in await api.db.fetch("SELECT data::text FROM events"))
    [(redactions,)] = await api.db.fetch(
        "SELECT count(*) FROM events WHERE type = 'EventRedacted'")
    assert "Rabbit Hole" not in everything and "alice@example.org" not in everything
    assert "Alice Liddell" not in everything
    assert redactions == 3  # UserRegistered, ProfileUpdated, the failed LoginFailed
    r = await api.client.get(f"/api/users/{alice.id}", headers={
        **owner.auth, "Chatalot-Min-Position": r.json()["position"]})
    assert r.status_code == 404
    # the username is free again
    again = await api.register("alice")
    assert again.id != alice.id


async def test_perimeter_headers_and_limits(api: Api) -> None:
    r = await api.client.get("/api/health")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "geolocation=()" in r.headers["Permissions-Policy"]
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "access-control-allow-origin" not in r.headers
    r = await api.client.options("/api/auth/login", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = await api.client.get("/api/nothing-here")
    assert r.status_code == 404 and r.headers["X-Frame-Options"] == "DENY"
    big = {"username": "x", "password": "y" * 70_000}
    r = await api.client.post("/api/auth/login", json=big)
    assert (r.status_code, r.json()["code"]) == (413, "too_large")
    r = await api.client.post("/api/auth/login", content=b"{not json",
                              headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (400, "bad_request")
    r = await api.client.get("/api/account/me", headers={"Authorization": "Bearer nonsense"})
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    r = await api.client.get("/api/account/me", headers={"Chatalot-Min-Position": "x"})
    assert r.status_code in (400, 401)


async def test_rate_limits(tmp_path: Path, fast_database_url: str) -> None:
    database_url = fast_database_url
    from chatalot.config import Limits

    settings = make_settings(tmp_path, public_url=None, limits=Limits(
        rate_limit_general_per_sec=2, rate_limit_general_burst=3,
        rate_limit_auth_per_sec=1, rate_limit_auth_burst=2))
    async with running_app(settings, database_url, FrozenClock(), frozen_buckets=True) as api:
        client = api.client
        codes = [(await client.post("/api/auth/login", json={
            "username": "nobody", "password": "whatever!"})).status_code for _ in range(4)]
        assert codes == [401, 401, 429, 429]
        r = await client.post("/api/auth/login", json={"username": "x", "password": "y"})
        assert r.headers["Retry-After"] == "1"
        assert r.json() == {"error": "too many requests; slow down", "code": "rate_limited",
                            "retry_after_secs": 1}
        assert "Strict-Transport-Security" not in r.headers  # http public URL: no HSTS
        assert r.headers["X-Frame-Options"] == "DENY"
        general = [(await client.get("/api/auth/config")).status_code for _ in range(5)]
        assert general[:3] == [200] * 3 and 429 in general[3:]
        health = [(await client.get("/api/health")).status_code for _ in range(10)]
        assert health == [200] * 10  # exempt


@pytest.mark.redis
async def test_redis_limiter_is_shared_by_two_app_instances(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    import uuid

    from chatalot.config import Limits

    settings = make_settings(tmp_path, redis_url=redis_url, limits=Limits(
        rate_limit_general_per_sec=1, rate_limit_general_burst=4,
        rate_limit_auth_per_sec=1, rate_limit_auth_burst=4))
    # a client address of our own, so other runs' buckets do not interfere
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    clock = FrozenClock()
    async with running_app(settings, database_url, clock, client_address=address) as a, \
            running_app(settings, database_url, clock, client_address=address) as b:
        one, two = a.client, b.client
        statuses = [(await (one if i % 2 else two).get("/api/auth/config")).status_code
                    for i in range(6)]
        assert statuses[:4] == [200] * 4
        assert statuses[4:] == [429, 429]


async def test_password_is_rehashed_when_parameters_change(
    tmp_path: Path, fast_database_url: str
) -> None:
    from chatalot.config import Security
    from tests.accounts.conftest import TOTP_KEY

    clock = FrozenClock()
    cheap = make_settings(tmp_path)
    async with running_app(cheap, fast_database_url, clock) as api:
        alice = await api.register("alice")
    stronger = make_settings(tmp_path, security=Security(
        argon2_memory_kib=256, argon2_time_cost=2, argon2_parallelism=1,
        totp_encryption_key=TOTP_KEY))
    async with running_app(stronger, fast_database_url, clock) as api:
        [(before,)] = await api.db.fetch("SELECT password_hash FROM account_credentials")
        assert (await api.login(alice)).status_code == 200
        [(after,)] = await api.db.fetch("SELECT password_hash FROM account_credentials")
        assert "m=64,t=1,p=1" in before and "m=256,t=2,p=1" in after
        assert (await api.login(alice)).status_code == 200
        rehashed = [e for e in await api.events(f"user-{alice.id}")
                    if e.type == "PasswordChanged"]
        assert [e.data.reason for e in rehashed] == ["rehashed"]


async def test_openapi_documents_every_account_route(api: Api) -> None:
    from tests.accounts.test_authorization_matrix import ROUTES

    schema = (await api.client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    expected = {
        "/api/auth/register": "post", "/api/auth/login": "post", "/api/auth/refresh": "post",
        "/api/auth/recover": "post", "/api/auth/config": "get", "/api/account/me": "get",
        "/api/account/profile": "patch", "/api/account/change-password": "post",
        "/api/account/sessions": "get", "/api/account/sessions/{session_id}": "delete",
        "/api/account/sessions/revoke-all": "post", "/api/account/delete": "delete",
        "/api/account/preferences": "put", "/api/account/recovery-code": "post",
        "/api/totp/setup": "post", "/api/totp/verify": "post", "/api/totp/disable": "post",
        "/api/totp/backup-codes": "get", "/api/totp/backup-codes/regenerate": "post",
        "/api/users/search": "get", "/api/users/{user_id}": "get", "/api/users/block": "post",
        "/api/users/unblock/{user_id}": "post", "/api/users/blocked": "get",
        "/api/reports": "post", "/api/admin/users": "get",
        "/api/admin/users/{user_id}/suspend": "post",
        "/api/admin/users/{user_id}/unsuspend": "post", "/api/admin/users/{user_id}": "delete",
        "/api/admin/users/{user_id}/admin": "put", "/api/admin/users/{user_id}/password": "put",
        "/api/admin/invites": "post", "/api/admin/invites/{invite_id}": "delete",
        "/api/admin/reports": "get", "/api/admin/reports/{report_id}/review": "post",
    }
    assert len(ROUTES) >= len(expected)
    for path, method in expected.items():
        operation = paths[path][method]
        responses = operation["responses"]
        assert "429" in responses and "400" in responses, path
        if not path.startswith("/api/auth/"):
            assert "401" in responses, path
        if path.startswith("/api/admin/"):
            assert "403" in responses, path
    me = paths["/api/account/me"]["get"]
    assert "chatalot-min-position" in {p["name"].lower() for p in me.get("parameters", [])}
    register = schema["components"]["schemas"]
    assert any("RegisterRequest" in name for name in register)


async def test_admin_actions_are_audited_with_actor_ip_and_user_agent(api: Api) -> None:
    owner = await api.register("owner")
    alice = await api.register("alice")
    headers = {**owner.auth, "User-Agent": "AdminConsole/1.0", "X-Request-Id": "req-42"}
    for method, path, body in [
        ("POST", f"/api/admin/users/{alice.id}/suspend", {"reason": "spam"}),
        ("POST", f"/api/admin/users/{alice.id}/unsuspend", None),
        ("PUT", f"/api/admin/users/{alice.id}/admin", {"is_admin": True}),
        ("PUT", f"/api/admin/users/{alice.id}/password", {"new_password": "fresh secret 1"}),
    ]:
        r = await api.client.request(method, path, json=body, headers=headers)
        assert r.status_code == 200, r.text
    events = [e for e in await api.events(f"user-{alice.id}") if e.type != "UserRegistered"]
    assert [e.type for e in events] == ["UserSuspended", "UserUnsuspended", "AdminGranted",
                                        "PasswordChanged"]
    for event in events:
        m = event.metadata
        assert m.actor_id == owner.id and m.ip and m.user_agent == "AdminConsole/1.0"
        assert m.correlation_id == "req-42" and m.command.startswith("admin_")


async def test_concurrent_failed_logins_of_unknown_users_are_all_recorded(api: Api) -> None:
    """Unknown users' failures share one day's audit stream: concurrent ones must not collide
    into a 500 nor lose an event."""
    names = [f"ghost{i}" for i in range(10)]
    replies = await api.concurrently(*(("POST", "/api/auth/login", {"json": {
        "username": name, "password": "not the password"}}) for name in names))
    assert [r.status_code for r in replies] == [401] * len(names), [r.text for r in replies]
    rows = await api.db.fetch(
        "SELECT data->>'username' FROM events WHERE stream_id LIKE 'auth-%'")
    assert sorted(r[0] for r in rows) == sorted(names)


async def test_a_database_outage_answers_503_and_the_server_recovers(
        tmp_path: Path, fast_database_url: str, clock: FrozenClock, pg_admin_url: str) -> None:
    """PostgreSQL refusing connections (a restart, a failover): requests get 503 with
    Retry-After once the connection wait runs out, never a 500, and are served again once
    it is back."""
    limits = msgspec.structs.replace(make_settings(tmp_path).limits, database_wait_ms=300)
    async with running_app(make_settings(tmp_path, limits=limits), fast_database_url,
                           clock) as api:
        alice = await api.register("alice")
        dbname = database_name(api.db.database_url)
        name = sql.Identifier(dbname)
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE datname = %s", (dbname,))
            try:
                read = await api.client.get("/api/account/sessions", headers=alice.auth)
                command = await api.client.patch(
                    "/api/account/profile", headers={**alice.auth, "Idempotency-Key": "k" * 16},
                    json={"display_name": "Alice"})
            finally:
                admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
        for reply in (read, command):
            assert (reply.status_code, reply.json()["code"]) == (503, "internal"), reply.text
            assert reply.headers["Retry-After"] == "1"
        codes = []
        for _ in range(50):  # the pool drops its dead connections as they come back
            reply = await api.client.get("/api/account/sessions", headers=alice.auth)
            codes.append(reply.status_code)
            if reply.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert codes[-1] == 200 and set(codes) <= {200, 503}, codes
        # the refused command left nothing behind, not even its Idempotency-Key: a retry works
        retry = await api.client.patch(
            "/api/account/profile", headers={**alice.auth, "Idempotency-Key": "k" * 16},
            json={"display_name": "Alice"})
        assert retry.status_code == 200, retry.text
        assert "Idempotent-Replayed" not in retry.headers
        # and the projectors, whose connections were cut too, come back (after their back-off,
        # a few seconds at most) and catch up: meanwhile the read waits and says so with a 503
        for _ in range(15):
            me = await api.client.get("/api/account/me", headers={
                **alice.auth, "Chatalot-Min-Position": retry.json()["position"]})
            if me.status_code != 503:
                break
            assert me.json()["code"] == "projection_lag", me.text
        assert (me.status_code, me.json()["display_name"]) == (200, "Alice"), me.text


async def test_one_refresh_token_rotates_once_under_concurrent_use(api: Api) -> None:
    """The same refresh token sent many times at once: exactly one new token pair comes back
    (two came back when the token row was read unlocked beside the locked session), and
    every other copy counts as reuse, which revokes the session once."""
    alice = await api.register("alice")
    replies = await api.concurrently(*[
        ("POST", "/api/auth/refresh", {"json": {"refresh_token": alice.refresh}})] * 12)
    codes = sorted(r.status_code for r in replies)
    assert codes == [200] + [401] * 11, codes  # one rotates; the others are reuse
    counts = dict(await api.db.fetch(
        "SELECT type, count(*) FROM events WHERE stream_id LIKE 'session-%' GROUP BY type"))
    assert counts == {"SessionStarted": 1, "SessionRefreshed": 1, "RefreshTokenReused": 11,
                      "SessionRevoked": 1}, counts


async def test_the_first_account_is_decided_once_under_simultaneous_registrations(
        tmp_path: Path, fast_database_url: str, clock: FrozenClock) -> None:
    """A closed instance lets only its first account in (and makes it the owner): eight
    people registering at the same moment on an empty instance give one owner."""
    closed = make_settings(tmp_path, registration_mode=RegistrationMode.CLOSED)
    async with running_app(closed, fast_database_url, clock) as api:
        replies = await api.concurrently(*(("POST", "/api/auth/register", {"json": {
            "username": f"early{i}", "password": PASSWORD, **key_fields()}}) for i in range(8)))
        codes = sorted(r.status_code for r in replies)
        assert codes == [201] + [403] * 7, codes
        owner = next(r.json()["user"] for r in replies if r.status_code == 201)
        assert owner["is_owner"] and owner["is_admin"]
        rows = await api.db.fetch("SELECT count(*) FROM account_users")
        assert rows[0][0] == 1


async def test_single_use_secrets_hold_under_simultaneous_use(
        tmp_path: Path, fast_database_url: str, clock: FrozenClock) -> None:
    """An invite's max_uses, a TOTP code and a backup code, each raced by simultaneous
    requests: exactly as many get in as the secret allows."""
    settings = make_settings(tmp_path, registration_mode=RegistrationMode.INVITE_ONLY)
    async with running_app(settings, fast_database_url, clock) as api:
        owner = await api.register("owner")
        r = await api.client.post("/api/admin/invites", json={"max_uses": 2},
                                  headers=owner.auth)
        code = r.json()["code"]
        replies = await api.concurrently(*(("POST", "/api/auth/register", {"json": {
            "username": f"guest{i}", "password": PASSWORD, "invite_code": code,
            **key_fields()}}) for i in range(8)))
        assert sorted(r.status_code for r in replies) == [201] * 2 + [403] * 6
        r = await api.client.post("/api/totp/setup", headers=owner.auth)
        totp = pyotp.TOTP(r.json()["secret"])
        r = await api.client.post("/api/totp/verify", headers=owner.auth,
                                  json={"code": totp.at(clock())})
        backup = r.json()["backup_codes"][0]
        clock.advance(30)  # the code /verify used is spent
        for second_factor in (totp.at(clock()), backup):
            replies = await api.concurrently(*[("POST", "/api/auth/login", {"json": {
                "username": "owner", "password": PASSWORD,
                "totp_code": second_factor}})] * 6)
            assert sorted(r.status_code for r in replies) == [200] + [401] * 5, second_factor
