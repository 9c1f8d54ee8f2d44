"""Auth primitives: password hashing, JWTs, TOTP (frozen clock), token buckets."""

from __future__ import annotations

import asyncio
import time
import uuid

import jwt
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chatalot.auth import totp
from chatalot.auth.passwords import PasswordHasher, code_matches, hash_code, new_code
from chatalot.auth.ratelimit import MemoryRateLimiter, RedisRateLimiter
from chatalot.auth.tokens import InvalidToken, TokenService, hash_refresh_token, new_refresh_token
from tests.accounts.conftest import FrozenClock


async def test_password_hashing_and_rehash() -> None:
    cheap = PasswordHasher(memory_kib=64, time_cost=1, parallelism=1)
    stored = await cheap.hash("a long passphrase")
    assert stored.startswith("$argon2id$")
    assert await cheap.verify(stored, "a long passphrase")
    assert not await cheap.verify(stored, "another passphrase")
    assert not await cheap.verify("not a hash", "x")
    assert not cheap.needs_rehash(stored)
    stronger = PasswordHasher(memory_kib=128, time_cost=2, parallelism=1)
    assert stronger.needs_rehash(stored)
    assert await stronger.verify(stored, "a long passphrase")  # old params still verify
    await cheap.verify_dummy("anything")


async def test_hashing_does_not_block_the_event_loop() -> None:
    hasher = PasswordHasher(memory_kib=32 * 1024, time_cost=2, parallelism=1, concurrency=1)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(hasher.hash("pw pw pw pw") for _ in range(3)))
    elapsed = time.perf_counter() - started
    task.cancel()
    assert ticks >= elapsed / 0.005 * 0.3  # the loop kept ticking while hashing


def test_codes() -> None:
    code = new_code(4, 4)
    assert len(code) == 19 and code.count("-") == 3
    user = str(uuid.uuid4())
    stored = hash_code(user, code)
    assert code_matches(stored, user, code.lower().replace("-", " "))
    assert not code_matches(stored, str(uuid.uuid4()), code)
    assert not code_matches(None, user, code)


def test_access_tokens() -> None:
    key = Ed25519PrivateKey.generate()
    clock = FrozenClock()
    tokens = TokenService(key, key.public_key(), issuer="https://chat.example", ttl_secs=900,
                          clock=clock)
    uid, sid = uuid.uuid4(), uuid.uuid4()
    token = tokens.issue_access(user_id=uid, session_id=sid, username="alice", is_admin=True,
                                is_owner=False)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    claims = tokens.verify_access(token)
    assert (claims.sub, claims.sid, claims.is_admin, claims.is_owner) == (uid, sid, True, False)
    raw = jwt.decode(token, options={"verify_signature": False})
    assert {"iss", "aud", "exp", "iat", "jti", "sub", "is_admin", "is_owner"} <= set(raw)
    assert raw["exp"] - raw["iat"] == 900
    clock.advance(900 + 61)
    with pytest.raises(InvalidToken):
        tokens.verify_access(token)
    other = Ed25519PrivateKey.generate()
    forged = TokenService(other, other.public_key(), issuer="https://chat.example")
    with pytest.raises(InvalidToken):
        tokens.verify_access(forged.issue_access(user_id=uid, session_id=sid, username="a",
                                                 is_admin=True, is_owner=True))
    wrong_issuer = TokenService(key, key.public_key(), issuer="https://other.example")
    with pytest.raises(InvalidToken):
        tokens.verify_access(wrong_issuer.issue_access(
            user_id=uid, session_id=sid, username="a", is_admin=False, is_owner=False))
    # an HMAC token (algorithm confusion); a 32-byte key, so PyJWT has nothing to warn about
    hs = jwt.encode({"sub": str(uid)}, "an-hmac-key-of-32-bytes-or-more!", algorithm="HS256")
    for bad in [hs, "", "a.b.c", "x" * 5000]:
        with pytest.raises(InvalidToken):
            tokens.verify_access(bad)


