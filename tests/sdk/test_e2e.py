"""Two and three SDK clients against a real `chatalot serve`: a DM over X3DH and the
Double Ratchet, identity keys pinned on first use (a replaced key is refused until
accepted), a group channel over sender keys with one member offline catching up from its
key file, and rotation after a removal."""

from __future__ import annotations

import base64

import pytest

from chatalot_sdk import Client, DecryptFailed, IdentityKeyChanged
from chatalot_sdk.errors import Forbidden
from tests.sdk.conftest import PASSPHRASE, PASSWORD, Server


async def test_a_dm_both_ways_across_a_restart(server: Server, clients: list[Client]) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    clients += [alice, bob]
    await server.channel(alice, bob)  # a shared community: bundles are theirs to fetch
    first = await alice.encrypt_dm(bob.user_id, b"hello bob")
    assert bob.decrypt_dm(alice.user_id, first) == b"hello bob"
    reply = await bob.encrypt_dm(alice.user_id, b"hello alice")
    assert alice.decrypt_dm(bob.user_id, reply) == b"hello alice"
    # the session survives the process: bob's state was saved after each message
    await bob.close()
    clients.remove(bob)
    bob = await Client.open(server.key_file(bob.username), PASSPHRASE)
    clients.append(bob)
    later = await alice.encrypt_dm(bob.user_id, b"still there?")
    assert bob.decrypt_dm(alice.user_id, later) == b"still there?"
    # a message key is single-use: the same envelope again is reported, not hidden
    with pytest.raises(DecryptFailed):
        bob.decrypt_dm(alice.user_id, later)
    number = alice.safety_number(bob.user_id)
    assert number is not None and len(number) == 60
    assert number == bob.safety_number(alice.user_id)


async def test_a_replaced_identity_key_is_refused_until_accepted(
        server: Server, clients: list[Client]) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    clients += [alice, bob]
    await server.channel(alice, bob)  # a shared community: bundles are theirs to fetch
    old_number = bob.safety_number(alice.user_id)
    assert old_number is None  # nothing pinned before the first message
    assert bob.decrypt_dm(alice.user_id, await alice.encrypt_dm(bob.user_id, b"one")) == b"one"
    old_key = alice.e2e.identity_key
    await alice.replace_identity(PASSWORD)  # alice "lost her device"
    assert alice.e2e.identity_key != old_key
    envelope = await alice.encrypt_dm(bob.user_id, b"new keys")
    with pytest.raises(IdentityKeyChanged) as refused:
        bob.decrypt_dm(alice.user_id, envelope)
    assert refused.value.pinned == old_key
    assert bob.key_changes() == {alice.user_id: alice.e2e.identity_key}
    # bob's own sends to alice refuse her new bundle too, until he accepts it
    await bob.close()
    clients.remove(bob)
    bob = await Client.open(server.key_file(bob.username), PASSPHRASE)
    clients.append(bob)
    assert bob.key_changes() == {alice.user_id: alice.e2e.identity_key}  # kept on disk
    bob.trust_identity(alice.user_id)
    assert bob.key_changes() == {}
    assert bob.decrypt_dm(alice.user_id, envelope) == b"new keys"
    assert bob.safety_number(alice.user_id) == alice.safety_number(bob.user_id)


async def test_a_forged_prekey_envelope_is_refused_before_x3dh(
        server: Server, clients: list[Client]) -> None:
    alice = await server.register("alice")
    bob = await server.register("bob")
    mallory = await server.register("mallory")
    clients += [alice, bob, mallory]
    await server.channel(alice, bob, mallory)  # mallory may fetch bob's bundle
    bob.decrypt_dm(alice.user_id, await alice.encrypt_dm(bob.user_id, b"hi"))
    # mallory's envelope, delivered as if alice had sent it
    forged = await mallory.encrypt_dm(bob.user_id, b"it is me, alice")
    with pytest.raises(IdentityKeyChanged):
        bob.decrypt_dm(alice.user_id, forged)
    assert not any(s.remote_identity == mallory.e2e.identity_key
                   for s in bob.e2e.sessions.sessions(alice.user_id))


async def test_a_group_channel_with_a_member_offline(server: Server,
                                                     clients: list[Client]) -> None:
    alice, bob, carol = [await server.register(n) for n in ("alice", "bob", "carol")]
    clients += [alice, bob]
    channel = await server.channel(alice, bob, carol)
    members = [alice.user_id, bob.user_id, carol.user_id]
    first = await alice.encrypt_for_channel(channel, members, b"hello all")
    assert await bob.decrypt_channel(channel, alice.user_id, first,
                                 position=alice.rest.last_position) == b"hello all"
    # carol goes offline; alice and bob talk on
    carol_id = carol.user_id
    await carol.close()
    sent = [first]
    for i in range(3):
        sent.append(await alice.encrypt_for_channel(channel, members, f"a{i}".encode()))
    from_bob = await bob.encrypt_for_channel(channel, members, b"bob here")
    assert await alice.decrypt_channel(channel, bob.user_id, from_bob,
                                   position=bob.rest.last_position) == b"bob here"
    for envelope, text in zip(sent[1:], [b"a0", b"a1", b"a2"], strict=True):
        assert await bob.decrypt_channel(channel, alice.user_id, envelope) == text
    # carol comes back with her key file and catches up, in order (the copies she fetches
    # are the server's as of alice's last distribution, as a message's position gives)
    alice_at = alice.rest.last_position
    carol = await Client.open(server.key_file(carol.username), PASSPHRASE)
    clients.append(carol)
    assert carol.user_id == carol_id
    got = [await carol.decrypt_channel(channel, alice.user_id, e, position=alice_at)
           for e in sent]
    assert got == [b"hello all", b"a0", b"a1", b"a2"]
    assert await carol.decrypt_channel(channel, bob.user_id, from_bob,
                                   position=bob.rest.last_position) == b"bob here"


async def test_rotation_after_a_removal_locks_the_removed_member_out(
        server: Server, clients: list[Client]) -> None:
    alice, bob, carol = [await server.register(n) for n in ("alice", "bob", "carol")]
    clients += [alice, bob, carol]
    channel = await server.channel(alice, bob, carol)
    members = [alice.user_id, bob.user_id, carol.user_id]
    before = await alice.encrypt_for_channel(channel, members, b"before")
    assert await carol.decrypt_channel(channel, alice.user_id, before,
                                   position=alice.rest.last_position) == b"before"
    # carol is kicked (sender_key_rotation_required): alice starts a new chain, which
    # goes to the members left
    await alice.spaces.kick(channel, carol.user_id)
    members = await alice.spaces.members(channel)
    assert sorted(members) == sorted([alice.user_id, bob.user_id])
    alice.rotate_sender_key(channel)
    after = await alice.encrypt_for_channel(channel, members, b"after")
    assert await bob.decrypt_channel(channel, alice.user_id, after,
                                 position=alice.rest.last_position) == b"after"
    with pytest.raises(Forbidden):  # no longer a member: no sender keys to fetch
        await carol.decrypt_channel(channel, alice.user_id, after)
    with pytest.raises(DecryptFailed):  # and none of her chains opens it
        carol.e2e.decrypt_group(channel, alice.user_id, base64.b64decode(after))
