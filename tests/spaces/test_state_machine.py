"""A hypothesis state machine over one community: join, leave, invites (create, accept),
ban, unban, kick, role changes and ownership transfers by any of six users (one of them
an instance admin), through the spaces commands on real PostgreSQL. After every step:

- the community has exactly one owner, and it is the one the community row names;
- a banned user is a member of nothing in the community (community, groups, channels);
- invite uses never exceed max uses;
- every moderation that succeeded was by a strictly higher role than its target's.

At the end of each run, the spaces read model rebuilt from the log (the projector applied
to every event into a fresh schema) agrees with the decision tables."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from psycopg import sql

from chatalot.bootstrap import build_registry
from chatalot.db import make_pool
from chatalot.domain.errors import DomainError
from chatalot.domain.spaces.roles import Role, highest, instance_role
from chatalot.request_info import RequestInfo
from chatalot.spaces import contracts as c
from chatalot.spaces.commands import channels, communities, groups, invites, members
from chatalot.spaces.runtime import SpacesRuntime
from event_store import EventStore
from projections.projector import ProjectionContext
from projections.read_models.spaces import Spaces

T = TypeVar("T")
USERS = 6
INFO = RequestInfo()
ROLE = st.sampled_from(["member", "moderator", "admin"])
WHO = st.integers(0, USERS - 1)


class Harness:
    """One event loop, pool and store for the whole test (the machine's rules are sync)."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.pool = make_pool(database_url, min_size=1, max_size=4)
        self.run(self.pool.open(wait=True))
        self.store = EventStore(self.pool, build_registry())
        self.run(self.store.start())
        self.rt = SpacesRuntime(self.store, self.pool)
        self.users = [uuid.uuid4() for _ in range(USERS)]
        for i, user in enumerate(self.users):  # fixture rows of the user directory
            self.execute("INSERT INTO account_users (user_id, username, username_key, is_admin)"
                         " VALUES (%s, %s, %s, %s)", (user, f"u{i}", f"u{i}", i == USERS - 1))
        self.rebuilds = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def execute(self, query: str, params: Any = ()) -> list[Any]:
        async def go() -> list[Any]:
            async with self.pool.connection() as conn:
                cur = await conn.execute(query.encode(), params)
                return await cur.fetchall() if cur.description else []
        return self.run(go())

    def close(self) -> None:
        self.run(self.store.close())
        self.run(self.pool.close())
        self.loop.close()


HARNESS: list[Harness] = []


class SpacesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = HARNESS[-1]
        self.u = self.h.users
        self.cid, _ = self.h.run(communities.create_community(
            self.h.rt, self.u[0], c.CreateCommunity(name="sm", public=True), INFO))
        gid, _ = self.h.run(groups.create_group(
            self.h.rt, self.u[0], c.CreateGroup(community_id=self.cid, name="g"), INFO))
        self.chid, _ = self.h.run(groups.create_channel(self.h.rt, self.u[0], gid,
                                                        c.CreateChannel(name="ch"), INFO))
        self.codes: list[str] = []

    def attempt(self, coro: Coroutine[Any, Any, Any]) -> bool:
        try:
            self.h.run(coro)
            return True
        except DomainError:
            return False

    def role(self, i: int) -> Role | None:
        rows = self.h.execute(
            "SELECT role FROM community_members WHERE community_id = %s AND user_id = %s",
            (self.cid, self.u[i]))
        staff = instance_role(i == USERS - 1, False)
        return highest(staff, Role.parse(rows[0][0]) if rows else None)

    def moderate(self, actor: int, target: int, coro: Coroutine[Any, Any, Any]) -> None:
        before = (self.role(actor), self.role(target) or Role.MEMBER)
        if self.attempt(coro):
            assert before[0] is not None and before[0] > before[1], before

    @rule(who=WHO)
    def join(self, who: int) -> None:
        self.attempt(communities.join_community(self.h.rt, self.u[who], self.cid, INFO))

    @rule(who=WHO)
    def leave(self, who: int) -> None:
        self.attempt(communities.leave(self.h.rt, self.u[who], self.cid, INFO))

    @rule(who=WHO, max_uses=st.integers(1, 3))
    def invite(self, who: int, max_uses: int) -> None:
        try:
            invite, _ = self.h.run(invites.create_invite(
                self.h.rt, self.u[who], c.CreateInvite(max_uses=max_uses), INFO,
                community_id=self.cid))
            self.codes.append(invite.code)
        except DomainError:
            pass

    @rule(who=WHO, pick=st.integers(0, 20))
    def accept(self, who: int, pick: int) -> None:
        if self.codes:
            code = self.codes[pick % len(self.codes)]
            self.attempt(invites.accept(self.h.rt, self.u[who], code, INFO, group=False))

    @rule(actor=WHO, victim=WHO)
    def ban(self, actor: int, victim: int) -> None:
        self.moderate(actor, victim, members.ban(self.h.rt, self.u[actor], self.cid,
                                                 self.u[victim], c.Moderation(), INFO))

    @rule(actor=WHO, victim=WHO)
    def unban(self, actor: int, victim: int) -> None:
        self.attempt(members.unban(self.h.rt, self.u[actor], self.cid, self.u[victim],
                                   c.Moderation(), INFO))

    @rule(actor=WHO, victim=WHO)
    def kick(self, actor: int, victim: int) -> None:
        self.moderate(actor, victim, members.kick(self.h.rt, self.u[actor], self.cid,
                                                  self.u[victim], c.Moderation(), INFO))

    @rule(actor=WHO, victim=WHO, role=ROLE)
    def set_role(self, actor: int, victim: int, role: str) -> None:
        self.moderate(actor, victim, members.set_role(
            self.h.rt, self.u[actor], self.cid, self.u[victim],
            c.SetRole(role=role), INFO))  # type: ignore[arg-type]

    @rule(actor=WHO, victim=WHO)
    def transfer(self, actor: int, victim: int) -> None:
        self.attempt(communities.transfer_community(self.h.rt, self.u[actor], self.cid,
                                                    self.u[victim], INFO))

    @invariant()
    def one_owner(self) -> None:
        owners = self.h.execute(
            "SELECT m.user_id, c.owner_id FROM community_members m JOIN spaces_communities c"
            " USING (community_id) WHERE community_id = %s AND role = 'owner'", (self.cid,))
        assert len(owners) == 1 and owners[0][0] == owners[0][1], owners

    @rule(actor=WHO, victim=WHO)
    def transfer_channel(self, actor: int, victim: int) -> None:
        self.attempt(channels.transfer(self.h.rt, self.u[actor], self.chid, self.u[victim],
                                       INFO))

    @invariant()
    def channel_owner_at_most_one_and_a_member(self) -> None:
        """A channel has one owner, or none once its owner left with the community (its
        admins then give it one): never two, and never a banned user (rows are members)."""
        owners = self.h.execute("SELECT user_id FROM channel_members WHERE channel_id = %s"
                                " AND role = 'owner'", (self.chid,))
        assert len(owners) <= 1, owners

    @invariant()
    def banned_are_members_of_nothing(self) -> None:
        rows = self.h.execute(
            "SELECT b.user_id FROM community_bans b WHERE b.community_id = %s AND ("
            " EXISTS (SELECT 1 FROM community_members m WHERE m.community_id = b.community_id"
            "   AND m.user_id = b.user_id)"
            " OR EXISTS (SELECT 1 FROM group_members gm JOIN spaces_groups g USING (group_id)"
            "   WHERE g.community_id = b.community_id AND gm.user_id = b.user_id)"
            " OR EXISTS (SELECT 1 FROM channel_members cm JOIN spaces_channels ch"
            "   USING (channel_id) WHERE ch.community_id = b.community_id"
            "   AND cm.user_id = b.user_id))", (self.cid,))
        assert rows == []

    @invariant()
    def invite_uses_within_max(self) -> None:
        rows = self.h.execute("SELECT uses, max_uses FROM spaces_invites WHERE community_id"
                              " = %s AND uses > max_uses", (self.cid,))
        assert rows == []

    def teardown(self) -> None:
        """The read model rebuilt from the whole log agrees with the decision tables."""
        self.h.rebuilds += 1
        schema = f"sm_rebuild_{self.h.rebuilds}"
        projector = Spaces()

        async def rebuild() -> None:
            async with self.h.pool.connection() as conn:
                await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                for statement in projector.table_statements(schema):
                    await conn.execute(statement)
                ctx = ProjectionContext(conn, schema, projector.tables, rebuilding=True,
                                        store=self.h.store)
                after = None
                while True:
                    kwargs = {} if after is None else {"after": after}
                    batch = await self.h.store.read_all(limit=500, **kwargs)
                    if not batch:
                        break
                    await projector.apply(
                        [e for e in batch if projector.wants(e.type)], ctx)
                    after = batch[-1].position

        self.h.run(rebuild())
        decided = self.h.execute(
            "SELECT user_id, role FROM community_members WHERE community_id = %s"
            " ORDER BY user_id", (self.cid,))
        rebuilt = self.h.execute(sql.SQL(
            "SELECT user_id, role FROM {} WHERE community_id = %s ORDER BY user_id").format(
            sql.Identifier(schema, "space_community_members")).as_string(None), (self.cid,))
        assert rebuilt == decided
        for table, rm in (("community_bans", "space_community_bans"),):
            d = self.h.execute(f"SELECT user_id FROM {table} WHERE community_id = %s"
                               " ORDER BY user_id", (self.cid,))
            r = self.h.execute(sql.SQL("SELECT user_id FROM {} WHERE community_id = %s"
                                       " ORDER BY user_id").format(
                sql.Identifier(schema, rm)).as_string(None), (self.cid,))
            assert r == d, table
        uses = self.h.execute("SELECT invite_id, uses FROM spaces_invites WHERE community_id"
                              " = %s ORDER BY invite_id", (self.cid,))
        rebuilt_uses = self.h.execute(sql.SQL(
            "SELECT invite_id, uses FROM {} WHERE community_id = %s ORDER BY invite_id").format(
            sql.Identifier(schema, "space_invites")).as_string(None), (self.cid,))
        assert rebuilt_uses == uses
        for table, rm, scope in (
                ("group_members", "space_group_members",
                 "group_id IN (SELECT group_id FROM {g} WHERE community_id = %s)"),
                ("channel_members", "space_channel_members",
                 "channel_id IN (SELECT channel_id FROM {c} WHERE community_id = %s)")):
            d = self.h.execute(
                f"SELECT {table.split('_')[0]}_id, user_id, role FROM {table} WHERE "
                + scope.format(g="spaces_groups", c="spaces_channels") + " ORDER BY 1, 2",
                (self.cid,))
            r = self.h.execute(sql.SQL(
                "SELECT " + table.split("_")[0] + "_id, user_id, role FROM {} WHERE "
                + scope.format(g="{g}", c="{c}") + " ORDER BY 1, 2").format(
                sql.Identifier(schema, rm), g=sql.Identifier(schema, "space_groups"),
                c=sql.Identifier(schema, "space_channels")).as_string(None), (self.cid,))
            assert r == d, table
        counts = self.h.execute(sql.SQL("SELECT member_count FROM {} WHERE community_id = %s"
                                        ).format(sql.Identifier(schema, "space_communities")
                                                 ).as_string(None), (self.cid,))
        assert counts == [(len(decided),)]
        self.h.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(
            sql.Identifier(schema)).as_string(None))


def test_spaces_state_machine(database_url: str) -> None:
    HARNESS.append(Harness(database_url))
    try:
        run_state_machine_as_test(SpacesMachine, settings=settings(stateful_step_count=30))
    finally:
        HARNESS.pop().close()

