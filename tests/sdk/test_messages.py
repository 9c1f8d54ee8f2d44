"""Messages end to end through the real server (messaging, spaces, the gateway): a DM
over the Double Ratchet both ways with a reply, and a group channel of three over sender
keys where one member is offline and catches up by resuming, in order, each message
once; history answers from the key file for what was already read."""

from __future__ import annotations

import asyncio
from typing import Any

from chatalot_sdk import Client
from chatalot_sdk.models import Message
from tests.sdk.conftest import PASSPHRASE, Server
from tests.sdk.test_live import following, until


def texts(items: list[Any], channel: Any) -> list[str | None]:
    return [i.text for i in items if isinstance(i, Message) and i.channel_id == channel]


async def test_a_dm_live_both_ways(server: Server, clients: list[Client]) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    clients += [alice, bob]
    await server.channel(alice, bob)  # a shared community allows the DM
    dm = await alice.spaces.dm(bob.user_id)
    async with following(alice) as (_, alice_items), following(bob) as (_, bob_items):
        sent = await alice.messages.send_text(dm, "hi bob", encryption="double_ratchet",
                                              peer=bob.user_id)
        [got] = await until(bob_items, lambda i: isinstance(i, Message) and i.channel_id == dm)
        assert got.text == "hi bob" and got.error is None and got.id == sent.id
        assert got.encryption == "double_ratchet" and got.sender_id == alice.user_id
        await bob.messages.send_text(dm, "hi alice", encryption="double_ratchet",
                                     peer=alice.user_id, reply_to=sent.id)
        await until(alice_items, lambda i: isinstance(i, Message) and i.channel_id == dm, 2)
    assert texts(alice_items, dm) == ["hi bob", "hi alice"]  # her own, from the key file
    assert [m.reply_to for m in alice_items if isinstance(m, Message)] == [None, sent.id]
    # history: every message readable again, from the stored plaintexts
    history = await bob.messages.history(dm, min_position=bob.rest.last_position)
    assert [m.text for m in history] == ["hi bob", "hi alice"]


async def test_a_group_of_three_with_one_catching_up(server: Server,
                                                     clients: list[Client]) -> None:
    alice, bob, carol = [await server.register(n) for n in ("alice", "bob", "carol")]
    clients += [alice, bob]
    channel = await server.channel(alice, bob, carol)
    async with following(carol):  # carol was online once: her position is saved
        pass
    carol_name = carol.username
    await carol.close()
    async with following(bob) as (_, bob_items):
        await alice.messages.send_text(channel, "one", encryption="sender_key")
        await alice.messages.send_text(channel, "two", encryption="sender_key")
        await bob.messages.send_text(channel, "three", encryption="sender_key")
        await until(bob_items, lambda i: isinstance(i, Message), 3)
    assert texts(bob_items, channel) == ["one", "two", "three"]
    carol = await Client.open(server.key_file(carol_name), PASSPHRASE)
    clients.append(carol)
    async with following(carol) as (live, carol_items):
        await until(carol_items, lambda i: getattr(i, "type", None) == "resumed")
        assert live.resumed_at
    assert texts(carol_items, channel) == ["one", "two", "three"]
    assert all(m.error is None for m in carol_items if isinstance(m, Message))
    # once more, live, with all three online
    async with following(carol) as (_, again):
        await alice.messages.send_text(channel, "four", encryption="sender_key")
        await until(again, lambda i: isinstance(i, Message))
    assert texts(again, channel) == ["four"]  # nothing replayed twice
    history = await carol.messages.history(channel, min_position=alice.rest.last_position)
    assert [m.text for m in history] == ["one", "two", "three", "four"]


async def test_an_own_message_ahead_of_its_reply_is_read(server: Server,
                                                         clients: list[Client]) -> None:
    """The gateway can deliver a message to its sender before the HTTP reply to the send
    (whose id says which kept plaintext it is): the live copy waits for the reply instead
    of failing as "my own message, sent from another key file". Here the reply is held back
    until the live copy is being opened."""
    alice, bob = await server.register("alice"), await server.register("bob")
    clients += [alice, bob]
    channel = await server.channel(alice, bob)
    opening = asyncio.Event()
    call, open_message = bob.rest.call, bob.messages.open_message

    async def late_reply(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        reply = await call(method, path, *args, **kwargs)
        if method == "POST" and path.endswith("/messages"):
            await asyncio.wait_for(opening.wait(), 10)  # the live copy came first
        return reply

    async def observed(item: dict[str, Any]) -> Message:
        if item.get("sender_id") == str(bob.user_id):
            opening.set()
        return await open_message(item)

    async with following(bob) as (_, bob_items):
        bob.rest.call = late_reply  # type: ignore[method-assign]
        bob.messages.open_message = observed  # type: ignore[method-assign]
        sent = await bob.messages.send_text(channel, "mine", encryption="sender_key")
        [got] = await until(bob_items, lambda i: isinstance(i, Message))
    assert opening.is_set()
    assert got.id == sent.id and got.text == "mine" and got.error is None


async def test_an_undecryptable_message_is_reported(server: Server,
                                                    clients: list[Client]) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    clients += [alice, bob]
    channel = await server.channel(alice, bob)
    async with following(bob) as (_, items):
        # a group envelope whose chain bob never received (alice skipped distribution)
        alice.e2e.sending_chain(channel)
        alice.e2e.mark_distributed(channel, [bob.user_id])
        await alice.messages.send_text(channel, "secret", encryption="sender_key",
                                       members=[alice.user_id, bob.user_id])
        [got] = await until(items, lambda i: isinstance(i, Message))
    assert got.text is None and got.error and "UnknownSenderChain" in got.error


async def test_concurrent_sends_from_one_client_all_decrypt(server: Server,
                                                            clients: list[Client]) -> None:
    """Sends raced on one client: each takes its own chain iteration (encrypt and save
    have no await between them), whatever order they reach the server in."""
    alice, bob = await server.register("alice"), await server.register("bob")
    clients += [alice, bob]
    channel = await server.channel(alice, bob)
    dm = await alice.spaces.dm(bob.user_id)
    words = [f"w{i}" for i in range(8)]
    await asyncio.gather(*(alice.messages.send_text(channel, w, encryption="sender_key")
                           for w in words))
    await asyncio.gather(*(alice.messages.send_text(dm, w, encryption="double_ratchet",
                                                    peer=bob.user_id) for w in words))
    for where in (channel, dm):
        got = await bob.messages.history(where, min_position=alice.rest.last_position)
        assert sorted(m.text or f"error {m.error}" for m in got) == words
