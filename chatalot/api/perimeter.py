"""The security perimeter: per-IP rate limits, security headers, CORS (off by default).

Rate limits are token buckets per client IP: the auth routes (login, register, refresh,
recover) draw from a strict bucket (default 5/s, burst 10) so a login flood is refused
with a cheap 429 before it reaches Argon2; every other route from the general bucket
(default 20/s, burst 40). GET /api/health is exempt (load balancers poll it). Buckets live
in Redis when REDIS_URL is set, so every node shares them.
"""

from __future__ import annotations

from typing import Any

from litestar.config.cors import CORSConfig
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from chatalot.api.context import client_ip
from chatalot.api.errors import send_error
from chatalot.config import Settings
from chatalot.metrics import RATE_LIMITED

EXEMPT = frozenset({"/api/health", "/api/health/"})
AUTH_PREFIX = "/api/auth/"


def bucket_for(scope: Scope, settings: Settings) -> tuple[str, float, float] | None:
    """(bucket name, rate per second, burst) for a request, or None when exempt."""
    path: str = scope["path"]
    if path in EXEMPT:
        return None
    limits = settings.limits
    if path.startswith(AUTH_PREFIX) and scope.get("method") == "POST":
        return "auth", limits.rate_limit_auth_per_sec, limits.rate_limit_auth_burst
    return "general", limits.rate_limit_general_per_sec, limits.rate_limit_general_burst


def head_size(scope: Scope) -> int:
    """The request line and headers as they came on the wire, near enough."""
    method = str(scope.get("method", ""))
    raw_path = bytes(scope.get("raw_path") or b"")
    query = bytes(scope.get("query_string", b""))
    size = len(method) + len(raw_path) + len(query) + 13
    return size + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def head_limit_middleware(app: ASGIApp) -> ASGIApp:
    """CHATALOT_MAX_HEADER_BYTES, exactly. uvicorn's h11 limit only bounds a head still
    being received (its buffer), so one that arrives whole in a single read passes it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            cap = scope["litestar_app"].state.services.settings.limits.max_header_bytes
            if head_size(scope) > cap:
                await send_error(send, 400, "bad_request",
                                 f"the request line and headers exceed {cap} bytes")
                return
        await app(scope, receive, send)

    return middleware


def rate_limit_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        services = scope["litestar_app"].state.services
        bucket = bucket_for(scope, services.settings)
        if bucket is None:
            await app(scope, receive, send)
            return
        name, rate, burst = bucket
        ip = client_ip(scope) or "unknown"
        decision = await services.limiter.hit(f"{name}:{ip}", rate, burst)
        if decision.allowed:
            await app(scope, receive, send)
            return
        RATE_LIMITED.labels(name).inc()
        await send_error(send, 429, "rate_limited", "too many requests; slow down",
                         retry_after_secs=decision.retry_after_secs)

    return middleware


# -- headers -------------------------------------------------------------------------------

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data: blob: https:; media-src 'self' blob:; font-src 'self' data:;"
    " connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; form-action 'self';"
    " frame-ancestors 'none'"
)
# The OpenAPI pages load their viewer from a CDN; only /schema gets this policy.
SCHEMA_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net"
    " https://unpkg.com; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net"
    " https://unpkg.com https://fonts.googleapis.com; font-src 'self' data:"
    " https://fonts.gstatic.com; img-src 'self' data: https:; worker-src 'self' blob:;"
    " connect-src 'self'; object-src 'none'; frame-ancestors 'none'"
)
PERMISSIONS = "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()"


def header_values(path: str, *, hsts: bool) -> list[tuple[bytes, bytes]]:
    """The security headers every response carries (the app's and the server's own), as
    ASGI's raw headers: lower-case names and values, in bytes."""
    values = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"permissions-policy", PERMISSIONS.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"content-security-policy", (SCHEMA_CSP if path.startswith("/schema") else CSP).encode()),
    ]
    if path.startswith("/api/"):
        values.append((b"cache-control", b"no-store"))
    if hsts:
        values.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    return values


def uses_hsts(settings: Settings) -> bool:
    return (settings.public_url or "").startswith("https://")


def security_headers(settings: Settings) -> Any:
    """A before_send hook: every response (errors and 429s included) gets the headers, in
    place of any of the same names. They are made once per kind of path (they depend on
    two prefixes only) and set in one pass over the response's headers: set one by one
    through MutableScopeHeaders, each scanned them all (10 us a response, now 1.5)."""
    hsts = uses_hsts(settings)
    encoded: dict[tuple[bool, bool], tuple[frozenset[bytes], list[tuple[bytes, bytes]]]] = {}

    def for_path(path: str) -> tuple[frozenset[bytes], list[tuple[bytes, bytes]]]:
        kind = (path.startswith("/schema"), path.startswith("/api/"))
        found = encoded.get(kind)
        if found is None:
            pairs = header_values(path, hsts=hsts)
            found = encoded[kind] = (frozenset(name for name, _ in pairs), pairs)
        return found

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        names, pairs = for_path(scope.get("path", ""))
        message["headers"] = [header for header in message.get("headers") or ()
                              if bytes(header[0]).lower() not in names] + pairs

    return hook


def cors_config(settings: Settings) -> CORSConfig | None:
    """CORS is off unless CORS_ORIGINS lists origins (comma-separated)."""
    origins = [o.strip() for o in settings.security.cors_origins.split(",") if o.strip()]
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins, allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key",
                       "Chatalot-Min-Position", "X-Request-Id"],
        expose_headers=["Retry-After", "X-Request-Id"], max_age=600,
    )
