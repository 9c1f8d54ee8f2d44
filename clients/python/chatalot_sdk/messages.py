"""Messages with E2E: send (encrypted for a DM peer or a channel's members, with a
client_id so a retry sends once), open (decrypt, or say why not), history, reactions.

A message key is single-use (crypto.md), so the SDK keeps every plaintext it has read or
sent in the key file, by message id: history fetched again, an event replayed after a
crash, and one's own messages are answered from there.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from chatalot_sdk import errors
from chatalot_sdk.models import Message, MessageSent, Page, Position

if TYPE_CHECKING:
    from chatalot_sdk.client import Client

Encryption = Literal["none", "double_ratchet", "sender_key"]
PLAINTEXTS_KEPT = 20_000  # newest first; an older E2E message shows as not decryptable
# How long an own message that arrived before its send's reply waits for that reply: the
# gateway may deliver a message before the HTTP reply reaches its sender, and only the
# reply tells which message id the plaintext kept for it belongs to.
IN_FLIGHT_WAIT_SECS = 30.0


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


class Messaging:
    """`client.messages`: one account's messages."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._in_flight: set[asyncio.Future[None]] = set()

    async def send_text(self, channel: uuid.UUID, text: str, *,
                        encryption: Encryption, peer: uuid.UUID | None = None,
                        members: list[uuid.UUID] | None = None,
                        reply_to: uuid.UUID | None = None,
                        thread_id: uuid.UUID | None = None) -> MessageSent:
        """Send `text`: `double_ratchet` to the DM `peer`, `sender_key` to the channel's
        `members` (fetched when not given), or `none` (the server reads it). The plaintext
        and the advanced chain are saved before the ciphertext leaves."""
        plaintext = text.encode()
        client_id = uuid.uuid4()
        body: dict[str, Any] = {"encryption": encryption, "message_type": "text",
                                "client_id": str(client_id), "nonce": ""}
        if encryption == "double_ratchet":
            if peer is None:
                raise ValueError("a DM needs its peer")
            body["ciphertext"] = await self.client.encrypt_dm(peer, plaintext)
        elif encryption == "sender_key":
            if members is None:
                members = await self.client.spaces.members(channel)
            body["ciphertext"] = await self.client.encrypt_for_channel(channel, members, plaintext)
            chain = self.client.e2e.senders.sending_chain(channel)
            body["sender_key_id"] = None if chain is None else chain.chain_id
        else:
            body["ciphertext"] = base64.b64encode(plaintext).decode()
        if reply_to is not None:
            body["reply_to"] = str(reply_to)
        if thread_id is not None:
            body["thread_id"] = str(thread_id)
        path = f"/channels/{channel}/messages"
        if encryption == "none":  # the server keeps it readable: nothing to keep here
            return await self.client.rest.call("POST", path, MessageSent, json=body)
        state = self.client.store.state
        state.plaintexts[str(client_id)] = text
        self.client.store.save()
        replied = asyncio.get_running_loop().create_future()
        self._in_flight.add(replied)
        try:
            sent = await self.client.rest.call("POST", path, MessageSent, json=body)
            self._keep(str(sent.id), state.plaintexts.pop(str(client_id), text))
            self.client.store.save()
        finally:
            self._in_flight.discard(replied)
            replied.set_result(None)
        return sent

    def _keep(self, key: str, text: str) -> None:
        kept = self.client.store.state.plaintexts
        kept[key] = text
        while len(kept) > PLAINTEXTS_KEPT:
            del kept[next(iter(kept))]

    async def open_message(self, item: dict[str, Any]) -> Message:
        """A `new_message` frame or a history item, decrypted when possible."""
        mid = uuid.UUID(str(item.get("message_id") or item.get("id")))
        sender = _uuid(item.get("sender_id"))
        client_id = _uuid(item.get("client_id"))
        message = Message(
            id=mid, channel_id=uuid.UUID(str(item["channel_id"])), sender_id=sender,
            encryption=str(item.get("encryption", "none")),
            message_type=str(item.get("message_type", "text")),
            reply_to=_uuid(item.get("reply_to")), thread_id=_uuid(item.get("thread_id")),
            client_id=client_id, position=item.get("position"))
        state = self.client.store.state
        known = state.plaintexts.get(str(mid))
        if known is None and client_id is not None and sender == self.client.user_id:
            known = state.plaintexts.pop(str(client_id), None)
            if known is not None:
                state.plaintexts[str(mid)] = known
        if known is None and sender == self.client.user_id and self._in_flight:
            # my own message, ahead of the reply to one of my sends: that reply keeps its
            # plaintext under this id (a new_message frame carries no client_id)
            await asyncio.wait(list(self._in_flight), timeout=IN_FLIGHT_WAIT_SECS)
            known = state.plaintexts.get(str(mid))
        if known is not None:
            return msgspec.structs.replace(message, text=known)
        ciphertext = item.get("ciphertext")
        if item.get("deleted") or not isinstance(ciphertext, str):
            return msgspec.structs.replace(message, error="deleted")
        try:
            text = (await self._decrypt(message, ciphertext)).decode()
        except errors.IdentityKeyChanged as exc:
            return msgspec.structs.replace(message, error=f"key changed: {exc}")
        except errors.ChatalotError as exc:
            return msgspec.structs.replace(message, error=str(exc))
        except (UnicodeDecodeError, ValueError):
            return msgspec.structs.replace(message, error="not text")
        if message.encryption != "none":
            self._keep(str(mid), text)
            self.client.store.save()
        return msgspec.structs.replace(message, text=text)

    async def _decrypt(self, message: Message, ciphertext: str) -> bytes:
        if message.encryption == "none":
            return base64.b64decode(ciphertext, validate=True)
        if message.sender_id is None:
            raise errors.DecryptFailed("no sender to decrypt from")
        if message.sender_id == self.client.user_id:
            raise errors.DecryptFailed("my own message, sent from another key file")
        if message.encryption == "double_ratchet":
            return self.client.decrypt_dm(message.sender_id, ciphertext)
        if message.encryption == "sender_key":
            return await self.client.decrypt_channel(
                message.channel_id, message.sender_id, ciphertext, position=message.position)
        raise errors.DecryptFailed(f"unknown encryption {message.encryption!r}")

    async def history(self, channel: uuid.UUID, *, limit: int = 50,
                      before: uuid.UUID | None = None, after: uuid.UUID | None = None,
                      min_position: str | None = None) -> list[Message]:
        """One page of history, oldest first, each message opened. Messages are opened in
        server order, as the ratchets need."""
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = str(before)
        if after is not None:
            params["after"] = str(after)
        page = await self.client.rest.call("GET", f"/channels/{channel}/messages", Page,
                                    params=params, min_position=min_position)
        return [await self.open_message(item) for item in page.items]

    async def react(self, message: uuid.UUID, emoji: str) -> str:
        reply = await self.client.rest.call("POST", f"/messages/{message}/reactions", Position,
                                     json={"emoji": emoji})
        return reply.position or ""
