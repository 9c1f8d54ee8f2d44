"""The HTTP side of Idempotency-Key (chatalot/idempotency.py holds the rules).

For a POST, PUT, PATCH or DELETE that carries the header, the middleware answers a retry
from the stored reply (marked `Idempotent-Replayed: true`), refuses the key reused for
another request (422) or while its first request still runs (409, Retry-After), and
otherwise runs the request with the key in `current_claim`, where command_tx claims it,
then stores the reply the client was sent. A request that committed nothing (refused
before its command ran) leaves no claim: its retry runs again.

A body over CHATALOT_MAX_REQUEST_BODY_BYTES (an upload) is not buffered: it is hashed as
the route streams it, and the claim's fingerprint is that hash when the command claims
the key; a retry of a claimed key is read through (hashed, discarded) and then answered
as any other.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from chatalot.accounts.queries import refresh_token_is_newest
from chatalot.api.context import principal_of
from chatalot.api.errors import send_error, send_raw
from chatalot.domain.accounts.rules import may_replay_refresh
from chatalot.domain.errors import DomainError
from chatalot.idempotency import (
    LOST_AFTER,
    Claim,
    Found,
    StoredReply,
    current_claim,
    find,
    forget_expired,
    in_progress,
    key_problem,
    make_claim,
    make_streamed_claim,
    store_reply,
)

log = logging.getLogger(__name__)

METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEADER = b"idempotency-key"
REPLAYED = (b"idempotent-replayed", b"true")
_KEPT_HEADERS = frozenset({b"content-type", b"location"})
_CLEANUP_EVERY_SECS = 600.0


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value)
    return None


async def _buffer_body(receive: Receive, limit: int
                       ) -> tuple[list[ReceiveMessage], bytes | None]:
    """The request's messages as read, and its body (None when it exceeds `limit`: the
    app then refuses it as it would without the header)."""
    messages: list[ReceiveMessage] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replaying(messages: list[ReceiveMessage], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> ReceiveMessage:
        return pending.pop(0) if pending else await receive()

    return replay


def _hashing(receive: Receive, claim: Claim) -> Receive:
    """`receive`, hashing the body into the streamed claim's fingerprint on the way."""
    streamed = claim.streamed
    assert streamed is not None

    async def hashed() -> ReceiveMessage:
        message = await receive()
        if message["type"] == "http.request":
            streamed.update(message.get("body", b""))
        return message

    return hashed


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _caller(scope: Scope) -> str | None:
    """Whose key it is: the authenticated user, or "anonymous" (register, login, ...).
    None when the token is bad: the app answers that request itself."""
    if _header(scope, b"authorization") is None:
        return "anonymous"
    try:
        principal = await principal_of(ASGIConnection(scope))
    except DomainError:
        return None
    return f"user:{principal.user_id}"


REFRESH_PATH = "/api/auth/refresh"


async def _replayable(services: Any, scope: Scope, found: Found, now: datetime) -> bool:
    """Stored replies are replayed, except a refresh's tokens once they can no longer be
    the client's (rules.may_replay_refresh)."""
    reply = found.reply
    if reply is None or scope["path"].rstrip("/") != REFRESH_PATH or reply.status != 200:
        return True
    try:
        issued = msgspec.json.decode(reply.body, type=_IssuedRefresh).refresh_token
    except msgspec.DecodeError:
        return False
    return may_replay_refresh(
        age=now - found.created_at, lost_after=LOST_AFTER,
        issued_token_is_newest=await refresh_token_is_newest(services.pool, issued, now))


class _IssuedRefresh(msgspec.Struct):
    refresh_token: str


def idempotency_middleware(app: ASGIApp) -> ASGIApp:
    last_cleanup = time.monotonic()

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal last_cleanup
        if scope["type"] != ScopeType.HTTP or scope["method"] not in METHODS:
            await app(scope, receive, send)
            return
        raw_key = _header(scope, HEADER)
        if raw_key is None:
            await app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        problem = key_problem(key)
        if problem is not None:
            await send_error(send, 400, "bad_request", problem)
            return
        services = scope["litestar_app"].state.services
        messages, body = await _buffer_body(
            receive, services.settings.limits.max_request_body_bytes)
        receive = _replaying(messages, receive)
        streamed = body is None and messages[-1]["type"] == "http.request"
        caller = await _caller(scope) if body is not None or streamed else None
        if caller is None:
            await app(scope, receive, send)
            return
        now = services.accounts.now()
        if streamed:
            # an upload over the buffering limit: its body is hashed as the route reads it
            # (the claim's fingerprint settles when its command claims the key); a retry
            # of a key already claimed is read through and hashed here to be compared
            claim = make_streamed_claim(caller, key, scope["method"], scope["path"])
            receive = _hashing(receive, claim)
            if await find(services.pool, claim, now) is not None:
                await _drain(receive)
                claim.settle()
        else:
            claim = make_claim(caller, key, scope["method"], scope["path"], body or b"")
        found = await find(services.pool, claim, now)
        if found is not None:
            if not found.same_request:
                await send_error(send, 422, "bad_request",
                                 "this Idempotency-Key was used for another request")
            elif found.reply is None and now - found.created_at > LOST_AFTER:
                await send_error(send, 409, "conflict", "the request with this"
                                 " Idempotency-Key took effect, but its reply was lost")
            elif found.reply is None:
                busy = in_progress()
                await send_error(send, 409, busy.code, busy.message,
                                 retry_after_secs=busy.retry_after_secs)
            elif not await _replayable(services, scope, found, now):
                # a refresh whose tokens can no longer be the client's: run it again,
                # unclaimed, so the rotated token meets reuse detection
                await app(scope, receive, send)
            else:
                reply = found.reply
                headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
                await send_raw(send, reply.status, reply.body, [*headers, REPLAYED])
            return

        sent: dict[str, Any] = {"status": None, "headers": [], "body": [], "done": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                sent["headers"] = [(k.decode("latin-1"), v.decode("latin-1"))
                                   for k, v in message.get("headers", [])
                                   if k.lower() in _KEPT_HEADERS]
            elif message["type"] == "http.response.body":
                sent["body"].append(message.get("body", b""))
                sent["done"] = not message.get("more_body", False)
            await send(message)

        token = current_claim.set(claim)
        try:
            await app(scope, receive, capture)
        finally:  # also when the client went away while the reply was being sent
            current_claim.reset(token)
            if claim.committed and sent["done"]:
                await store_reply(services.pool, claim, StoredReply(
                    sent["status"], sent["headers"], b"".join(sent["body"])))
        if time.monotonic() - last_cleanup > _CLEANUP_EVERY_SECS:
            last_cleanup = time.monotonic()
            forgotten = await forget_expired(services.pool, now)
            log.info("forgot %d expired idempotency keys", forgotten)

    return middleware
