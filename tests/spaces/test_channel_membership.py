"""Channel membership over time: leaving and rejoining a group and a channel, the
rotation a departure requires, the sender-key copies it ends, and what
readable_channels / members_among answer (the gateway's and messaging's port)."""

from __future__ import annotations

import base64
import uuid

import psycopg
import pytest

from chatalot.domain.errors import DomainError
from chatalot.spaces.access import load_channel_access, members_among, readable_channels
from tests.accounts.conftest import Api, User
from tests.keys.test_sender_keys import message_envelope
from tests.spaces.builders import SpacesBuilder


async def test_leaving_rotates_and_ends_sender_keys(api: Api, spaces: SpacesBuilder,
                                                   root: User) -> None:
    space = await spaces.community_with_channel(members=2)
    a, b = space.members
    ch = space.channel_id
    envelope = base64.b64encode(message_envelope()).decode()
    r = await spaces.request("POST", f"/api/channels/{ch}/sender-keys", a, {
        "chain_id": 1, "distributions": [{"recipient_id": b.id, "envelope": envelope}]})
    assert r.status_code == 200, r.text
    r = await spaces.request("GET", f"/api/channels/{ch}/sender-keys", b)
    assert [k["sender_id"] for k in r.json()] == [a.id]
    # a leaves the channel: b is told to rotate, and a's copy for b is gone
    r = await spaces.request("POST", f"/api/channels/{ch}/leave", a)
    assert r.status_code == 200, r.text
    last = (await api.events(f"channel-{ch}"))[-2:]
    assert [e.type for e in last] == ["ChannelMemberLeft", "SenderKeyRotationRequired"]
    assert {str(e.data.user_id) for e in last} == {a.id}
    r = await spaces.request("GET", f"/api/channels/{ch}/sender-keys", b)
    assert r.json() == []
    async with await psycopg.AsyncConnection.connect(api.db.database_url) as conn:
        assert uuid.UUID(ch) not in await readable_channels(conn, uuid.UUID(a.id))
        assert uuid.UUID(ch) in await readable_channels(conn, uuid.UUID(b.id))
        found = await members_among(conn, uuid.UUID(ch), [uuid.UUID(a.id), uuid.UUID(b.id)])
        assert found == {uuid.UUID(b.id)}
    # back in; then out of the whole group (its channels with it), and back
    assert (await spaces.request("POST", f"/api/channels/{ch}/join", a)).status_code == 200
    r = await spaces.request("POST", f"/api/groups/{space.group_id}/leave", a)
    assert r.status_code == 200, r.text
    left = (await api.events(f"group-{space.group_id}"))[-1]
    assert left.type == "GroupMemberLeft" and [str(c) for c in left.data.channel_ids] == [ch]
    assert (await spaces.request("GET", f"/api/channels/{ch}", a)).status_code == 403
    assert (await spaces.request("POST", f"/api/channels/{ch}/join", a)).status_code == 403
    r = await spaces.request("POST", f"/api/groups/{space.group_id}/join", a)
    assert r.status_code == 200, r.text
    assert (await spaces.request("GET", f"/api/channels/{ch}", a)).status_code == 200
    r = await spaces.request("GET", f"/api/groups/{space.group_id}/members", b)
    assert {m["user_id"] for m in r.json()["items"]} == {space.owner.id, a.id, b.id}


async def test_deleting_a_channel_or_community(api: Api, spaces: SpacesBuilder, root: User
                                               ) -> None:
    space = await spaces.community_with_channel(members=1)
    (a,) = space.members
    extra = await spaces.create_channel(space.owner, space.group_id, "extra")
    r = await spaces.request("DELETE", f"/api/groups/{space.group_id}/channels/{extra}",
                             space.owner)
    assert r.status_code == 200, r.text
    assert (await spaces.request("GET", f"/api/channels/{extra}", a)).status_code == 404
    r = await spaces.request("DELETE", f"/api/communities/{space.community_id}", space.owner)
    assert r.status_code == 200, r.text
    for path in (f"/api/channels/{space.channel_id}", f"/api/groups/{space.group_id}",
                 f"/api/communities/{space.community_id}",
                 f"/api/channels/{space.channel_id}/sender-keys"):
        assert (await spaces.request("GET", path, a)).status_code == 404, path
    assert (await spaces.request("GET", "/api/communities", a)).json() == []


async def test_a_locked_membership_holds_off_a_removal(api: Api, spaces: SpacesBuilder,
                                                      root: User) -> None:
    """load_channel_access(lock=True) holds the caller's row FOR KEY SHARE: a kick's
    DELETE waits for the command's transaction (messaging relies on it)."""
    space = await spaces.community_with_channel(members=1)
    ch, member = uuid.UUID(space.channel_id), uuid.UUID(space.members[0].id)
    async with await psycopg.AsyncConnection.connect(api.db.database_url) as holder, \
            await psycopg.AsyncConnection.connect(api.db.database_url) as remover:
        access = await load_channel_access(holder, ch, member, lock=True)
        assert access.member
        await remover.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            await remover.execute("DELETE FROM channel_members WHERE channel_id = %s"
                                  " AND user_id = %s", (ch, member))
        await remover.rollback()
        await holder.commit()
        await remover.execute("DELETE FROM channel_members WHERE channel_id = %s"
                              " AND user_id = %s", (ch, member))
        await remover.rollback()
    async with await psycopg.AsyncConnection.connect(api.db.database_url) as conn:
        without = await load_channel_access(conn, ch, member)  # no lock: nothing held
        assert without.member and without.role is not None
        missing = uuid.uuid4()
        with pytest.raises(DomainError) as refused:
            await load_channel_access(conn, missing, member)
        assert refused.value.code == "not_found"


async def test_a_deleted_account_leaves_its_communities(api: Api, spaces: SpacesBuilder,
                                                       root: User) -> None:
    space = await spaces.community_with_channel(members=2)
    a, _ = space.members
    r = await api.client.request("DELETE", "/api/account/delete", headers=a.auth,
                                 json={"password": a.password})
    assert r.status_code == 200, r.text
    members = await api.db.fetch("SELECT user_id FROM channel_members WHERE channel_id = %s",
                                 (uuid.UUID(space.channel_id),))
    assert uuid.UUID(a.id) not in {m[0] for m in members}
    kinds = [e.type for e in await api.events(f"community-{space.community_id}")]
    assert kinds[-1] == "CommunityMemberLeft"
    assert (await api.events(f"channel-{space.channel_id}"))[-1].type == (
        "SenderKeyRotationRequired")
