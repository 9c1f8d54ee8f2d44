"""The native chain (event_store/chain_ext, migration 0044): event_batch_hashes gives a
batch's data hashes and links byte for byte as the SQL functions do, whatever the batch
holds; bad input is an error, not a wrong hash; the store uses it where it works and
chains in SQL where it does not."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from event_store import EventStore, NewEvent
from event_store.integrity import verify_chains
from tests.event_store.conftest import Noted, use_chain
from tests.hypothesis_budget import PURE_EXAMPLES

# What the SQL functions give the same batch (event_store/sql.py's batch append, as a
# SELECT): each event's event_data_hash, then its event_links link.
REFERENCE = """
WITH b AS (
    SELECT r.ord, event_data_hash(r.data) AS dh,
           event_link_fields(r.id, %(stream)s, %(base)s::bigint + r.ord, r.type, r.meta,
                             %(us)s, event_data_hash(r.data)) AS input
      FROM ROWS FROM (jsonb_to_recordset(%(batch)s::jsonb)
            AS (id uuid, type text, data jsonb, meta jsonb)) WITH ORDINALITY AS r(id, type,
                                                                     data, meta, ord)
), l AS (SELECT event_links(%(prev)s, array_agg(input ORDER BY ord)) AS links FROM b)
SELECT coalesce(string_agg(b.dh || substring(l.links FROM b.ord::int * 32 - 31 FOR 32),
                           ''::bytea ORDER BY b.ord), ''::bytea)
  FROM b, l
"""
NATIVE = "SELECT event_batch_hashes(%(prev)s, %(stream)s, %(base)s, %(us)s, %(batch)s::jsonb)"


@pytest.fixture
async def conn(store: EventStore) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    use_chain(store, native=True)
    async with store.pool.connection() as conn:
        yield conn


# jsonb holds no NUL; everything else goes, escapes and all
_text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]),
                max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12)


def _spellings(value: uuid.UUID) -> st.SearchStrategy[str]:
    """Ways of writing a uuid that PostgreSQL reads: its text is the canonical one."""
    return st.sampled_from([str(value), str(value).upper(), value.hex, "{" + str(value) + "}"])


_event = st.fixed_dictionaries({
    "id": st.uuids().flatmap(_spellings),
    "type": _text,
    "schema": st.integers(1, 9),
    "data": _json.filter(lambda v: v is not None),  # a NULL data is refused either way
    "meta": st.dictionaries(_text, _json, max_size=4),
})


@settings(max_examples=max(PURE_EXAMPLES // 5, 40))  # ~20 ms an example
@given(prev=st.none() | st.binary(max_size=40), stream=_text, base=st.integers(0, 2**62),
       us=st.integers(0, 2**62).map(str), events=st.lists(_event, max_size=8))
async def test_a_batch_hashes_as_the_sql_functions_hash_it(
        conn: psycopg.AsyncConnection[Any], prev: bytes | None, stream: str, base: int,
        us: str, events: list[dict[str, Any]]) -> None:
    params = {"prev": prev, "stream": stream, "base": base, "us": us,
              "batch": json.dumps(events)}
    want = (await (await conn.execute(REFERENCE, params)).fetchone())[0]
    got = (await (await conn.execute(NATIVE, params)).fetchone())[0]
    assert len(got) == 64 * len(events)
    assert got == want


@pytest.mark.parametrize(("batch", "error"), [
    ('{"id": 1}', "not a JSON array"),
    ("[1]", "event 1 of the batch is not a JSON object"),
    ('[{"id": "not a uuid", "type": "T", "data": {}, "meta": {}}]', "uuid"),
    ('[{"type": "T", "data": {}, "meta": {}}]', 'has no "id"'),
    ('[{"id": "00000000-0000-4000-8000-000000000000", "type": 7, "data": {}, "meta": {}}]',
     '"type" is not a string'),
    ('[{"id": "00000000-0000-4000-8000-000000000000", "type": "T", "data": null,'
     ' "meta": {}}]', 'has no "data"'),
    ('[{"id": "00000000-0000-4000-8000-000000000000", "type": "T", "data": {}}]',
     'has no "meta"'),
])
async def test_a_malformed_batch_is_an_error(
        conn: psycopg.AsyncConnection[Any], batch: str, error: str) -> None:
    with pytest.raises(psycopg.Error, match=error):
        await conn.execute(NATIVE, {"prev": None, "stream": "s", "base": 0, "us": "0",
                                    "batch": batch})
    assert (await (await conn.execute("SELECT 1")).fetchone()) == (1,)


@pytest.mark.parametrize("broken", [
    "DROP FUNCTION IF EXISTS event_batch_hashes",  # a server without the library
    # a call that fails (say the library was removed since): start() calls it
    "CREATE OR REPLACE FUNCTION event_batch_hashes(prev bytea, stream text, base bigint,"
    " recorded_us text, batch jsonb) RETURNS bytea LANGUAGE sql"
    " AS $$ SELECT (1 / 0)::text::bytea $$",
], ids=["absent", "failing"])
async def test_the_store_chains_in_sql_where_the_function_does_not_work(
        store: EventStore, database_url: str, broken: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        await admin.execute(broken)
    other = EventStore(store.pool, store.registry)
    await other.start()
    try:
        assert not other.native_chain
        await other.append("fallback", [NewEvent(Noted(1, n)) for n in range(1, 4)])
        async with other.transaction() as tx:
            await other.append("fallback", [NewEvent(Noted(1, n)) for n in (4, 5)], 3,
                               conn=tx)
        assert [e.version for e in await other.read_stream("fallback")] == [1, 2, 3, 4, 5]
        async with other.pool.connection() as check:
            report = await verify_chains(check)
        assert report.ok and report.events == 5
    finally:
        await other.close()
