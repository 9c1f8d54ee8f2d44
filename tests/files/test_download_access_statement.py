"""The download's access check is one statement (chatalot/files/queries.py `servable`, the
spaces query joined LATERAL to the file's row), read behind the session lookup: it must
decide exactly as the two-step check it replaced, `reading_access` on the file's channel,
for every kind of caller, and authenticate as every other route does."""

from __future__ import annotations

import base64
import json
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


def _session_of(access_token: str) -> str:
    payload = access_token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"])


async def test_the_download_authenticates_as_strictly_as_every_route(files: FilesApi) -> None:
    """The download's guard reads the file behind the session lookup (one round trip):
    a refused caller still gets 401 and nothing else, whatever the file."""
    space = await files.space(members=2)
    alice, bob = space.members
    stored = await files.stored(alice, space.channel_id, pdf(400))
    path = f"/api/files/{stored.id}"
    assert (await files.download(alice, stored.id)).content == pdf(400)

    again = await files.api.login(alice)
    assert again.status_code == 200, again.text
    other = {"Authorization": f"Bearer {again.json()['access_token']}"}
    r = await files.client.delete(f"/api/account/sessions/{_session_of(alice.access)}",
                                  headers=other)
    assert r.status_code == 200, r.text
    refused = await files.download(alice, stored.id)  # the revoked session's token
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
    assert (await files.client.get(path, headers=other)).status_code == 200

    r = await files.client.post(f"/api/admin/users/{bob.id}/suspend",
                                headers=space.owner.auth, json={"reason": "x"})
    assert r.status_code == 200, r.text
    for headers in (bob.auth, {"Authorization": f"Bearer {other['Authorization'][7:-2]}xx"},
                    {}):
        for target in (path, f"/api/files/{uuid.uuid4()}", "/api/files/not-a-uuid"):
            r = await files.client.get(target, headers=headers)
            assert (r.status_code, r.json()["code"]) == (401, "unauthorized"), (target, r.text)
    r = await files.client.get("/api/files/not-a-uuid", headers=other)
    assert r.status_code == 400
