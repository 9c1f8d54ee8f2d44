"""Time travel (issue 11 item 3): random histories of a group's channels through the spaces
and messaging commands (sends, deletes, pins, unpins, purges) on real PostgreSQL; after
every command the live state (the decision tables spaces and messaging keep) is
snapshotted with the command's position; then the channel's state replayed from the log
at each of those positions must equal its snapshot. Also the route itself."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Coroutine
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chatalot.auth.ratelimit import MemoryRateLimiter
from chatalot.cli.log_tools import print_channel_state
from chatalot.domain.errors import DomainError
from chatalot.domain.logbook.rules import LogScope
from chatalot.logbook.time_travel import channel_state
from chatalot.messaging import contracts as m
from chatalot.messaging.commands import messages, purge, reactions
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from chatalot.spaces import contracts as c
from chatalot.spaces.commands import channels, communities, groups, members
from chatalot.spaces.runtime import SpacesRuntime
from event_store import Position
from tests.accounts.conftest import Api
from tests.spaces.builders import SpacesBuilder
from tests.spaces.test_state_machine import Harness

USERS = 5
INFO = RequestInfo()
EVERYTHING = LogScope(None)
WHO = st.integers(1, USERS - 1)
STEP = st.one_of(
    st.tuples(st.sampled_from(["join", "leave", "group_leave", "group_join", "channel_leave",
                               "channel_join", "kick", "ban", "unban", "channel_kick",
                               "channel_ban", "channel_unban", "moderator", "member"]), WHO),
    st.tuples(st.just("update"), st.tuples(st.booleans(), st.sampled_from([0, 5, 60]))),
    st.tuples(st.just("new_channel"), st.just(0)),
    st.tuples(st.just("delete_channel"), st.integers(0, 3)),
    # messaging: sends by anyone, and the owner's deletes, pins, unpins and purges of the
    # n-th message sent so far
    *[st.tuples(st.just("send"), st.integers(0, USERS - 1)),
      st.tuples(st.sampled_from(["delete", "pin", "unpin", "purge"]), st.integers(0, 7))] * 2,
)
MESSAGE_OPS = ("send", "delete", "pin", "unpin", "purge")


class World(Harness):
    """spaces' harness (one loop, pool, store; users in the account directory, the last
    of them an instance admin), plus the live and the replayed state of a channel."""

    def __init__(self, database_url: str) -> None:
        super().__init__(database_url)
        self.msg = MessagingRuntime(self.store, self.pool, MemoryRateLimiter())

    def fetch(self, query: str, params: Any) -> list[Any]:
        return self.execute(query, params)

    def live(self, channel_id: uuid.UUID) -> dict[str, Any] | None:
        """The channel now, from the decision tables (None once deleted)."""
        row = self.fetch("SELECT read_only, archived, slow_mode_secs FROM spaces_channels"
                         " WHERE channel_id = %s", (channel_id,))
        if not row:
            return None
        return {
            "settings": tuple(row[0]),
            "members": dict(self.fetch("SELECT user_id::text, role FROM channel_members"
                                       " WHERE channel_id = %s", (channel_id,))),
            "bans": {r[0] for r in self.fetch("SELECT user_id::text FROM channel_bans"
                                              " WHERE channel_id = %s", (channel_id,))},
            "pins": {r[0] for r in self.fetch(
                "SELECT message_id::text FROM messaging_messages WHERE channel_id = %s"
                " AND pinned AND NOT deleted", (channel_id,))},
            "messages": self.fetch("SELECT count(*) FROM messaging_messages WHERE"
                                   " channel_id = %s AND NOT deleted", (channel_id,))[0][0],
        }

    def travelled(self, channel_id: uuid.UUID, at: str) -> dict[str, Any] | None:
        state = self.run(channel_state(self.store, channel_id, EVERYTHING,
                                       at=Position.parse(at)))
        if state.channel.deleted:
            return None
        ch = state.channel
        assert len(set(state.pins)) == len(state.pins)
        return {"settings": (ch.read_only, ch.archived, ch.slow_mode_secs),
                "members": {m.user_id: m.role for m in state.members},
                "bans": {b.user_id for b in state.bans}, "pins": set(state.pins),
                "messages": state.message_count}

    def message_step(self, op: str, arg: int, users: list[uuid.UUID], ch: uuid.UUID,
                     sent: list[tuple[uuid.UUID, uuid.UUID]]
                     ) -> Coroutine[Any, Any, Any] | None:
        """A messaging command of the history; None when there is no message yet."""
        rt = self.msg
        if op == "send":
            return messages.send_message(rt, users[arg], ch, m.SendMessage(
                ciphertext="aGk=", encryption="none"), INFO)
        if not sent:
            return None
        channel, message = sent[arg % len(sent)]
        if op == "delete":
            return messages.delete_message(rt, users[0], message, INFO)
        if op == "purge":
            return purge.purge_message(rt, users[-1], message, "tt", INFO)
        verb = reactions.pin_message if op == "pin" else reactions.unpin_message
        return verb(rt, users[0], channel, message, INFO)


def step(rt: SpacesRuntime, op: str, arg: Any, users: list[uuid.UUID], cid: uuid.UUID,
         gid: uuid.UUID, chans: list[uuid.UUID]) -> Coroutine[Any, Any, Any]:
    """One command of a random history, by the owner users[0] or as users[arg]."""
    owner, ch, why = users[0], chans[-1], c.Moderation(reason="tt")
    u = users[arg] if isinstance(arg, int) else owner
    if op == "update":
        return channels.update_channel(
            rt, owner, ch, c.UpdateChannel(read_only=arg[0], slow_mode_secs=arg[1]), INFO)
    if op == "new_channel":
        return groups.create_channel(rt, owner, gid, c.CreateChannel(name=f"c{len(chans)}"),
                                     INFO)
    if op == "delete_channel":
        return groups.delete_channel(rt, owner, gid, chans[arg % len(chans)], INFO)
    if op in ("moderator", "member"):
        return channels.set_role(rt, owner, ch, u, c.SetRole(role=op), INFO)
    as_user: dict[str, Any] = {
        "join": (communities.join_community, cid), "leave": (communities.leave, cid),
        "group_leave": (groups.leave, gid), "group_join": (groups.join, gid),
        "channel_leave": (channels.leave, ch), "channel_join": (channels.join, ch)}
    if op in as_user:
        fn, where = as_user[op]
        return fn(rt, u, where, INFO)  # type: ignore[no-any-return]
    by_owner: dict[str, Any] = {
        "kick": (members.kick, cid), "ban": (members.ban, cid), "unban": (members.unban, cid),
        "channel_kick": (channels.kick, ch), "channel_ban": (channels.ban, ch),
        "channel_unban": (channels.unban, ch)}
    fn, where = by_owner[op]
    return fn(rt, owner, where, u, why, INFO)  # type: ignore[no-any-return]


def test_time_travel_equals_the_live_state_it_was_taken_from(database_url: str) -> None:
    world = World(database_url)
    users = world.users[:USERS]

    @given(steps=st.lists(STEP, min_size=1, max_size=18))
    def history(steps: list[tuple[str, Any]]) -> None:
        rt = world.rt
        owner = users[0]
        cid, _ = world.run(communities.create_community(
            rt, owner, c.CreateCommunity(name="tt", public=True), INFO))
        gid, _ = world.run(groups.create_group(
            rt, owner, c.CreateGroup(community_id=cid, name="g"), INFO))
        chans = [world.run(groups.create_channel(rt, owner, gid, c.CreateChannel(name="a"),
                                                 INFO))[0]]
        snapshots: list[tuple[str, dict[uuid.UUID, Any]]] = []
        # everyone joins first (the community's public group, its channel) and a few
        # messages are sent, one pinned, so that most random steps change something
        sent: list[tuple[uuid.UUID, uuid.UUID]] = []
        prefix = [*(("join", i) for i in range(1, USERS)), ("send", 1), ("send", 2),
                  ("send", 0), ("pin", 0)]
        for op, arg in [*prefix, *steps]:
            command = (world.message_step(op, arg, users, chans[-1], sent)
                       if op in MESSAGE_OPS else step(world.rt, op, arg, users, cid, gid, chans))
            if command is None:
                continue
            try:
                result = world.run(command)
            except DomainError:
                continue
            if isinstance(result, m.Purged):
                if result.position is None:
                    continue
                result = result.position
            position = result[1] if isinstance(result, tuple) else result
            if op == "new_channel":
                chans.append(result[0])
            if op == "send":
                sent.append((chans[-1], uuid.UUID(str(result[0].id))))
            snapshots.append((position, {ch: world.live(ch) for ch in chans}))
        for position, live in snapshots:
            for ch, expected in live.items():
                if expected is None and Position.parse(position) < Position.parse(
                        snapshots[0][0]):
                    continue
                try:
                    got = world.travelled(ch, position)
                except DomainError:  # created after this point
                    got = "absent"
                assert got == expected or (expected is None and got == "absent"), (
                    position, ch, got, expected)

    try:
        history()
    finally:
        world.close()


async def test_the_route(api: Api) -> None:
    staff = await api.register()
    spaces = SpacesBuilder(api)
    a = await spaces.community_with_channel(members=2)
    before = a.positions[0]  # the first member joined
    r = await spaces.request("PATCH", f"/api/channels/{a.channel_id}", a.owner,
                             {"read_only": True})
    assert r.status_code == 200, r.text
    r = await spaces.request("POST", f"/api/channels/{a.channel_id}/members/{a.members[1].id}/ban",
                             a.owner, {"reason": "flood"})
    assert r.status_code == 200, r.text

    async def state(user: Any = staff, **params: str) -> Any:
        return await api.client.get(f"/api/admin/channels/{a.channel_id}/state",
                                    params=params, headers=spaces.headers(user))

    now = (await state()).json()
    assert now["channel"]["read_only"] is True and now["channel"]["name"] == "chat"
    assert [b["user_id"] for b in now["bans"]] == [a.members[1].id]
    assert now["bans"][0]["reason"] == "flood" and now["message_count"] == 0
    assert {m["user_id"] for m in now["members"]} == {a.owner.id, a.members[0].id}
    then = (await state(at_position=before)).json()
    assert then["channel"]["read_only"] is False and then["bans"] == []
    assert {m["user_id"] for m in then["members"]} == {a.owner.id, a.members[0].id}
    assert Position.parse(then["as_of_position"]) <= Position.parse(before)
    assert (await state(at_time="2000-01-01T00:00:00Z")).status_code == 404
    assert (await state(at_time=now["as_of_position"])).status_code == 400
    assert (await state(at_position=before, at_time="2000-01-01T00:00:00Z")).status_code == 400
    r = await api.client.get(f"/api/admin/channels/{uuid.uuid4()}/state", headers=staff.auth)
    assert r.status_code == 404
    # the same from the CLI
    out = io.StringIO()
    await print_channel_state(await api.db.store(), a.channel_id, before, out)
    assert json.loads(out.getvalue()) == then
    # the community's owner may (a moderator of it); a member may not
    assert (await state(a.owner)).status_code == 200
    assert (await state(a.members[0])).status_code == 403
