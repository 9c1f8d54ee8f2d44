"""One WebSocket from handshake to close (protocol.md, "/ws").

Litestar's low-level `@websocket` handler is used (chatalot/api/gateway.py), not
`websocket_listener`: the gateway needs its own close codes (4001, 4003, 4008), a
handshake deadline, a writer task fed by the hub beside the reader, and per-frame rate
limiting and error replies that never close the socket; the listener's
receive-one-reply-one shape hides exactly those.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
from litestar import WebSocket

from chatalot import __version__
from chatalot.api.context import client_ip
from chatalot.auth.principal import Principal, authenticate_access_token
from chatalot.domain.errors import DomainError
from chatalot.metrics import WS_CONNECTIONS, WS_FRAMES_SENT
from chatalot.request_info import RequestInfo
from chatalot.ws import frames as f
from chatalot.ws.handlers import BODIES, HANDLERS, Ctx
from chatalot.ws.runtime import Gateway
from chatalot.ws.socket import Close, Socket, TokenBucket
from event_store import InvalidPosition, Position

log = logging.getLogger(__name__)

CLOSE_NO_AUTH = 4001
CLOSE_REFUSED = 4003
CLOSE_TOO_MANY = 4008
CLOSE_GRACE_SECS = 30.0
"""How long a socket being closed may take to accept its close frame: a slow consumer's
writer is blocked on a full TCP buffer; if the client reads within this time it gets
the close code (1013) after what was already in flight, else the connection is dropped.
Nothing is queued for it meanwhile, so this costs one idle task, not memory."""


async def _receive(ws: WebSocket[Any, Any, Any]) -> str | bytes | None:
    """The next data frame, or None when the client is gone."""
    message: Any = await ws.receive()
    if message["type"] == "websocket.disconnect":
        return None
    text: str | None = message.get("text")
    if text is not None:
        return text
    data: bytes | None = message.get("bytes")
    return data or b""


async def _send_raw(ws: WebSocket[Any, Any, Any], data: bytes) -> None:
    """One text frame, already encoded (the same bytes for every recipient)."""
    await ws.send({"type": "websocket.send", "text": data.decode(), "bytes": None})
    WS_FRAMES_SENT.inc()


async def _refuse(ws: WebSocket[Any, Any, Any], code: int, error: str, message: str) -> None:
    with contextlib.suppress(Exception):
        await _send_raw(ws, f.error_frame(error, message))
        await ws.close(code, message[:120])


async def _handshake(gw: Gateway, ws: WebSocket[Any, Any, Any]
                     ) -> tuple[Principal, Position | None] | None:
    timeout = gw.settings.limits.ws_handshake_timeout_secs
    try:
        async with asyncio.timeout(timeout):
            raw = await _receive(ws)
    except TimeoutError:
        await _refuse(ws, CLOSE_NO_AUTH, "unauthorized", "authenticate within"
                      f" {timeout} s")
        return None
    if raw is None:
        return None
    try:
        first = f.decode_frame(raw, {"authenticate": f.Authenticate})
    except f.FrameError as exc:
        await _refuse(ws, CLOSE_NO_AUTH, "bad_request", f"the first frame must be"
                      f" authenticate: {exc}")
        return None
    body: f.Authenticate = first.body
    resume: Position | None = None
    if body.resume_after is not None:
        try:
            resume = Position.parse(body.resume_after)
        except InvalidPosition as exc:
            await _refuse(ws, CLOSE_REFUSED, "bad_request", f"resume_after: {exc}")
            return None
    try:
        principal = await authenticate_access_token(gw.services.accounts, body.token)
    except DomainError as exc:
        await _refuse(ws, CLOSE_REFUSED, exc.code, exc.message)
        return None
    return principal, resume


async def serve(gw: Gateway, ws: WebSocket[Any, Any, Any]) -> None:
    await ws.accept()
    shook = await _handshake(gw, ws)
    if shook is None:
        return
    principal, resume = shook
    limits = gw.settings.limits
    await gw.start()
    sock = Socket(principal.user_id, principal.session_id, limits.ws_send_queue_frames)
    if not await gw.shared.claim_socket(sock.user_id, sock.socket_id,
                                        limits.max_ws_connections_per_user):
        await _refuse(ws, CLOSE_TOO_MANY, "too_many_connections",
                      f"at most {limits.max_ws_connections_per_user} live sockets per user")
        return
    WS_CONNECTIONS.inc()
    try:
        await _live(gw, ws, sock, principal, resume)
    finally:
        WS_CONNECTIONS.dec()
        gw.hub.remove(sock)
        remaining = await gw.shared.release_socket(sock.user_id, sock.socket_id)
        if sock.voice is not None:
            from chatalot.ws.handlers import _leave

            with contextlib.suppress(Exception):
                await _leave(gw, sock.voice, sock.user_id)
        await gw.went_away(sock, remaining)


async def _live(gw: Gateway, ws: WebSocket[Any, Any, Any], sock: Socket,
                principal: Principal, resume: Position | None) -> None:
    start = resume if resume is not None else gw.hub.position
    assert start is not None
    await _send_raw(ws, f.frame("authenticated", user_id=str(principal.user_id),
                                server_version=__version__, position=start.encode()))
    writer = asyncio.create_task(_write(ws, sock), name="ws-writer")
    reader: asyncio.Task[None] | None = None
    try:
        def caught_up(position: Position) -> None:
            if resume is not None:
                sock.push(f.frame("resumed", position=position.encode()))

        # the reader runs during the replay: the socket's own commands are answered at
        # once (Socket.reply jumps the queue), not after a day of missed events
        reader = asyncio.create_task(_read(gw, ws, sock, principal), name="ws-reader")
        await gw.hub.attach(sock, start, caught_up)
        await gw.came_online(sock)
        closing = asyncio.create_task(sock.closed.wait(), name="ws-closing")
        await asyncio.wait([reader, writer, closing], return_when=asyncio.FIRST_COMPLETED)
        closing.cancel()
        if sock.closing is not None and not writer.done():
            await asyncio.wait([writer], timeout=CLOSE_GRACE_SECS)
    finally:
        for task in (reader, writer):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def _write(ws: WebSocket[Any, Any, Any], sock: Socket) -> None:
    """Send what the hub queued: everything ready is sent in one go, without a wake-up
    per frame, and counted once per run."""
    send = ws.send
    try:
        while True:
            item: bytes | Close | None = await sock.next_frame()
            sent = 0
            try:
                while item is not None:
                    if isinstance(item, Close):
                        with contextlib.suppress(Exception):
                            await ws.close(item.code, item.reason[:120])
                        return
                    await send({"type": "websocket.send", "text": item.decode(),
                                "bytes": None})
                    sent += 1
                    item = sock.take()
            finally:
                WS_FRAMES_SENT.inc(sent)
    except Exception:  # the client went away mid-send: the reader sees the disconnect
        sock.close(1006, "gone")


async def _read(gw: Gateway, ws: WebSocket[Any, Any, Any], sock: Socket,
                principal: Principal) -> None:
    limits = gw.settings.limits
    bucket = TokenBucket(limits.ws_frames_burst, limits.ws_frames_per_sec)
    info = RequestInfo(ip=client_ip(ws.scope), user_agent=ws.headers.get("user-agent"))
    while sock.closing is None:
        raw = await _receive(ws)
        if raw is None:
            sock.close(1006, "gone")  # stops a replay still running for nobody
            return
        if not bucket.take():
            sock.reply(f.error_frame("rate_limited", "too many frames: slow down",
                                     _ref_of(raw)))
            continue
        try:
            frame = f.decode_frame(raw, BODIES)
        except f.FrameError as exc:
            sock.reply(f.error_frame("bad_request", str(exc), exc.ref))
            continue
        ctx = Ctx(gw, sock, principal, info, frame.ref)
        try:
            reply = await HANDLERS[frame.type][1](ctx, frame.body)
        except DomainError as exc:
            reply = f.error_frame(exc.code, exc.message, frame.ref, exc.retry_after_secs)
        except Exception:
            log.exception("frame %s failed", frame.type)
            reply = f.error_frame("internal", "the server could not handle this frame",
                                  frame.ref)
        if reply is not None:
            sock.reply(reply)


class _RefOnly(msgspec.Struct):
    ref: str | None = None


def _ref_of(raw: str | bytes) -> str | None:
    """The frame's ref, if one can be read, so a refusal names the frame it refuses."""
    try:
        ref = msgspec.json.decode(raw, type=_RefOnly).ref
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return ref if ref is not None and len(ref) <= 64 else None
