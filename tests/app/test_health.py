"""The app boots against a real database and answers health and errors in the protocol's shape."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from chatalot.bootstrap import create_app
from chatalot.config import load_settings


async def test_health_and_error_shape(database_url):
    settings = load_settings({})
    app = create_app(settings, database_url)
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/api/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["db_healthy"] is True
        assert body["redis_healthy"] is None
        assert body["version"]
        assert isinstance(body["uptime_secs"], int)
        missing = await client.get("/api/no-such-route")
        assert missing.status_code == 404
        assert missing.json() == {"error": "not found", "code": "not_found"}
        schema = await client.get("/schema/openapi.json")
        assert "/api/health" in schema.json()["paths"]


async def test_health_reports_redis(database_url, redis_url):
    settings = load_settings({"REDIS_URL": redis_url})
    async with AsyncTestClient(app=create_app(settings, database_url)) as client:
        body = (await client.get("/api/health")).json()
        assert body["redis_healthy"] is True


async def test_health_names_what_holds_the_log_back(database_url, monkeypatch):
    """An open writing transaction holds every log reader back; past a second (here 0.2 s)
    the health route says since when and which backend holds it."""
    import asyncio

    import psycopg

    import event_store.records

    monkeypatch.setattr(event_store.records, "HELD_BACK_NEWS_AFTER", 0.2)
    settings = load_settings({})
    async with AsyncTestClient(app=create_app(settings, database_url)) as client:

        async def settled() -> dict:
            """Until every read model's first build is done and nothing holds the log
            back (those builds write in transactions of their own)."""
            for _ in range(600):
                body = (await client.get("/api/health")).json()
                if all(p["state"] == "live" for p in body["projections"].values()) \
                        and body["log_held_back"] is None:
                    return body
                await asyncio.sleep(0.05)
            return body

        assert (await settled())["log_held_back"] is None
        async with await psycopg.AsyncConnection.connect(
            database_url, application_name="long-report"
        ) as holder:
            await holder.execute("SELECT pg_current_xact_id()")  # a writer, no events
            pid = holder.info.backend_pid
            async with await psycopg.AsyncConnection.connect(database_url,
                                                             autocommit=True) as other:
                await other.execute(
                    "INSERT INTO events (epoch, stream_id, version, event_id, type, data,"
                    " data_hash, hash) SELECT 1, 'held-1', 1, id, 'Noted', '{}',"
                    " event_data_hash('{}'), event_link(NULL, id, 'held-1', 1, 'Noted', '{}',"
                    " now(), event_data_hash('{}')) FROM gen_random_uuid() id")
            body: dict = {}
            for _ in range(200):
                body = (await client.get("/api/health")).json()
                # a read model still being built at start-up (its CREATE TABLE runs in a
                # transaction too) may be older than the holder for a moment: wait for it
                held_by = (body["log_held_back"] or {}).get("holder_application")
                if held_by == "long-report":
                    break
                await asyncio.sleep(0.05)
            held = body["log_held_back"]
            assert held is not None, body
            assert held["holder_pid"] == pid
            assert held["holder_application"] == "long-report"
            assert held["holder_state"] == "idle in transaction"
            assert held["age_secs"] > 0.2
            assert body["log_held_back_secs"] > 0.2
            await holder.rollback()
        body = await settled()
        assert body["log_held_back"] is None
        assert body["log_held_back_secs"] == 0.0
