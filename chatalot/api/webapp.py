"""The web client's static files (clients/web, built by `npm run build`) served at /.

The build is never committed: scripts/serve builds it when it is missing. Without a build
the server runs as before (API only). CHATALOT_WEB_DIR points elsewhere (a packaged build).
The app's own URLs (APP_PATHS, the same list as clients/web/src/lib/app/route.ts) answer
index.html, so deep links, reloads and back/forward land in the app, which routes in the
browser; they are named one by one so that no other path (/api, /ws, /schema, /metrics, a
missing asset) is ever answered with the page."""

from __future__ import annotations

import os
from pathlib import Path

from litestar.response import File
from litestar.router import Router
from litestar.static_files import create_static_files_router

from chatalot.api.routes import get

DEFAULT_BUILD = Path(__file__).resolve().parents[2] / "clients" / "web" / "build"


def web_build_dir() -> Path | None:
    """The built app's directory, or None when there is no build to serve."""
    directory = Path(os.environ.get("CHATALOT_WEB_DIR") or DEFAULT_BUILD)
    return directory if (directory / "index.html").is_file() else None


APP_PATHS = ["/channel/{rest:path}", "/dm/{rest:path}", "/community/{rest:path}",
             "/invite/{rest:path}", "/discover"]


def webapp_router(directory: Path) -> Router:
    index = directory / "index.html"

    @get(APP_PATHS, include_in_schema=False, name="webapp-page", cache=False)
    async def app_page() -> File:
        return File(path=index, media_type="text/html; charset=utf-8",
                    content_disposition_type="inline", filename="index.html")

    files = create_static_files_router(
        path="/", directories=[directory], html_mode=True, include_in_schema=False,
        name="webapp")
    return Router(path="/", route_handlers=[files, app_page], include_in_schema=False)
