"""`chatalot events tail|show|export|stats|replay|verify|checkpoint`: the functions in
process on a seeded log, and the command itself for exit statuses and key handling."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chatalot.bootstrap import build_registry
from chatalot.cli import events as cli
from chatalot.cli.log_tools import replay
from chatalot.db import make_pool
from chatalot.logbook.log_queries import EventFilter
from event_store import EventRedacted, EventStore, Metadata, NewEvent


def record(reason: str, stream: str = "x-1") -> EventRedacted:
    """An event type every store knows (the redaction record), with a field to follow."""
    import uuid

    return EventRedacted(uuid.UUID(int=1), stream, "Noted", reason)


@pytest.fixture
async def store(database_url: str) -> Any:
    pool = make_pool(database_url, min_size=1, max_size=4)
    await pool.open(wait=True)
    store = EventStore(pool, build_registry())
    await store.start()
    for i in range(3):
        await store.append("redaction-a", [NewEvent(record(f"a{i}"), metadata=Metadata(
            actor_id="admin-1", correlation_id=f"c{i}"))])
    await store.append("redaction-b", [NewEvent(record("b0", "y-2"))])
    yield store
    await store.close()
    await pool.close()


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in text.splitlines()]


async def test_tail_with_filters(store: EventStore) -> None:
    out = io.StringIO()
    await cli.tail(store, EventFilter(), follow=False, limit=None, out=out)
    assert [e["data"]["reason"] for e in lines(out.getvalue())] == ["a0", "a1", "a2", "b0"]
    for f, expected in [
        (EventFilter(stream="redaction-b"), ["b0"]),
        (EventFilter(actor="admin-1", newest_first=True), ["a2", "a1", "a0"]),
        (EventFilter(correlation_id="c1"), ["a1"]),
        (EventFilter(category="redaction", types=("EventRedacted",)), ["a0", "a1", "a2", "b0"]),
        (EventFilter(category="user"), []),
    ]:
        out = io.StringIO()
        await cli.tail(store, f, follow=False, limit=None, out=out)
        assert [e["data"]["reason"] for e in lines(out.getvalue())] == expected, f
    out = io.StringIO()
    await cli.tail(store, EventFilter(), follow=False, limit=2, out=out)
    assert len(lines(out.getvalue())) == 2


async def test_show_export_stats(store: EventStore, tmp_path: Path) -> None:
    out = io.StringIO()
    await cli.tail(store, EventFilter(), follow=False, limit=1, out=out)
    (first,) = lines(out.getvalue())
    for ref in (first["event_id"], first["position"]):
        shown = io.StringIO()
        await cli.show(store, ref, shown)
        (one,) = lines(shown.getvalue())
        assert one["event_id"] == first["event_id"] and len(one["hash"]) == 64
    with pytest.raises(cli.CliError):
        await cli.show(store, "not-an-id", io.StringIO())
    target = tmp_path / "log.jsonl"
    assert await cli.export(store, EventFilter(stream="redaction-a"), target, quiet=True) == 3
    assert [e["data"]["reason"] for e in lines(target.read_text())] == ["a0", "a1", "a2"]
    stats = await cli.stats(store, EventFilter())
    assert stats["events"] == 4 and stats["by_type"] == {"EventRedacted": 4}
    assert stats["by_category"] == {"redaction": 4} and stats["log_bytes"] > 0


async def test_replay_prints_each_change_up_to_a_point(store: EventStore) -> None:
    out = io.StringIO()
    assert await replay(store, "redaction-a", None, out) == 3
    steps = lines(out.getvalue())
    assert [s["changes"].get("reason") for s in steps[:3]] == [
        [None, "a0"], ["a0", "a1"], ["a1", "a2"]]
    assert "stream_id" in steps[0]["changes"] and "stream_id" not in steps[1]["changes"]
    assert steps[-1]["state"]["reason"] == "a2"
    out = io.StringIO()
    assert await replay(store, "redaction-a", steps[1]["position"], out) == 2
    assert lines(out.getvalue())[-1]["state"]["reason"] == "a1"
    with pytest.raises(cli.CliError):
        await replay(store, "nothing-here", None, io.StringIO())


def chatalot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatalot.cli.main", *args],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60, check=False)


async def test_verify_and_checkpoint_commands(store: EventStore, database_url: str,
                                              tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "CHATALOT_DATA_DIR": str(tmp_path)}
    sealed = chatalot("events", "checkpoint", env=env)
    assert sealed.returncode == 0, sealed.stderr
    assert json.loads(sealed.stdout)["total"] == 4
    good = chatalot("events", "verify", "--quiet", env=env)
    assert good.returncode == 0, good.stderr
    summary = lines(good.stdout)[-1]
    assert summary["ok"] and summary["seals_checked"] and summary["sealed_events"] == 4
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("UPDATE events SET data = jsonb_set(data, '{reason}', '\"z\"')"
                           " WHERE stream_id = 'redaction-a' AND version = 2")
    bad = chatalot("events", "verify", "--quiet", env=env)
    assert bad.returncode == 3, bad.stderr
    broken, summary = lines(bad.stdout)
    assert broken["broken"]["stream_id"] == "redaction-a"
    assert (broken["broken"]["version"], broken["broken"]["problem"]) == (2, "data")
    assert not summary["ok"] and summary["checkpoint_problem"] is None  # links unchanged
