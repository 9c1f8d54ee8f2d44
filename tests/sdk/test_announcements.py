"""The SDK's announcements(): what a user has not dismissed, and dismiss_announcement(),
against a server of its own (its first account is the instance owner, who publishes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chatalot_sdk.errors import NotFound
from tests.sdk.conftest import running_server


async def test_announcements_and_dismissing_them(pg_admin_url: str, template_db: str,
                                                  tmp_path: Path) -> None:
    with running_server(pg_admin_url, template_db, tmp_path) as server:
        owner = await server.register("owner")
        alice = await server.register("alice")
        try:
            published = await owner.rest.call(
                "POST", "/admin/announcements", dict[str, Any],
                json={"title": "Maintenance", "body": "Down at 22:00"})
            mine = await alice.announcements(min_position=published["position"])
            assert [(str(a.id), a.title, a.created_by) for a in mine] == [
                (published["id"], "Maintenance", owner.user_id)]
            position = await alice.dismiss_announcement(mine[0].id)
            assert position is not None
            assert await alice.dismiss_announcement(mine[0].id) is None
            assert await alice.announcements(min_position=position) == []
            assert len(await owner.announcements(min_position=position)) == 1
            with pytest.raises(NotFound):
                await alice.dismiss_announcement("00000000-0000-7000-8000-000000000000")
        finally:
            await owner.close()
            await alice.close()
