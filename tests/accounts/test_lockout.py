"""The lockout counts every wrong secret, not only passwords, and every command that takes a
secret checks it (docs/accounts.md, "Login, lockout, tokens"): wrong TOTP and backup codes
at login, wrong recovery codes, and the lock on /auth/recover and on the sensitive account
commands (change-password, recovery-code, TOTP disable, backup codes, account deletion)."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp

from tests.accounts.conftest import PASSWORD, Api, User

WRONG = "wrong wrong wrong"


async def _enable_totp(api: Api, user: User) -> tuple[pyotp.TOTP, list[str]]:
    r = await api.client.post("/api/totp/setup", headers=user.auth)
    assert r.status_code == 200, r.text
    totp = pyotp.TOTP(r.json()["secret"])
    r = await api.client.post("/api/totp/verify", headers=user.auth,
                              json={"code": totp.at(api.clock())})
    assert r.status_code == 200, r.text
    api.clock.advance(30)  # the code /verify used is spent
    return totp, r.json()["backup_codes"]


def _other_code(totp: pyotp.TOTP, now: float) -> str:
    """A six-digit code that is none of the codes accepted at `now` (±1 step)."""
    accepted = {totp.at(now + d) for d in (-30, 0, 30)}
    return next(c for c in (f"{n:06d}" for n in range(1000)) if c not in accepted)


def _assert_locked(r: httpx.Response) -> None:
    assert (r.status_code, r.json()["code"]) == (429, "rate_limited"), r.text
    assert int(r.headers["Retry-After"]) >= 1


async def _lock_with_wrong_passwords(api: Api, username: str) -> None:
    threshold = api.settings.security.lockout_threshold
    for _ in range(threshold):
        r = await api.client.post("/api/auth/login", json={
            "username": username, "password": WRONG})
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized"), r.text


async def _failures(api: Api, user: User) -> list[Any]:
    return [e for e in await api.events(f"user-{user.id}") if e.type == "LoginFailed"]


async def test_wrong_totp_and_backup_codes_at_login_count_toward_the_lockout(api: Api) -> None:
    alice = await api.register("alice")
    totp, backup = await _enable_totp(api, alice)
    threshold = api.settings.security.lockout_threshold
    wrong_backup = "AAAAA-BBBBB" if "AAAAA-BBBBB" not in backup else "CCCCC-DDDDD"
    for attempt in range(threshold):
        code = wrong_backup if attempt % 2 else _other_code(totp, api.clock())
        r = await api.login(alice, totp_code=code)  # the right password, a wrong second factor
        assert (r.status_code, r.json()["code"]) == (401, "totp_invalid"), r.text
    _assert_locked(await api.login(alice, totp_code=totp.at(api.clock())))
    reasons = [e.data.reason for e in await _failures(api, alice)]
    assert reasons == ["totp_invalid"] * threshold + ["locked"]
    api.clock.advance(api.settings.security.lockout_max_delay_secs + 1)
    r = await api.login(alice, totp_code=totp.at(api.clock()))
    assert r.status_code == 200, r.text


async def test_wrong_recovery_codes_count_toward_the_lockout(api: Api) -> None:
    alice = await api.register("alice")
    threshold = api.settings.security.lockout_threshold
    body = {"username": "alice", "recovery_code": "AAAA-BBBB-CCCC-DDDD",
            "new_password": "recovered at last"}
    for _ in range(threshold):
        r = await api.client.post("/api/auth/recover", json=body)
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized"), r.text
    _assert_locked(await api.login(alice))  # the right password waits too
    # and the right recovery code: /auth/recover checks the lock as well
    _assert_locked(await api.client.post("/api/auth/recover", json={
        **body, "recovery_code": alice.recovery_code}))
    reasons = [e.data.reason for e in await _failures(api, alice)]
    assert reasons == ["bad_recovery_code"] * threshold + ["locked", "locked"]


async def test_recover_refuses_a_locked_username_even_with_the_right_code(api: Api) -> None:
    alice = await api.register("alice")
    await _lock_with_wrong_passwords(api, "alice")
    body = {"username": "alice", "recovery_code": alice.recovery_code,
            "new_password": "recovered at last"}
    _assert_locked(await api.client.post("/api/auth/recover", json=body))
    assert "AccountRecovered" not in [e.type for e in await api.events(f"user-{alice.id}")]
    api.clock.advance(api.settings.security.lockout_max_delay_secs + 1)
    r = await api.client.post("/api/auth/recover", json=body)
    assert r.status_code == 200, r.text


async def test_sensitive_commands_refuse_a_locked_username_even_with_the_right_password(
        api: Api) -> None:
    alice = await api.register("alice")
    _totp, backup = await _enable_totp(api, alice)
    await _lock_with_wrong_passwords(api, "alice")
    client, auth = api.client, alice.auth
    refused = {
        "change_password": await client.post("/api/account/change-password", headers=auth,
                                             json={"current_password": PASSWORD,
                                                   "new_password": "a brand new secret"}),
        "regenerate_recovery_code": await client.post(
            "/api/account/recovery-code", headers=auth, json={"password": PASSWORD}),
        "totp_disable": await client.post("/api/totp/disable", headers=auth, json={
            "password": PASSWORD, "code": backup[0]}),
        "regenerate_backup_codes": await client.post(
            "/api/totp/backup-codes/regenerate", headers=auth, json={"password": PASSWORD}),
        "delete_account": await client.request("DELETE", "/api/account/delete", headers=auth,
                                               json={"password": PASSWORD}),
    }
    for command, reply in refused.items():
        assert reply.status_code == 429, (command, reply.text)
        _assert_locked(reply)
    events = await api.events(f"user-{alice.id}")
    locked = [e.metadata.command for e in events
              if e.type == "LoginFailed" and e.data.reason == "locked"]
    assert locked == list(refused)
    threshold = api.settings.security.lockout_threshold
    assert [e.type for e in events[-(threshold + len(refused)):]] == ["LoginFailed"] * (
        threshold + len(refused))  # nothing else happened
    # once the lock has passed, the same request goes through
    api.clock.advance(api.settings.security.lockout_max_delay_secs + 1)
    r = await client.post("/api/totp/backup-codes/regenerate", headers=auth,
                          json={"password": PASSWORD})
    assert r.status_code == 200, r.text


async def test_a_wrong_current_password_counts_toward_the_lockout(api: Api) -> None:
    alice = await api.register("alice")
    threshold = api.settings.security.lockout_threshold
    for _ in range(threshold):
        r = await api.client.post("/api/account/change-password", headers=alice.auth, json={
            "current_password": WRONG, "new_password": "a brand new secret"})
        assert (r.status_code, r.json()["code"]) == (403, "forbidden"), r.text
    _assert_locked(await api.login(alice))
