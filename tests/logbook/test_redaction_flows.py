"""Redaction flows (issue 11 item 5) on the event store's primitive: after an account's
deletion, its personal data is nowhere in the database (a raw scan of every table: the log
and every read model), the redaction is itself in the log and the audit log, the hash
chains still verify, and a rebuilt audit log answers the same."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg import sql

from event_store.integrity import verify
from tests.accounts.conftest import Api

MARK = "zebracorn"  # in the name, e-mail and profile of the account that goes away


async def scan(database_url: str, needle: str) -> list[str]:
    """Every table of every schema whose rows, as text, contain `needle`."""
    found = []
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT schemaname, tablename FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
        for schema, table in await cur.fetchall():
            hit = await conn.execute(sql.SQL("SELECT count(*) FROM {} t WHERE t::text ILIKE %s")
                                     .format(sql.Identifier(schema, table)), (f"%{needle}%",))
            row = await hit.fetchone()
            if row and row[0]:
                found.append(f"{schema}.{table}")
    return found


async def test_a_deleted_account_leaves_no_personal_data(api: Api) -> None:
    owner = await api.register()
    user = await api.register(f"{MARK}42", display_name=f"Zed {MARK}",
                              email=f"{MARK}@example.org")
    r = await api.client.patch("/api/account/profile", headers=user.auth, json={
        "bio": f"I am {MARK}", "pronouns": "they", "custom_status": f"{MARK} status"})
    assert r.status_code == 200, r.text
    r = await api.client.put("/api/account/preferences", headers=user.auth,
                             json={"preferences": {"theme": f"{MARK}-dark"}})
    assert r.status_code == 200, r.text
    failed = await api.client.post("/api/auth/login", json={"username": f"{MARK}42",
                                                             "password": "not the password"})
    assert failed.status_code == 401
    await api.head()
    assert "public.events" in await scan(api.db.database_url, MARK)  # it was there
    r = await api.client.request("DELETE", "/api/account/delete", headers=user.auth,
                                 json={"password": user.password})
    assert r.status_code == 200, r.text
    await api.head()
    for _ in range(100):
        leftovers = await scan(api.db.database_url, MARK)
        if not leftovers:
            break
        await asyncio.sleep(0.1)
    assert leftovers == []
    headers = {**owner.auth, **await api.wait(await api.head())}
    r = await api.client.get("/api/admin/audit-log", headers=headers,
                             params={"action": "EventRedacted", "limit": 500})
    assert r.status_code == 200
    redactions = r.json()["items"]
    assert redactions and all(e["reason"] for e in redactions)
    r = await api.client.get("/api/admin/audit-log", headers=headers,
                             params={"target": user.id, "action": "UserDeleted"})
    assert [e["action"] for e in r.json()["items"]] == ["UserDeleted"]
    # redacted rows keep their links: the log still verifies
    store = await api.db.store()
    async with store.pool.connection() as conn:
        report = await verify(conn)
    assert report.ok, report
    redacted: Any = await api.db.fetch("SELECT count(*) FROM events WHERE redacted")
    assert redacted[0][0] == len(redactions)
