"""The `chatalot` command end to end: migrate, events tail, serve with its database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatalot.bootstrap import build_registry
from chatalot.db import make_pool, with_database
from event_store import EventStore, NewEvent


def chatalot(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chatalot.cli.main", *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout, check=False,
    )


def test_migrate_and_tail(database_url, tmp_path):
    env = {"DATABASE_URL": database_url, "CHATALOT_DATA_DIR": str(tmp_path)}
    result = chatalot("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "applied 0 migration(s)"  # the template had them all
    assert chatalot("events", "tail", env=env).stdout == ""

    async def seed():
        pool = make_pool(database_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        store = EventStore(pool, build_registry())
        await store.start()
        # the redaction record is an event type every store knows
        import uuid

        from event_store import EventRedacted
        for i in range(3):
            await store.append(f"redaction-{i}", [NewEvent(EventRedacted(
                uuid.uuid4(), "x-1", "Noted", f"reason {i}"))])
        await pool.close()

    asyncio.run(seed())
    lines = chatalot("events", "tail", env=env).stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["data"]["reason"] for e in events] == ["reason 0", "reason 1", "reason 2"]
    assert {"position", "stream_id", "version", "event_id", "type", "metadata",
            "recorded_at"} <= events[0].keys()
    after = chatalot("events", "tail", "--after", events[0]["position"], env=env)
    assert len(after.stdout.splitlines()) == 2
    one = chatalot("events", "tail", "--stream", "redaction-1", env=env)
    assert [json.loads(x)["stream_id"] for x in one.stdout.splitlines()] == ["redaction-1"]
    bad = chatalot("events", "tail", "--after", "not-a-position", env=env)
    assert bad.returncode == 1
    assert "malformed position" in bad.stderr
    assert "Traceback" not in bad.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pg_tmp() -> Iterator[Path]:
    """A scratch directory outside pytest's: the embedded PostgreSQL runs as an unprivileged
    user when we are root, and any pytest starting on this machine sets its own base
    directory back to 0700, which would lock that user out of a server already running."""
    with tempfile.TemporaryDirectory(prefix="chatalot-test-serve-") as tmp:
        os.chmod(tmp, 0o755)
        yield Path(tmp)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_with_embedded_postgres_stops_cleanly(pg_tmp: Path, stop: signal.Signals) -> None:
    tmp_path = pg_tmp
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"CHATALOT_DATA_DIR": str(tmp_path / "data"), "PORT": str(port)})
    # its output goes to a file, never a pipe nobody drains (a full pipe blocks the server)
    output = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "chatalot.cli.main", "serve", "--log-level", "warning"],
        env=env, stdout=output, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                if server.poll() is not None:
                    pytest.fail((tmp_path / "serve.log").read_text())
                time.sleep(0.5)
        assert body is not None, "the server did not come up"
        assert body["db_healthy"] is True
        assert (tmp_path / "data" / "keys" / "jwt_ed25519.pem").exists()
        server.send_signal(stop)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    pid_file = tmp_path / "data" / "pg" / "postmaster.pid"
    output.close()
    deadline = time.monotonic() + 60  # the embedded PostgreSQL goes with it (slowly when loaded)
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not pid_file.exists()


def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path, database_url):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    missing = with_database(database_url, "no_such_database_here")
    for url in (f"postgresql://postgres:not-shown@127.0.0.1:{port}/x", missing):
        for command in (["migrate"], ["serve"]):
            result = chatalot(*command, env={"DATABASE_URL": url,
                                             "CHATALOT_DATA_DIR": str(tmp_path)})
            assert result.returncode == 1, result.stderr
            assert result.stderr.startswith("chatalot: DATABASE_URL: cannot connect: ")
            assert "Traceback" not in result.stderr and "not-shown" not in result.stderr
    assert "no_such_database_here" in result.stderr