def test_verified_access_tokens_are_remembered_until_they_expire(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The signature is checked once per token; expiry on every use; a token differing in
    any byte (a forged signature) is verified on its own; the memory stays bounded."""
    key = Ed25519PrivateKey.generate()
    clock = FrozenClock()
    tokens = TokenService(key, key.public_key(), issuer="https://chat.example", ttl_secs=900,
                          clock=clock)
    uid, sid = uuid.uuid4(), uuid.uuid4()
    token = tokens.issue_access(user_id=uid, session_id=sid, username="alice", is_admin=False,
                                is_owner=False)
    decodes = 0
    real = jwt.decode

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal decodes
        decodes += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting)
    assert tokens.verify_access(token).sub == uid
    assert tokens.verify_access(token).sub == uid
    assert decodes == 1
    head, _, signature = token.rpartition(".")
    forged = head + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(InvalidToken):
        tokens.verify_access(forged)
    with pytest.raises(InvalidToken):  # a refused token is not remembered
        tokens.verify_access(forged)
    assert decodes == 3
    clock.advance(900 + 61)
    with pytest.raises(InvalidToken):
        tokens.verify_access(token)
    monkeypatch.setattr("chatalot.auth.tokens.VERIFIED_CACHE_SIZE", 8)
    for _ in range(50):
        tokens.verify_access(tokens.issue_access(user_id=uid, session_id=sid, username="a",
                                                 is_admin=False, is_owner=False))
    assert len(tokens._verified) <= 8


def test_refresh_tokens_are_opaque_and_hashed() -> None:
    token, digest = new_refresh_token()
    assert len(token) == 64 and digest == hash_refresh_token(token)
    assert new_refresh_token()[0] != token


def test_totp_with_a_frozen_clock() -> None:
    secret = totp.new_secret()
    clock = FrozenClock(1_800_000_000.0)
    code = pyotp.TOTP(secret).at(clock())
    step = totp.matching_step(secret, code, clock(), after_step=None)
    assert step == totp.current_step(clock())
    # the neighbouring step is accepted (clock skew), two steps away is not
    clock.advance(30)
    assert totp.matching_step(secret, code, clock(), after_step=None) == step
    clock.advance(30)
    assert totp.matching_step(secret, code, clock(), after_step=None) is None
    # a code is accepted once: not at or before the last step used
    fresh = pyotp.TOTP(secret).at(clock())
    assert totp.matching_step(secret, fresh, clock(), after_step=step + 2) is None
    assert totp.matching_step(secret, "12345", clock(), after_step=None) is None
    assert totp.matching_step(secret, "abcdef", clock(), after_step=None) is None
    assert "otpauth://totp/" in totp.provisioning_uri(secret, "alice")


def test_totp_secrets_are_sealed_per_user() -> None:
    box = totp.SecretBox(bytes(32))
    alice, bob = uuid.uuid4(), uuid.uuid4()
    sealed = box.seal(alice, "SECRET")
    assert b"SECRET" not in sealed
    assert box.open(alice, sealed) == "SECRET"
    with pytest.raises(totp.TotpKeyError):
        box.open(bob, sealed)


def test_backup_codes() -> None:
    user = uuid.uuid4()
    codes, hashes = totp.new_backup_codes(user, 8)
    assert len(set(codes)) == 8 and all(totp.is_backup_code_shape(c) for c in codes)
    remaining = totp.use_backup_code(user, hashes, codes[3])
    assert remaining is not None and len(remaining) == 7
    assert totp.use_backup_code(user, remaining, codes[3]) is None


def test_totp_key_file(tmp_path: object) -> None:
    from pathlib import Path

    data = Path(str(tmp_path))
    key = totp.load_totp_key(None, data)
    assert len(key) == 32 and totp.load_totp_key(None, data) == key
    assert (data / "keys" / "totp.key").stat().st_mode & 0o077 == 0
    with pytest.raises(totp.TotpKeyError):
        totp.load_totp_key("not base64!", data)


async def test_memory_bucket() -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    results = [await limiter.hit("k", rate=5, burst=10) for _ in range(12)]
    assert [r.allowed for r in results] == [True] * 10 + [False] * 2
    assert results[-1].retry_after == pytest.approx(0.2)
    assert results[-1].retry_after_secs == 1
    now[0] += 0.2
    assert (await limiter.hit("k", rate=5, burst=10)).allowed
    assert (await limiter.hit("other", rate=5, burst=10)).allowed
    small = MemoryRateLimiter(max_keys=2, clock=lambda: now[0])
    for key in "abc":
        await small.hit(key, 1, 1)
    assert (await small.hit("a", 1, 1)).allowed  # "a" was evicted: a fresh bucket


@pytest.mark.redis
async def test_redis_bucket_is_shared(redis_url: str) -> None:
    import redis.asyncio as redis_asyncio

    one = redis_asyncio.Redis.from_url(redis_url)
    two = redis_asyncio.Redis.from_url(redis_url)
    key = f"test:{uuid.uuid4()}"
    a, b = RedisRateLimiter(one), RedisRateLimiter(two)
    try:
        allowed = [(await (a if i % 2 else b).hit(key, rate=1, burst=6)).allowed
                   for i in range(8)]
        assert allowed == [True] * 6 + [False] * 2
        refused = await a.hit(key, rate=1, burst=6)
        assert not refused.allowed and 0 < refused.retry_after <= 1
        ttl = await one.pttl("chatalot:rl:" + key)
        assert 0 < ttl <= 7000
    finally:
        await one.delete("chatalot:rl:" + key)
        await one.aclose()
        await two.aclose()


async def test_redis_down_falls_back_to_memory() -> None:
    import redis.asyncio as redis_asyncio

    dead = redis_asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RedisRateLimiter(dead)
    assert [(await limiter.hit("k", 1, 2)).allowed for _ in range(3)] == [True, True, False]
    await dead.aclose()
