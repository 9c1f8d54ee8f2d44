"""Idempotency-Key on REST commands (docs/idempotency.md), through the real app
and, for the race, through the command layer on separate connections."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatalot.bootstrap import build_registry
from chatalot.db import make_pool
from chatalot.domain.errors import DomainError
from chatalot.idempotency import KEY_MAX_LENGTH, KEY_MIN_LENGTH, current_claim, make_claim
from chatalot.keys import commands as key_commands
from chatalot.keys.contracts import OneTimePrekeyUpload
from chatalot.request_info import RequestInfo
from chatalot_crypto.keys import OneTimePrekey
from event_store import EventStore
from tests.accounts.conftest import PASSWORD, Api, b64, key_fields
from tests.hypothesis_budget import pure

PROFILE = "/api/account/profile"


def new_key() -> str:
    return str(uuid.uuid4())


async def _events_of_type(api: Api, stream: str, kind: str) -> list[Any]:
    return [e for e in await api.events(stream) if e.type == kind]


async def test_a_retried_registration_registers_once_and_replays_the_reply(api: Api) -> None:
    key = new_key()
    body = {"username": "retrying", "password": PASSWORD, **key_fields()}
    first = await api.client.post("/api/auth/register", json=body,
                                  headers={"Idempotency-Key": key})
    again = await api.client.post("/api/auth/register", json=body,
                                  headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201, again.text
    assert again.content == first.content  # the same user, tokens and recovery code
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["x-frame-options"] == "DENY"  # the perimeter's headers too
    registered = [row for (row,) in await api.db.fetch(
        "SELECT count(*) FROM events WHERE type = 'UserRegistered'")]
    assert registered == [1]

    # Without the key, the same body is a new command (here refused: the name is taken).
    plain = await api.client.post("/api/auth/register", json=body)
    assert plain.status_code == 409


async def test_the_stored_reply_is_sealed_and_the_key_never_stored(api: Api) -> None:
    key = new_key()
    body = {"username": "sealed", "password": PASSWORD, **key_fields()}
    r = await api.client.post("/api/auth/register", json=body,
                              headers={"Idempotency-Key": key})
    assert r.status_code == 201
    rows = await api.db.fetch("SELECT lookup, fingerprint, status, reply FROM idempotency_keys")
    assert len(rows) == 1
    lookup, fingerprint, status, reply = rows[0]
    assert status == 201
    for secret in (r.json()["access_token"], r.json()["refresh_token"],
                   r.json()["recovery_code"], key):
        assert secret.encode() not in bytes(reply)
        assert secret.encode() not in bytes(lookup) + bytes(fingerprint)


async def test_an_authenticated_command_takes_effect_once(api: Api) -> None:
    user = await api.register()
    key = new_key()
    headers = {**user.auth, "Idempotency-Key": key}
    replies = [await api.client.patch(PROFILE, json={"bio": "once"}, headers=headers)
               for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200], replies[-1].text
    assert replies[1].content == replies[2].content == replies[0].content
    assert len(await _events_of_type(api, f"user-{user.id}", "ProfileUpdated")) == 1
    # Without a key, every request is a command of its own.
    for _ in range(2):
        assert (await api.client.patch(PROFILE, json={"bio": "twice"},
                                       headers=user.auth)).status_code == 200
    assert len(await _events_of_type(api, f"user-{user.id}", "ProfileUpdated")) == 3


async def test_a_retry_after_the_token_was_refreshed_is_still_the_same_command(
        api: Api) -> None:
    user = await api.register()
    key = new_key()
    first = await api.client.patch(PROFILE, json={"bio": "x"},
                                   headers={**user.auth, "Idempotency-Key": key})
    user = await api.relogin(user)  # another access token, the same user
    again = await api.client.patch(PROFILE, json={"bio": "x"},
                                   headers={**user.auth, "Idempotency-Key": key})
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"


async def test_keys_belong_to_their_caller(api: Api) -> None:
    alice, bob = await api.register(), await api.register()
    key = new_key()
    a = await api.client.patch(PROFILE, json={"bio": "same"},
                               headers={**alice.auth, "Idempotency-Key": key})
    b = await api.client.patch(PROFILE, json={"bio": "same"},
                               headers={**bob.auth, "Idempotency-Key": key})
    assert a.status_code == b.status_code == 200
    assert "idempotent-replayed" not in b.headers
    assert a.json()["position"] != b.json()["position"]
    assert len(await _events_of_type(api, f"user-{bob.id}", "ProfileUpdated")) == 1


async def test_a_key_reused_for_another_request_is_refused(api: Api) -> None:
    user = await api.register()
    key = new_key()
    headers = {**user.auth, "Idempotency-Key": key}
    assert (await api.client.patch(PROFILE, json={"bio": "a"}, headers=headers)
            ).status_code == 200
    other = await api.client.patch(PROFILE, json={"bio": "b"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "bad_request"
    assert "another request" in other.json()["error"]
    other_route = await api.client.put("/api/account/preferences", json={"theme": "dark"},
                                         headers=headers)
    assert other_route.status_code == 422
    assert len(await _events_of_type(api, f"user-{user.id}", "ProfileUpdated")) == 1


async def test_a_refused_command_leaves_no_claim(api: Api) -> None:
    """Nothing committed, nothing remembered: the retry runs again (and may succeed)."""
    user = await api.register()
    key = new_key()
    headers = {**user.auth, "Idempotency-Key": key}
    taken = {"username": user.username, "password": PASSWORD, **key_fields()}
    for _ in range(2):
        r = await api.client.post("/api/auth/register", json=taken,
                                  headers={"Idempotency-Key": key})
        assert r.status_code == 409 and "idempotent-replayed" not in r.headers
    assert await api.db.fetch("SELECT count(*) FROM idempotency_keys") == [(0,)]
    ok = await api.client.patch(PROFILE, json={"bio": "now"}, headers=headers)
    assert ok.status_code == 200


@pytest.mark.parametrize("key", [
    "short", "x" * (KEY_MAX_LENGTH + 1), "a key with spaces!!", "ключ-ключ-ключ-ключ".encode(),
    b"\xe9" * 20, "",
])
async def test_malformed_keys_are_400(api: Api, key: str | bytes) -> None:
    user = await api.register()
    r = await api.client.patch(PROFILE, json={"bio": "x"},
                               headers={**user.auth, "Idempotency-Key": key})
    assert r.status_code == 400 and r.json()["code"] == "bad_request", r.text
    assert len(await _events_of_type(api, f"user-{user.id}", "ProfileUpdated")) == 0


@pure
@given(key=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                   min_size=KEY_MIN_LENGTH, max_size=KEY_MAX_LENGTH))
def test_claims_depend_on_caller_key_and_request(key: str) -> None:
    base = make_claim("user:1", key, "POST", "/p", b"{}")
    assert make_claim("user:1", key, "POST", "/p", b"{}").lookup == base.lookup
    assert make_claim("user:2", key, "POST", "/p", b"{}").lookup != base.lookup
    assert make_claim("user:1", key + "x", "POST", "/p", b"{}").lookup != base.lookup
    for other in (make_claim("user:1", key, "PUT", "/p", b"{}"),
                  make_claim("user:1", key, "POST", "/q", b"{}"),
                  make_claim("user:1", key, "POST", "/p", b"{ }")):
        assert other.lookup == base.lookup and other.fingerprint != base.fingerprint
    assert key not in repr(base) and base.seal_key.hex() not in repr(base)


class _Runtime:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def now(self) -> datetime:
        return datetime.now(UTC)


async def test_concurrent_retries_on_separate_connections_take_effect_once(api: Api) -> None:
    """Ten copies of one upload at once, each with the same claim: one commits, the
    others are told the key is in progress (without the claim, they would be refused as
    duplicate prekey ids instead)."""
    bob = await api.register("bob")
    items = [OneTimePrekeyUpload(key_id=i, public_key=b64(OneTimePrekey.generate(i).public))
             for i in range(100, 105)]
    pool = make_pool(api.db.database_url, min_size=10, max_size=10)
    await pool.open(wait=True)
    store = EventStore(pool, build_registry())
    await store.start()
    key = new_key()

    async def attempt() -> Any:
        current_claim.set(make_claim(f"user:{bob.id}", key, "POST", "/one-time", b"[...]"))
        try:
            return await key_commands.upload_one_time_prekeys(
                _Runtime(store), uuid.UUID(bob.id), items, RequestInfo(ip="10.0.0.1"))
        except DomainError as exc:
            return exc

    try:
        results = await asyncio.gather(*(attempt() for _ in range(10)))
    finally:
        await store.close()
        await pool.close()
    done = [r for r in results if not isinstance(r, DomainError)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(done) == 1, results
    assert all(r.status == 409 and "Idempotency-Key" in r.message for r in refused), refused
    uploads = await _events_of_type(api, f"keys-{bob.id}", "OneTimePrekeysUploaded")
    batches = [[p.key_id for p in e.data.prekeys] for e in uploads]
    assert batches[1:] == [list(range(100, 105))]  # after registration's: this one, once


async def test_an_in_progress_claim_is_409_with_retry_after(api: Api) -> None:
    """A claim committed without its reply yet: what a retry sees while the first request
    is still sending (and, a minute on, that the reply was lost)."""
    user = await api.register()
    key = new_key()
    body = b'{"bio":"slow"}'
    claim = make_claim(f"user:{user.id}", key, "PATCH", PROFILE, body)
    now = datetime.fromtimestamp(api.clock(), UTC)
    await api.db.fetch(
        "INSERT INTO idempotency_keys (lookup, fingerprint, created_at) VALUES (%s, %s, %s)"
        " RETURNING 1", (claim.lookup, claim.fingerprint, now))
    headers = {**user.auth, "Idempotency-Key": key, "Content-Type": "application/json"}
    r = await api.client.patch(PROFILE, content=body, headers=headers)
    assert r.status_code == 409 and r.headers["retry-after"] == "1", r.text
    api.clock.advance(120)
    user = await api.relogin(user)
    r = await api.client.patch(PROFILE, content=body,
                               headers={**headers, **user.auth})
    assert r.status_code == 409 and "lost" in r.json()["error"]
    assert "retry-after" not in r.headers
    api.clock.advance(24 * 3600)  # forgotten: the key can be used again
    user = await api.relogin(user)
    r = await api.client.patch(PROFILE, content=body, headers={**headers, **user.auth})
    assert r.status_code == 200, r.text


async def test_a_retried_refresh_gets_the_same_tokens_without_tripping_reuse_detection(
        api: Api) -> None:
    user = await api.register()
    headers = {"Idempotency-Key": new_key()}
    body = {"refresh_token": user.refresh}
    first = await api.client.post("/api/auth/refresh", json=body, headers=headers)
    again = await api.client.post("/api/auth/refresh", json=body, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.content == first.content
    # The session survived: the rotated token works (a real reuse would have revoked it).
    r = await api.client.post("/api/auth/refresh",
                              json={"refresh_token": first.json()["refresh_token"]})
    assert r.status_code == 200, r.text
    newest = r.json()["refresh_token"]
    # Without the key, presenting the old token again is reuse: the family is revoked.
    assert (await api.client.post("/api/auth/refresh", json=body)).status_code == 401
    r = await api.client.post("/api/auth/refresh", json={"refresh_token": newest})
    assert r.status_code == 401


async def test_delete_routes_honour_the_key(api: Api) -> None:
    """DELETE is a command like any other: a retried revocation (of a session, of an
    invite) replays its first reply instead of answering 409 "already ended"."""
    owner = await api.register("owner")
    other = await api.login(owner)  # a second session to revoke
    assert other.status_code == 200, other.text
    r = await api.client.get("/api/account/sessions", headers={
        **owner.auth, "Chatalot-Min-Position": other.json()["position"]})
    assert r.status_code == 200, r.text
    [session] = [s["id"] for s in r.json() if not s["current"]]
    invite = await api.client.post("/api/admin/invites", headers=owner.auth, json={})
    assert invite.status_code == 201, invite.text
    for path, stream, again_without_key in [
            (f"/api/account/sessions/{session}", f"session-{session}", 409),
            (f"/api/admin/invites/{invite.json()['id']}", None, 404)]:
        headers = {**owner.auth, "Idempotency-Key": new_key()}
        first = await api.client.delete(path, headers=headers)
        again = await api.client.delete(path, headers=headers)
        assert first.status_code == again.status_code == 200, again.text
        assert again.content == first.content and first.json()["position"]
        assert again.headers["idempotent-replayed"] == "true"
        plain = await api.client.delete(path, headers=owner.auth)  # without the key: new
        assert plain.status_code == again_without_key, plain.text
        assert "idempotent-replayed" not in plain.headers
        if stream is not None:
            assert len(await _events_of_type(api, stream, "SessionRevoked")) == 1
    [(deleted,)] = await api.db.fetch(
        "SELECT count(*) FROM events WHERE type = 'RegistrationInviteDeleted'")
    assert deleted == 1
