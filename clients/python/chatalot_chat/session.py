"""What both faces of chatalot-chat (the commands and the TUI) do with the SDK: open the
client, list channels, and send with the right encryption for the channel."""

from __future__ import annotations

import uuid
from pathlib import Path

from chatalot_sdk import Client
from chatalot_sdk.models import Channel, MessageSent


async def open_client(key_file: Path, passphrase: str) -> Client:
    return await Client.open(key_file, passphrase)


class Session:
    def __init__(self, client: Client) -> None:
        self.client = client
        self._channels: dict[uuid.UUID, Channel] = {}

    async def channels(self) -> list[Channel]:
        """The channels I belong to, DMs included."""
        found = await self.client.spaces.channels()
        found += [dm.channel for dm in await self.client.spaces.dms()]
        self._channels.update({c.id: c for c in found})
        return found

    async def channel(self, channel_id: uuid.UUID) -> Channel:
        if channel_id not in self._channels:
            self._channels[channel_id] = await self.client.spaces.channel(channel_id)
        return self._channels[channel_id]

    async def send(self, channel_id: uuid.UUID, text: str, *, plain: bool = False,
                   reply_to: uuid.UUID | None = None) -> MessageSent:
        """A DM goes by the Double Ratchet to the other member, a channel by my sender
        key to its members; `plain` sends readable text where the channel allows it."""
        messages = self.client.messages
        if plain:
            return await messages.send_text(channel_id, text, encryption="none",
                                            reply_to=reply_to)
        channel = await self.channel(channel_id)
        members = await self.client.spaces.members(channel_id)
        if channel.kind == "dm":
            [peer] = [m for m in members if m != self.client.user_id] or [self.client.user_id]
            return await messages.send_text(channel_id, text, encryption="double_ratchet",
                                            peer=peer, reply_to=reply_to)
        return await messages.send_text(channel_id, text, encryption="sender_key",
                                        members=members, reply_to=reply_to)
