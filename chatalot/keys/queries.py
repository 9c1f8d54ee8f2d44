"""Key-server queries.

- The one-time prekey count is read from the decision table itself
  (account_one_time_prekeys): it is the owner's own, exact, current count, the number
  their client compares with the threshold before uploading; a projection would only
  add lag to it.
- Stored sender keys are read from the `sender_keys` read model
  (projections/read_models/keys.py), after the caller's membership was checked on the
  decision tables (chatalot/spaces/access.py) (authorization is always the current truth).
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from chatalot.contracts import iso
from chatalot.domain.keys import rules
from chatalot.domain.spaces.permissions import require_read
from chatalot.keys import contracts as c
from chatalot.read_rows import read_rows
from chatalot.spaces.access import load_channel_access
from event_store import Position
from projections.projector import read_model


async def prekey_count(pool: AsyncConnectionPool[Any], user_id: uuid.UUID) -> c.PrekeyCount:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM account_one_time_prekeys WHERE user_id = %s", (user_id,))
        row = await cur.fetchone()
    return c.PrekeyCount(count=int(row[0]) if row else 0)


async def sender_keys(pool: AsyncConnectionPool[Any], channel_id: uuid.UUID,
                      user_id: uuid.UUID) -> list[c.StoredSenderKey]:
    """The caller's own copies in the channel: the latest envelope per (sender, chain),
    newest first, at most SENDER_KEYS_LIST_MAX. 404 for an unknown channel, 403 for a
    non-member."""
    async with pool.connection() as conn:
        require_read(await load_channel_access(conn, channel_id, user_id))
        rows = await read_rows(conn, sql.SQL(
            "SELECT sender_id, chain_id, envelope, created_at, epoch, transaction_id,"
            " sequence FROM {} WHERE channel_id = %s AND recipient_id = %s"
            " ORDER BY epoch DESC, transaction_id DESC, sequence DESC LIMIT %s"
        ).format(read_model("sender_keys")), (channel_id, user_id, rules.SENDER_KEYS_LIST_MAX))
    return [c.StoredSenderKey(
        sender_id=r["sender_id"], chain_id=r["chain_id"], envelope=r["envelope"],
        created_at=iso(r["created_at"]),
        position=Position(r["epoch"], r["transaction_id"], r["sequence"]).encode())
        for r in rows]
