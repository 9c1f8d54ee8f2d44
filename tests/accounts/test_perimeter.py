"""The probe of issue 18, kept as regressions: rate buckets a client cannot choose through
X-Forwarded-For, and access tokens nobody can forge."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chatalot.cli.server import server_config
from chatalot.config import Limits, Security, Settings
from tests.accounts.conftest import TOTP_KEY, Api, FrozenClock, make_settings, running_app

# -- X-Forwarded-For ------------------------------------------------------------------------


def as_served(settings: Settings) -> Callable[[Any], Any]:
    """What `chatalot serve` puts around the app: uvicorn's middleware as we configure it."""

    def wrap(app: Any) -> Any:
        config = server_config(settings, app, log_level="warning")
        config.load()
        return config.loaded_app

    return wrap


def strict_settings(tmp_path: Path, trusted: str = "") -> Settings:
    security = Security(argon2_memory_kib=64, argon2_time_cost=1, argon2_parallelism=1,
                        hash_concurrency=4, totp_encryption_key=TOTP_KEY,
                        trusted_proxies=trusted)
    limits = Limits(rate_limit_auth_per_sec=1, rate_limit_auth_burst=5,
                    rate_limit_general_per_sec=10_000, rate_limit_general_burst=10_000)
    return make_settings(tmp_path, security=security, limits=limits)


async def burst(api: Api, forwarded_for: Callable[[int], str], count: int = 25) -> list[int]:
    """Failed logins (each under its own username, so no lockout answers them)."""
    codes = []
    for i in range(count):
        r = await api.client.post(
            "/api/auth/login", json={"username": f"nobody{i}", "password": "wrong password"},
            headers={"X-Forwarded-For": forwarded_for(i)})
        codes.append(r.status_code)
    return codes


async def test_forwarded_for_from_a_local_peer_is_not_believed_by_default(
        tmp_path: Path, fast_database_url: str, clock: FrozenClock) -> None:
    """The probe: a local proxy that passes the client's header on. Fails with uvicorn's
    default (it believes 127.0.0.1): then every request has its own bucket, 25 x 401."""
    settings = strict_settings(tmp_path)
    async with running_app(settings, fast_database_url, clock, client_address="127.0.0.1",
                           wrap=as_served(settings)) as api:
        codes = await burst(api, lambda i: f"203.0.113.{i}")
    assert codes[:5] == [401] * 5
    assert codes.count(429) >= 15, codes


async def test_a_trusted_proxy_names_the_client_by_the_right_most_untrusted_address(
        tmp_path: Path, fast_database_url: str, clock: FrozenClock) -> None:
    settings = strict_settings(tmp_path, trusted="127.0.0.1, 10.0.0.0/8")
    async with running_app(settings, fast_database_url, clock, client_address="127.0.0.1",
                           wrap=as_served(settings)) as api:
        # the client's own left-most values change; what the proxies appended does not
        spoofed = await burst(api, lambda i: f"198.51.100.{i}, 192.0.2.7, 10.1.1.1")
        # distinct clients behind the proxy keep distinct buckets
        distinct = await burst(api, lambda i: f"192.0.2.{100 + i}, 10.1.1.1", count=10)
    assert spoofed.count(429) >= 15, spoofed
    assert distinct == [401] * 10


async def test_a_request_head_over_the_cap_is_refused_in_the_protocols_shape(
        tmp_path: Path, fast_database_url: str, clock: FrozenClock) -> None:
    settings = make_settings(tmp_path, limits=Limits(max_header_bytes=4096))
    async with running_app(settings, fast_database_url, clock) as api:
        ok = await api.client.get("/api/auth/config", headers={"X-Pad": "a" * 3000})
        r = await api.client.get("/api/auth/config", headers={"X-Pad": "a" * 5000})
    assert ok.status_code == 200
    assert r.status_code == 400
    assert r.json() == {"error": "the request line and headers exceed 4096 bytes",
                        "code": "bad_request"}
    assert r.headers["x-content-type-options"] == "nosniff"


# -- access tokens --------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode()))


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return result


async def status_with(api: Api, token: str, path: str = "/api/keys/prekeys/count") -> int:
    r = await api.client.get(path, headers={"Authorization": f"Bearer {token}"})
    if r.status_code == 401:
        assert r.json()["code"] == "unauthorized"
    return r.status_code


async def test_forged_access_tokens_are_refused(api: Api, settings: Settings) -> None:
    owner = await api.register("owner")
    user = await api.register("mallory")
    assert await status_with(api, user.access) == 200
    good = claims_of(user.access)
    private = serialization.load_pem_private_key(settings.private_key_path.read_bytes(), None)
    assert isinstance(private, Ed25519PrivateKey)
    public_pem = settings.public_key_path.read_bytes()

    # alg none, with and without a trailing dot
    none = unsigned({"alg": "none", "typ": "JWT"}, good)
    assert await status_with(api, none + ".") == 401
    assert await status_with(api, none) == 401
    # alg confusion: HS256 keyed with the public key (PEM, and its raw bytes)
    raw_public = private.public_key().public_bytes_raw()
    for secret in (public_pem, raw_public):
        head = unsigned({"alg": "HS256", "typ": "JWT"}, good)
        mac = hmac.new(secret, head.encode(), hashlib.sha256).digest()
        assert await status_with(api, f"{head}.{b64url(mac)}") == 401
    # claims changed under a real signature
    head, _, signature = user.access.rpartition(".")
    for change in ({"is_admin": True, "is_owner": True}, {"sub": owner.id}):
        tampered = unsigned({"alg": "EdDSA", "typ": "JWT"}, {**good, **change})
        assert await status_with(api, f"{tampered}.{signature}") == 401
    # signed by another key
    other = Ed25519PrivateKey.generate()
    assert await status_with(api, jwt.encode({**good, "sub": owner.id}, other,
                                             algorithm="EdDSA")) == 401
    # our own key, wrong issuer or audience, or missing expiry
    now = int(api.clock())
    for change in ({"iss": "https://elsewhere.example"}, {"aud": "someone-else"},
                   {"exp": None}, {"iss": None}, {"jti": None}):
        claims = {k: v for k, v in {**good, **change}.items() if v is not None}
        assert await status_with(api, jwt.encode(claims, private, algorithm="EdDSA")) == 401
    # a validly signed claim to roles the database does not grant gives none
    boosted = jwt.encode({**good, "is_admin": True, "is_owner": True, "iat": now},
                         private, algorithm="EdDSA")
    assert await status_with(api, boosted, "/api/admin/users") == 403
    # a validly signed token for a session that does not exist
    ghost = jwt.encode({**good, "sid": str(uuid.uuid4())}, private, algorithm="EdDSA")
    assert await status_with(api, ghost) == 401


