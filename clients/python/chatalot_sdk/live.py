"""Live events over /ws: authenticate, resume from the last position handled, reconnect
with back-off, and the E2E bookkeeping events ask for (protocol.md, "/ws"; crypto.md).

Every log event carries a `position`. The SDK handles an event (decrypts it, stores what
it must) and then saves the position in the key file, in one write with what the event
changed; a reconnect sends `resume_after=<that position>`, so the server replays exactly
what came after it: nothing lost, nothing repeated. An event handled but whose position
was not saved (a crash in between) comes again; handling is idempotent for it (a
decrypted message is answered from the stored plaintext, a sender key already taken in
is recognised).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection, connect

from chatalot_sdk import errors
from chatalot_sdk.models import Event, KeyChanged, SenderKeyReceived

if TYPE_CHECKING:
    from chatalot_sdk.client import Client

CLOSE_REFUSED = 4003  # the server refused the token (or revoked the session)
CLOSE_TOO_MANY = 4008
MAX_FRAME = 1024 * 1024


class Live:
    """One account's live connection, kept up across drops. Iterate it for events."""

    def __init__(self, client: Client, *, min_delay: float = 0.2, max_delay: float = 30.0
                 ) -> None:
        self.client = client
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.ws: ClientConnection | None = None
        self.connected = asyncio.Event()
        self.resumed_at: str | None = None
        self._refs = 0
        self._closed = False

    @property
    def url(self) -> str:
        base = self.client.rest.base_url
        scheme = "wss" if base.startswith("https") else "ws"
        return f"{scheme}{base[base.index(':'):]}/ws"

    async def close(self) -> None:
        self._closed = True
        if self.ws is not None:
            await self.ws.close()

    async def send(self, kind: str, **fields: Any) -> str:
        """A command frame; returns its `ref` (the server answers ack or error with it)."""
        if self.ws is None:
            raise errors.ChatalotError("not connected")
        self._refs += 1
        ref = f"r{self._refs}"
        await self.ws.send(msgspec.json.encode({"type": kind, "ref": ref, **fields}).decode())
        return ref

    async def __aiter__(self) -> AsyncIterator[Any]:
        delay = self.min_delay
        refreshed = False
        while not self._closed:
            try:
                async with connect(self.url, max_size=MAX_FRAME) as ws:
                    self.ws = ws
                    first = await self._authenticate(ws)
                    if first.get("type") == "error":
                        if first.get("code") == "unauthorized" and not refreshed:
                            refreshed = True  # an expired access token: refresh, retry
                            await self.client.rest.refresh()
                            continue
                        raise errors.api_error(0, str(first.get("code")),
                                               str(first.get("message")))
                    refreshed = False
                    delay = self.min_delay
                    if self.client.store.state.position is None:
                        self.client.store.state.position = first.get("position")
                        self.client.store.save()
                    self.connected.set()
                    async for raw in ws:
                        for item in await self.client.handle(msgspec.json.decode(raw)):
                            if isinstance(item, Event) and item.type == "resumed":
                                at = item.data.get("position")
                                self.resumed_at = at if isinstance(at, str) else None
                            yield item
            except (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake):
                pass
            finally:
                self.ws = None
                self.connected.clear()
            if self._closed:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)

    async def _authenticate(self, ws: ClientConnection) -> dict[str, Any]:
        tokens = self.client.rest.tokens
        if tokens is None:
            raise errors.Unauthorized(401, "unauthorized", "not logged in")
        frame: dict[str, Any] = {"type": "authenticate", "token": tokens.access}
        position = self.client.store.state.position
        if position is not None:
            frame["resume_after"] = position
        await ws.send(msgspec.json.encode(frame).decode())
        reply = msgspec.json.decode(await ws.recv())
        if not isinstance(reply, dict):
            raise errors.ChatalotError("the server answered the handshake oddly")
        return reply


async def handle_frame(client: Client, frame: dict[str, Any]) -> list[Any]:
    """What one server frame means for this client, as typed items to hand the user.
    Log events end by saving their position (after what they changed)."""
    kind = frame.get("type", "")
    out: list[Any] = []
    try:
        if kind == "new_message":
            out.append(await client.messages.open_message(frame))
        elif kind == "sender_key_updated":
            channel, sender = uuid.UUID(frame["channel_id"]), uuid.UUID(frame["sender_id"])
            try:
                added = client.accept_sender_key(channel, sender, frame["envelope"])
                out.append(SenderKeyReceived(channel_id=channel, sender_id=sender,
                                             chain_id=int(frame["chain_id"]), new=added))
            except errors.ChatalotError as exc:
                out.append(SenderKeyReceived(channel_id=channel, sender_id=sender,
                                             chain_id=int(frame["chain_id"]), new=False,
                                             error=str(exc)))
        elif kind == "sender_key_rotation_required":
            channel = uuid.UUID(frame["channel_id"])
            if frame.get("user_id") != str(client.user_id):
                client.rotate_sender_key(channel)
            out.append(Event(type=kind, data=frame))
        elif kind == "identity_key_changed":
            peer = uuid.UUID(frame["user_id"])
            if peer != client.user_id:
                client.e2e.forget_holder(peer)  # their new key needs my chains again
                out.append(KeyChanged(user_id=peer))
        elif kind == "keys_low":
            with contextlib.suppress(errors.ApiError):
                await client.replenish_prekeys()
            out.append(Event(type=kind, data=frame))
        else:
            out.append(Event(type=kind, data=frame))
    except (KeyError, ValueError, TypeError) as exc:  # a frame not as the protocol says
        out.append(Event(type="malformed", data={"frame": kind, "error": str(exc)}))
    position = frame.get("position")
    if isinstance(position, str) and kind not in ("authenticated", "resumed"):
        client.store.state.position = position
        client.store.save()
    return out
