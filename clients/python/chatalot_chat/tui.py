"""The chatalot-chat TUI (Textual): channels on the left, the open channel's messages, a
line to type in. Plain text is sent to the open channel (E2E as the channel's kind says);
commands start with a slash:

    /open ID            open a channel (or pick one on the left)
    /reply N text       reply to message [N] of the open channel
    /react N emoji      react to message [N]
    /safety USER_ID     the safety number shared with a user (compare it out of band)
    /trust USER_ID      accept a user's new identity key after comparing
    /quit
"""

from __future__ import annotations

import uuid
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import Footer, Header, Input, ListItem, ListView, RichLog, Static

from chatalot_chat.main import line
from chatalot_chat.session import Session
from chatalot_sdk import ChatalotError, Client
from chatalot_sdk.models import Channel, KeyChanged, Message


class ChatApp(App[None]):
    TITLE = "chatalot-chat"
    CSS = """
    #channels { width: 32; border-right: solid $accent; }
    #log { height: 1fr; }
    """
    BINDINGS = [("ctrl+q", "quit", "Quit")]

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client
        self.session = Session(client)
        self.current: uuid.UUID | None = None
        self.shown: list[Message] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield ListView(id="channels")
            yield RichLog(id="log", wrap=True, markup=False)
        yield Input(placeholder="message, or /help", id="input")
        yield Static(f"{self.client.username}", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#input", Input).focus()
        self.load_channels()
        self.follow()

    def say(self, text: str) -> None:
        self.query_one("#log", RichLog).write(text)

    @work(exclusive=True, group="channels")
    async def load_channels(self) -> None:
        try:
            channels = await self.session.channels()
        except ChatalotError as exc:
            self.say(f"! channels: {exc}")
            return
        view = self.query_one("#channels", ListView)
        await view.clear()
        for channel in channels:
            item = ListItem(Static(_label(channel)))
            item.channel_id = channel.id  # type: ignore[attr-defined]
            await view.append(item)

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        channel = getattr(event.item, "channel_id", None)
        if isinstance(channel, uuid.UUID):
            self.open_channel(channel)

    @work(exclusive=True, group="open")
    async def open_channel(self, channel: uuid.UUID) -> None:
        self.current = channel
        self.shown = []
        self.query_one("#log", RichLog).clear()
        self.say(f"# {channel}")
        try:
            for message in await self.client.messages.history(channel):
                self.show(message)
        except ChatalotError as exc:
            self.say(f"! history: {exc}")

    def show(self, message: Message) -> None:
        self.shown.append(message)
        reply = ""
        if message.reply_to is not None:
            index = next((i for i, m in enumerate(self.shown) if m.id == message.reply_to), None)
            reply = f"(re [{index}]) " if index is not None else "(re earlier) "
        self.say(f"[{len(self.shown) - 1}] {reply}{line(message).split(' ', 1)[1]}")

    @work(group="live")
    async def follow(self) -> None:
        async for item in self.client.live():
            if isinstance(item, Message) and item.channel_id == self.current:
                self.show(item)
            elif isinstance(item, KeyChanged):
                self.say(f"! the identity key of {item.user_id} changed: compare the new"
                         f" safety number (/safety {item.user_id}) before /trust")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.value = ""
        if text:
            self.run_line(text)

    @work(group="send")
    async def run_line(self, text: str) -> None:
        try:
            await self._line(text)
        except ChatalotError as exc:
            self.say(f"! {exc}")
        except (ValueError, IndexError) as exc:
            self.say(f"! {exc}")

    async def _line(self, text: str) -> None:
        if not text.startswith("/"):
            if self.current is None:
                self.say("! open a channel first (/open ID)")
                return
            await self.session.send(self.current, text)
            return
        command, _, rest = text[1:].partition(" ")
        if command == "quit":
            self.exit()
        elif command == "open":
            self.open_channel(uuid.UUID(rest.strip()))
        elif command == "reply" and self.current is not None:
            index, _, body = rest.partition(" ")
            await self.session.send(self.current, body,
                                    reply_to=self.shown[int(index)].id)
        elif command == "react":
            index, _, emoji = rest.partition(" ")
            await self.client.messages.react(self.shown[int(index)].id, emoji.strip())
            self.say(f"reacted {emoji.strip()} to [{index}]")
        elif command == "safety":
            number = self.client.safety_number(uuid.UUID(rest.strip()))
            self.say(f"safety number: {_grouped(number)}" if number else
                     "no key pinned for this user yet")
        elif command == "trust":
            self.client.trust_identity(uuid.UUID(rest.strip()))
            self.say(f"trusted the new key of {rest.strip()}")
        else:
            self.say(__doc__.split("\n\n", 1)[1] if __doc__ else "?")


def _label(channel: Channel) -> str:
    kind = "@" if channel.kind == "dm" else "#"
    return f"{kind}{channel.name or str(channel.id)[:8]}"


def _grouped(number: str) -> str:
    return " ".join(number[i:i + 5] for i in range(0, len(number), 5))


async def run_tui(client: Client, **options: Any) -> None:
    try:
        await ChatApp(client).run_async(**options)
    finally:
        await client.close()
