"""The app boots against a real database and answers health and errors in the protocol's shape."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from chatalot.app import create_app
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
