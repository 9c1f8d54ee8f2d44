"""The web client's static files (clients/web, built by `npm run build`) served at /.

The build is never committed: scripts/serve builds it when it is missing. Without a build
the server runs as before (API only). CHATALOT_WEB_DIR points elsewhere (a packaged build).
A path that is no file answers index.html (the app routes in the browser); /api, /ws and
/schema are matched first by their own routes."""

from __future__ import annotations

import os
from pathlib import Path

from litestar.router import Router
from litestar.static_files import create_static_files_router

DEFAULT_BUILD = Path(__file__).resolve().parents[2] / "clients" / "web" / "build"


def web_build_dir() -> Path | None:
    """The built app's directory, or None when there is no build to serve."""
    directory = Path(os.environ.get("CHATALOT_WEB_DIR") or DEFAULT_BUILD)
    return directory if (directory / "index.html").is_file() else None


def webapp_router(directory: Path) -> Router:
    return create_static_files_router(
        path="/", directories=[directory], html_mode=True, include_in_schema=False,
        name="webapp")
