"""`chatalot serve` serves the built web client at / when there is a build (clients/web,
or CHATALOT_WEB_DIR), with the security headers; the API, its 404s and the schema are
unchanged; without a build nothing is served at /."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from chatalot.api.webapp import web_build_dir
from chatalot.bootstrap import create_app
from chatalot.config import load_settings


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "_app").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Chatalot</title>")
    (tmp_path / "_app" / "app.js").write_text("export const x = 1;")
    monkeypatch.setenv("CHATALOT_WEB_DIR", str(tmp_path))
    return tmp_path


def test_no_build_no_web_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATALOT_WEB_DIR", str(tmp_path))
    assert web_build_dir() is None


async def test_the_app_is_served_beside_the_api(build: Path, database_url: str) -> None:
    assert web_build_dir() == build
    async with AsyncTestClient(app=create_app(load_settings({}), database_url)) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert "Chatalot" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        script = await client.get("/_app/app.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert (await client.get("/api/health")).status_code == 200
        missing = await client.get("/api/no-such-route")
        assert missing.status_code == 404
        assert missing.json() == {"error": "not found", "code": "not_found"}
        assert (await client.get("/../pyproject.toml")).status_code == 404
        assert "/api/health" in (await client.get("/schema/openapi.json")).json()["paths"]


ID = "0b7e1c9e-1f7a-4d3c-9a43-5f6d7e8f9a0b"
APP_PATHS = [f"/channel/{ID}", f"/channel/{ID}/thread/{ID}", f"/dm/{ID}", f"/community/{ID}",
             "/invite/Abc_123-x", "/discover"]


@pytest.mark.parametrize("path", APP_PATHS)
async def test_the_apps_own_urls_get_its_page(build: Path, database_url: str, path: str) -> None:
    """Deep links, reloads and back/forward land on the app's page (it routes in the
    browser: clients/web/src/lib/app/route.ts), with the same security headers."""
    async with AsyncTestClient(app=create_app(load_settings({}), database_url)) as client:
        page = await client.get(path)
        assert page.status_code == 200, path
        assert "<title>Chatalot</title>" in page.text
        assert "text/html" in page.headers["content-type"]
        assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_the_fallback_shadows_no_server_route(build: Path, database_url: str) -> None:
    """The API, the socket, the schema and the metrics answer as themselves, never with the
    app's page; a missing asset is a 404, not the page (a broken build shows as one)."""
    async with AsyncTestClient(app=create_app(load_settings({}), database_url)) as client:
        for path in ["/api/no-such-route", "/api/channels/0b7e1c9e-1f7a-4d3c-9a43-5f6d7e8f9a0b"]:
            answer = await client.get(path)
            assert answer.status_code in (401, 404), path
            assert "<title>" not in answer.text
            assert answer.headers["content-type"].startswith("application/json")
        socket = await client.get("/ws")  # a plain GET on the socket's path: not the page
        assert "<title>Chatalot" not in socket.text
        schema = await client.get("/schema/openapi.json")
        assert schema.status_code == 200 and "paths" in schema.json()
        metrics = await client.get("/metrics")
        assert "<title>Chatalot" not in metrics.text
        assert metrics.status_code in (401, 403, 404, 503)
        assert (await client.get("/_app/immutable/missing.js")).status_code == 404
