"""The download's access check is one statement (chatalot/files/queries.py `servable`, the
spaces query joined LATERAL to the file's row): it must decide exactly as the two-step
check it replaced, `reading_access` on the file's channel, for every kind of caller."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.rows import dict_row

from chatalot.db import make_pool
from chatalot.domain.errors import DomainError
from chatalot.files import queries
from chatalot.files.channels import reading_access, reading_access_lateral, require_reading
from chatalot.spaces.access import channel_access_from_row, load_channel_access
from tests.files.conftest import FilesApi, pdf

_BY_CHANNEL = ("SELECT a.* FROM (VALUES (%(c)s::uuid)) AS v(c) LEFT JOIN LATERAL ("
               + reading_access_lateral("v.c") + ") a ON true")


def _outcome(decide: Any) -> Any:
    try:
        return "allowed", decide()
    except DomainError as refused:
        return "refused", refused.code


async def _awaited(decide: Any) -> Any:
    try:
        return "allowed", await decide()
    except DomainError as refused:
        return "refused", refused.code


async def test_one_statement_decides_as_reading_access(files: FilesApi) -> None:
    space = await files.space(members=3)
    alice, bob, carol = space.members
    stranger = await files.api.register()
    stored = await files.stored(alice, space.channel_id, pdf(300))
    for action, user in (("kick", bob), ("ban", carol)):
        r = await files.client.post(
            f"/api/channels/{space.channel_id}/members/{user.id}/{action}",
            headers=space.owner.auth)
        assert r.status_code == 200, r.text
    gone = await files.space(members=1)
    r = await files.client.delete(f"/api/groups/{gone.group_id}/channels/{gone.channel_id}",
                                  headers=gone.owner.auth)
    assert r.status_code == 200, r.text

    callers = [space.owner, alice, bob, carol, stranger]
    channels = [uuid.UUID(space.channel_id), uuid.UUID(gone.channel_id), uuid.uuid4()]
    pool = make_pool(files.api.db.database_url, min_size=1, max_size=2)
    await pool.open()
    try:
        async with pool.connection() as conn:
            for caller in callers:
                user = uuid.UUID(caller.id)
                for channel in channels:
                    before = await _awaited(lambda c=channel, u=user: reading_access(conn, c, u))
                    async with conn.cursor(row_factory=dict_row) as cur:
                        await cur.execute(_BY_CHANNEL.encode(), {"c": channel, "u": user})
                        row = await cur.fetchone()
                    assert row is not None
                    # the same record of the caller in the channel, and the same decision
                    loaded = await _awaited(
                        lambda c=channel, u=user: load_channel_access(conn, c, u))
                    found = (("allowed", channel_access_from_row(channel, row))
                             if row["channel_found"] else ("refused", "not_found"))
                    assert found == loaded, (caller.id, channel)
                    now = _outcome(lambda c=channel, r=row: require_reading(c, r))
                    assert now == before, (caller.id, channel)

        expected = {space.owner.id: "allowed", alice.id: "allowed", bob.id: "forbidden",
                    carol.id: "forbidden", stranger.id: "forbidden"}
        for caller in callers:
            user = uuid.UUID(caller.id)
            got = await _awaited(lambda u=user: queries.servable(
                pool, u, False, uuid.UUID(stored.id)))
            assert (got[0] if got[0] == "allowed" else got[1]) == expected[caller.id]
            if got[0] == "allowed":
                assert (got[1].sha256, got[1].size_bytes) == (stored.body["sha256"], 300)
        missing = await _awaited(lambda: queries.servable(
            pool, uuid.UUID(alice.id), False, uuid.uuid4()))
        assert missing == ("refused", "not_found")
    finally:
        await pool.close()
