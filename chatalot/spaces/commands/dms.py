"""Create-or-get the DM channel of two users: exactly one per pair, also under concurrent
requests (the unique index on the ordered pair: the loser's INSERT waits for the winner's
commit, then finds its row and appends nothing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.spaces import events as ev
from chatalot.domain.spaces import rules
from chatalot.domain.streams import channel_stream
from chatalot.ids import uuid7
from chatalot.request_info import RequestInfo
from chatalot.spaces.runtime import SpacesRuntime
from event_store import NO_STREAM

_CHECKS = """
SELECT (SELECT status FROM account_users WHERE user_id = %(o)s) AS other_status,
       coalesce((SELECT is_admin OR is_owner FROM account_users WHERE user_id = %(a)s),
                false) AS staff,
       EXISTS (SELECT 1 FROM community_members x JOIN community_members y
                  ON y.community_id = x.community_id AND y.user_id = %(o)s
                WHERE x.user_id = %(a)s) AS shared,
       EXISTS (SELECT 1 FROM account_blocks
                WHERE (user_id = %(a)s AND blocked_user_id = %(o)s)
                   OR (user_id = %(o)s AND blocked_user_id = %(a)s)) AS blocked
"""


@dataclass(frozen=True)
class DmResult:
    channel_id: uuid.UUID
    created: bool


async def create_or_get(rt: SpacesRuntime, actor: uuid.UUID, other: uuid.UUID,
                        info: RequestInfo) -> tuple[DmResult, str | None]:
    """The DM of `actor` and `other`, created when it does not exist yet (then
    `DmChannelCreated`, addressed to both, and two membership rows). Needs a shared
    community unless the actor is instance staff; refused when either blocked the other.
    An existing DM is returned even after a block (its history stays readable)."""
    low, high = rules.dm_pair(actor, other)
    channel_id = uuid7()

    async def work(tx: Tx) -> DmResult:
        existing = await tx.fetchone(
            "SELECT channel_id FROM spaces_channels WHERE kind = 'dm' AND dm_low = %s"
            " AND dm_high = %s", (low, high))
        if existing is not None:
            return DmResult(existing["channel_id"], False)
        row = await tx.fetchone(_CHECKS, {"a": actor, "o": other})
        assert row is not None
        rules.check_dm(actor, other, other_exists=row["other_status"] == "active",
                       staff=bool(row["staff"]), share_community=bool(row["shared"]),
                       blocked=bool(row["blocked"]))
        inserted = await tx.fetchone(
            "INSERT INTO spaces_channels (channel_id, kind, e2e_required, dm_low, dm_high)"
            " VALUES (%s, 'dm', true, %s, %s) ON CONFLICT (dm_low, dm_high)"
            " WHERE kind = 'dm' DO NOTHING RETURNING channel_id", (channel_id, low, high))
        if inserted is None:  # a concurrent request created it and committed meanwhile
            found = await tx.fetchone(
                "SELECT channel_id FROM spaces_channels WHERE kind = 'dm' AND dm_low = %s"
                " AND dm_high = %s", (low, high))
            assert found is not None
            return DmResult(found["channel_id"], False)
        await tx.execute(
            "INSERT INTO channel_members (channel_id, user_id, role, joined_at)"
            " VALUES (%s, %s, 'member', %s), (%s, %s, 'member', %s)",
            (channel_id, actor, tx.now, channel_id, other, tx.now))
        tx.append(channel_stream(channel_id), ev.DmChannelCreated(
            channel_id=channel_id, user_id=other, initiator_id=actor), expected=NO_STREAM)
        return DmResult(channel_id, True)

    return await run_command(rt.store, info.metadata("create_dm", actor), rt.now, work,
                             may_record_nothing=True)

