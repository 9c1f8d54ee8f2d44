"""The per-request user-and-session check (chatalot/auth/principal.py), coalesced: the
lookups of concurrent requests share one statement, and each still answers for its own
token (a revoked session, a suspended user and an unknown session among live ones)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from chatalot.auth.principal import _lookups, authenticate_access_token
from chatalot.domain.errors import DomainError
from tests.accounts.conftest import Api


async def test_concurrent_lookups_share_a_statement_and_answer_each_token(api: Api) -> None:
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    old_carol = carol.access
    await api.relogin(carol)
    r = await api.client.post("/api/account/sessions/revoke-all", headers=carol.auth)
    assert r.status_code == 200, r.text
    # the decision row a suspension writes (the lookup reads nothing else)
    await api.db.fetch("UPDATE account_users SET status = 'suspended' WHERE user_id = %s"
                       " RETURNING user_id", (uuid.UUID(bob.id),))
    services = api.client.app.state.services
    rt = services.accounts
    stranger = rt.tokens.issue_access(user_id=uuid.UUID(alice.id), session_id=uuid.uuid4(),
                                      username="x", is_admin=False, is_owner=False)
    tokens = [alice.access, bob.access, old_carol, carol.access, stranger, alice.access]

    async def together() -> tuple[list[Any], int]:
        lookups = _lookups(rt.pool)
        before = lookups.statements
        out = await asyncio.gather(*(authenticate_access_token(rt, t) for t in tokens),
                                   return_exceptions=True)
        return out, lookups.statements - before

    answers, statements = api.client.blocking_portal.call(together)
    assert statements == 1
    ok = [a.user_id if not isinstance(a, BaseException) else None for a in answers]
    assert ok == [uuid.UUID(alice.id), None, None, uuid.UUID(carol.id), None,
                  uuid.UUID(alice.id)]
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert all(isinstance(a, DomainError) and a.code == "unauthorized" for a in refused)
    # through HTTP, concurrently: the same answers
    replies = await api.concurrently(*[("GET", "/api/account/me", {"headers": {
        "Authorization": f"Bearer {t}"}}) for t in tokens])
    assert [r.status_code for r in replies] == [200, 401, 401, 200, 401, 200]
