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
