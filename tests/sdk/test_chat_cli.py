"""chatalot-chat against a real server: the scriptable commands (send for bots and cron,
history, whoami; a wrong passphrase is one line and exit 1), and the TUI driven through
tmux send-keys as a person would (open a channel, send, reply, see the answer)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from chatalot_sdk import Client
from chatalot_sdk.models import Message
from tests.sdk.conftest import PASSPHRASE, Server


def chat(server: Server, name: str, *args: str, passphrase: str = PASSPHRASE
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatalot_chat.main", "--key-file",
         str(server.key_file(name)), *args],
        env={**os.environ, "CHATALOT_PASSPHRASE": passphrase}, capture_output=True,
        text=True, timeout=60, check=False)


async def test_send_and_history_from_a_script(server: Server, clients: list[Client]) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    clients.append(bob)
    channel = await server.channel(alice, bob)
    name = alice.username
    await alice.close()  # the key file is one process's at a time
    sent = await asyncio.to_thread(chat, server, name, "send", "--channel", str(channel),
                                   "hello from cron")
    assert sent.returncode == 0, sent.stderr
    message_id = uuid.UUID(sent.stdout.strip())
    [got] = await eventually(bob, channel, 1)
    assert (got.id, got.text, got.encryption) == (message_id, "hello from cron", "sender_key")
    listed = await asyncio.to_thread(chat, server, name, "history", "--channel", str(channel))
    assert listed.returncode == 0 and "hello from cron" in listed.stdout
    dm_sent = await asyncio.to_thread(chat, server, name, "dm", "--user", str(bob.user_id),
                                      "psst")
    assert dm_sent.returncode == 0, dm_sent.stderr
    dm = await bob.spaces.dm(alice.user_id)  # create-or-get: the one the script made
    [got] = await eventually(bob, dm, 1)
    assert (got.text, got.encryption) == ("psst", "double_ratchet")
    who = await asyncio.to_thread(chat, server, name, "whoami")
    assert who.stdout.startswith(f"{name} ")
    wrong = await asyncio.to_thread(chat, server, name, "whoami", passphrase="nope nope")
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1
    assert "passphrase" in wrong.stderr and "Traceback" not in wrong.stderr


async def eventually(reader: Client, channel: uuid.UUID, count: int) -> list[Message]:
    """The history once it shows `count` messages (another process sent them: there is
    no position of theirs to wait for)."""
    history: list[Message] = []
    for _ in range(200):
        history = await reader.messages.history(channel)
        if len(history) >= count:
            return history
        await asyncio.sleep(0.1)
    raise AssertionError(f"history stayed at {history}")


def tmux(*args: str, check: bool = True) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check,
                          timeout=10).stdout


async def screen_shows(session: str, text: str) -> str:
    shown = ""
    for _ in range(150):
        shown = tmux("capture-pane", "-p", "-t", session)
        if text in shown:
            return shown
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} not on screen:\n{shown}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
async def test_the_tui_through_tmux(server: Server, clients: list[Client]) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    clients.append(bob)
    channel = await server.channel(alice, bob)
    await bob.messages.send_text(channel, "welcome alice", encryption="sender_key")
    name, alice_id = alice.username, alice.user_id
    await alice.close()
    session = f"chatalot-sdk-{uuid.uuid4().hex[:8]}"
    command = (f"{sys.executable} -m chatalot_chat.main --key-file "
               f"{server.key_file(name)}")
    tmux("new-session", "-d", "-s", session, "-x", "140", "-y", "40",
         "-e", f"CHATALOT_PASSPHRASE={PASSPHRASE}", "-e", "TERM=xterm-256color", command)
    try:
        await screen_shows(session, name)
        tmux("send-keys", "-t", session, f"/open {channel}", "Enter")
        await screen_shows(session, "welcome alice")  # history, decrypted
        tmux("send-keys", "-t", session, "/reply 0 thanks bob", "Enter")
        await screen_shows(session, "thanks bob")
        history = await eventually(bob, channel, 2)
        assert [m.text for m in history] == ["welcome alice", "thanks bob"]
        assert history[1].reply_to == history[0].id
        await bob.messages.send_text(channel, "live from bob", encryption="sender_key")
        await screen_shows(session, "live from bob")  # followed live
        tmux("send-keys", "-t", session, f"/safety {bob.user_id}", "Enter")
        number = bob.safety_number(alice_id)
        assert number is not None
        await screen_shows(session, number[:5] + " " + number[5:10])  # the same 60 digits
        tmux("send-keys", "-t", session, "/quit", "Enter")
        for _ in range(50):
            if session not in tmux("ls", check=False):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the TUI did not quit")
    finally:
        tmux("kill-session", "-t", session, check=False)