async def test_an_expired_access_token_is_refused(api: Api) -> None:
    user = await api.register()
    exp = claims_of(user.access)["exp"]
    api.clock.advance(exp - api.clock() + 59)  # within the 60 s leeway for clock skew
    assert await status_with(api, user.access) == 200
    api.clock.advance(2)
    assert await status_with(api, user.access) == 401
    assert time.time() < exp  # the server's clock decided, not the wall clock


# -- passwords --------------------------------------------------------------------------


async def test_weak_passwords_are_refused_with_zxcvbns_feedback(api: Api) -> None:
    """The probe registered with these; the hand-kept list let them through."""
    from tests.accounts.conftest import key_fields

    for weak in ("Aa123456", "abc12345", "qazwsxedc", "mypassword"):
        r = await api.client.post("/api/auth/register", json={
            "username": "prober", "password": weak, **key_fields()})
        assert r.status_code == 400, (weak, r.text)
        assert r.json()["code"] == "bad_request"
        assert "too weak" in r.json()["error"] and "common password" in r.json()["error"]
    # the account's own display name and email count against it
    r = await api.client.post("/api/auth/register", json={
        "username": "prober", "password": "Molly Millions", "display_name": "Molly Millions",
        **key_fields()})
    assert r.status_code == 400 and "too weak" in r.json()["error"], r.text
    r = await api.client.post("/api/auth/register", json={
        "username": "prober", "password": "Molly Millions", **key_fields()})
    assert r.status_code == 201, r.text


# -- lockout ----------------------------------------------------------------------------


async def test_wrong_codes_at_totp_disable_count_toward_the_lockout(api: Api) -> None:
    """The probe: 8 wrong codes with the right password were 8 x 400, never 429."""
    import pyotp

    user = await api.register()
    secret = (await api.client.post("/api/totp/setup", headers=user.auth)).json()["secret"]
    r = await api.client.post("/api/totp/verify", headers=user.auth,
                              json={"code": pyotp.TOTP(secret).at(int(api.clock()))})
    assert r.status_code == 200, r.text
    codes = []
    for _ in range(8):
        r = await api.client.post("/api/totp/disable", headers=user.auth,
                                  json={"password": user.password, "code": "000000"})
        codes.append(r.status_code)
    threshold = api.settings.security.lockout_threshold
    assert codes[:threshold] == [400] * threshold
    assert set(codes[threshold:]) == {429}, codes
    # the same username's logins are locked as well
    assert (await api.login(user, totp_code="000000")).status_code == 429
    failed = [e.data for e in await api.events(f"user-{user.id}")
              if e.type == "LoginFailed"]
    assert [f.reason for f in failed[:threshold]] == ["totp_invalid"] * threshold


# -- refresh replayed with its Idempotency-Key ------------------------------------------------


async def refresh(api: Api, token: str, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return await api.client.post("/api/auth/refresh", json={"refresh_token": token},
                                 headers=headers)


async def test_a_refresh_reply_is_replayed_only_while_its_tokens_are_live_and_recent(
        api: Api) -> None:
    """The probe: a captured refresh request (body + header) replayed within 24 h returned
    the stored live tokens and skipped reuse detection."""
    user = await api.register()
    key = str(uuid.uuid4())
    first = await refresh(api, user.refresh, key)
    assert first.status_code == 200, first.text
    # the reply was lost: a retry within the minute gets it back
    again = await refresh(api, user.refresh, key)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    # past the minute, the same request is a rotated token presented again
    api.clock.advance(61)
    late = await refresh(api, user.refresh, key)
    assert late.status_code == 401 and "idempotent-replayed" not in late.headers
    assert (await refresh(api, first.json()["refresh_token"])).status_code == 401
    assert await status_with(api, first.json()["access_token"]) == 401  # the session ended
    types = [e.type for e in await api.events(f"session-{claims_of(user.access)['sid']}")]
    assert "RefreshTokenReused" in types and types[-1] == "SessionRevoked"


async def test_a_refresh_reply_is_not_replayed_once_its_token_was_used(api: Api) -> None:
    user = await api.register()
    key = str(uuid.uuid4())
    first = await refresh(api, user.refresh, key)
    newer = await refresh(api, first.json()["refresh_token"])  # the client moved on
    assert newer.status_code == 200
    replay = await refresh(api, user.refresh, key)  # within the minute, but stale
    assert replay.status_code == 401, replay.text
    assert (await refresh(api, newer.json()["refresh_token"])).status_code == 401
