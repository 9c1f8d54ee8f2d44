"""Live events over the real /ws: sender keys arrive and are stored as they come, keys_low
makes the SDK upload prekeys, a key replacement is surfaced, and a dropped connection
resumes from the last position handled (what came meanwhile arrives once, nothing twice),
also across a restart of the client from its key file."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from chatalot_sdk import Client
from chatalot_sdk.keystore import Tokens
from chatalot_sdk.live import Live
from chatalot_sdk.models import Event, KeyChanged, SenderKeyReceived
from tests.sdk.conftest import PASSPHRASE, PASSWORD, Server


@contextlib.asynccontextmanager
async def following(client: Client) -> AsyncIterator[tuple[Live, list[Any]]]:
    live = client.live(min_delay=0.05)
    items: list[Any] = []

    async def run() -> None:
        async for item in live:
            items.append(item)

    task = asyncio.create_task(run())
    await asyncio.wait_for(live.connected.wait(), 10)
    try:
        yield live, items
    finally:
        await live.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(items: list[Any], pred: Callable[[Any], bool], count: int = 1,
                seconds: float = 20) -> list[Any]:
    for _ in range(int(seconds / 0.05)):
        hits = [i for i in items if pred(i)]
        if len(hits) >= count:
            return hits
        await asyncio.sleep(0.05)
    raise AssertionError(f"not seen: {items}")


def key_from(sender: Client, channel: uuid.UUID) -> Callable[[Any], bool]:
    return lambda i: (isinstance(i, SenderKeyReceived) and i.sender_id == sender.user_id
                      and i.channel_id == channel)


async def test_sender_keys_arrive_live_and_resume_after_a_drop(
        server: Server, clients: list[Client]) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    clients += [alice, bob]
    first = await server.channel(alice, bob)
    second = await server.channel(alice, bob)
    async with following(bob) as (live, items):
        await alice.share_sender_key(first, [bob.user_id])
        [got] = await until(items, key_from(alice, first))
        assert got.new and got.error is None
        # stored as it came: a message decrypts with no fetch
        envelope = alice.e2e.encrypt_group(first, b"live")
        assert bob.e2e.decrypt_group(first, alice.user_id, envelope) == b"live"
        # the connection drops; meanwhile alice shares her key of the second channel
        assert live.ws is not None
        live.connected.clear()
        await live.ws.close()
        await alice.share_sender_key(second, [bob.user_id])
        await asyncio.wait_for(live.connected.wait(), 10)
        await until(items, key_from(alice, second))
        await until(items, lambda i: isinstance(i, Event) and i.type == "resumed")
        await asyncio.sleep(0.3)
    assert len([i for i in items if key_from(alice, first)(i)]) == 1  # not replayed
    assert len([i for i in items if key_from(alice, second)(i)]) == 1


async def test_a_client_restarted_from_its_key_file_catches_up(
        server: Server, clients: list[Client]) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    clients.append(alice)
    channel = await server.channel(alice, bob)
    async with following(bob):  # connected once: its position is in the key file
        pass
    name = bob.username
    await bob.close()
    await alice.share_sender_key(channel, [bob.user_id])  # bob is offline
    envelope = await alice.encrypt_for_channel(channel, [bob.user_id], b"while you were out")
    bob = await Client.open(server.key_file(name), PASSPHRASE)
    clients.append(bob)
    async with following(bob) as (_, items):
        await until(items, key_from(alice, channel))
        await until(items, lambda i: isinstance(i, Event) and i.type == "resumed")
    # the copy came live, so the message decrypts without fetching
    assert bob.e2e.decrypt_group(channel, alice.user_id, base64.b64decode(envelope)) == \
        b"while you were out"


async def test_keys_low_and_key_changes(server: Server, clients: list[Client]) -> None:
    alice = await server.register("alice", one_time_prekeys=20)
    bob = await server.register("bob")
    clients += [alice, bob]
    await server.channel(alice, bob)  # they share a channel: bob hears of key changes
    async with following(alice) as (_, alice_items), following(bob) as (_, bob_items):
        await bob.ensure_session(alice.user_id)  # claims one: 19 left, keys_low
        await until(alice_items, lambda i: isinstance(i, Event) and i.type == "keys_low")
        for _ in range(100):
            if await alice.prekey_count() > 100:
                break
            await asyncio.sleep(0.05)
        assert await alice.prekey_count() == 119
        await alice.replace_identity(PASSWORD)
        [changed] = await until(bob_items, lambda i: isinstance(i, KeyChanged))
        assert changed.user_id == alice.user_id


async def test_an_expired_token_at_the_handshake_is_refreshed(
        server: Server, clients: list[Client]) -> None:
    alice, bob = await server.register("alice"), await server.register("bob")
    clients += [alice, bob]
    channel = await server.channel(alice, bob)
    stale = alice.rest.tokens
    assert stale is not None
    alice.rest.tokens = Tokens(access="expired.or.revoked", refresh=stale.refresh)
    async with following(alice) as (_, items):
        await bob.share_sender_key(channel, [alice.user_id])
        await until(items, key_from(bob, channel))
    assert alice.rest.tokens.access != "expired.or.revoked"
    assert alice.store.state.tokens == alice.rest.tokens


async def test_the_connection_survives_a_server_restart(server: Server,
                                                       clients: list[Client]) -> None:
    """The package's node, stopped and started again on the same port (a second node
    would hold connections the database may not have to spare): the SDK reconnects by
    itself and resumes; what came before the restart is not delivered again."""
    alice, bob = await server.register("alice"), await server.register("bob")
    clients += [alice, bob]
    first = await server.channel(alice, bob)
    second = await server.channel(alice, bob)
    async with following(bob) as (live, items):
        await alice.share_sender_key(first, [bob.user_id])
        await until(items, key_from(alice, first))
        await asyncio.to_thread(server.restart)
        await alice.share_sender_key(second, [bob.user_id])
        # the new process's first read-model builds may hold the log's horizon back
        await until(items, key_from(alice, second), seconds=90)
        assert live.ws is not None
    assert len([i for i in items if key_from(alice, first)(i)]) == 1


async def test_a_removal_rotates_the_remaining_members_chains(
        server: Server, clients: list[Client]) -> None:
    alice, bob, carol = [await server.register(n) for n in ("alice", "bob", "carol")]
    clients += [alice, bob, carol]
    channel = await server.channel(alice, bob, carol)
    members = [alice.user_id, bob.user_id, carol.user_id]
    await bob.share_sender_key(channel, members)
    chain = bob.e2e.senders.sending_chain(channel)
    assert chain is not None and bob.e2e.holders(channel) == {alice.user_id, carol.user_id}
    async with following(bob) as (_, items):
        await alice.spaces.kick(channel, carol.user_id)
        await until(items, lambda i: getattr(i, "type", None) == "sender_key_rotation_required")
    rotated = bob.e2e.senders.sending_chain(channel)
    assert rotated is not None and rotated.chain_id != chain.chain_id
    assert bob.e2e.holders(channel) == set()  # the new chain goes to the members left
    left = await bob.spaces.members(channel, min_position=alice.rest.last_position)
    assert await bob.share_sender_key(channel, left) == 1  # alice only
