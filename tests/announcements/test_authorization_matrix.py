"""Every announcement route, called as anonymous, with a garbage token, as a suspended
user, as a member, as an instance admin and as the owner: the status each must get (each
call gets a valid body, so an authorized caller succeeds)."""

from __future__ import annotations

from typing import Any

from tests.accounts.conftest import Api, User
from tests.announcements.conftest import Cast, publish

ROLES = ("anonymous", "garbage_token", "suspended", "member", "admin", "owner")
USERS = {"anonymous": 401, "garbage_token": 401, "suspended": 401, "member": 200,
         "admin": 200, "owner": 200}
STAFF = {**USERS, "member": 403}
ROUTES: list[tuple[str, str, str, Any, dict[str, int]]] = [
    ("list mine", "GET", "/api/announcements", None, USERS),
    ("dismiss", "POST", "/api/announcements/{id}/dismiss", None, USERS),
    ("list all", "GET", "/api/admin/announcements", None, STAFF),
    ("publish", "POST", "/api/admin/announcements", {"title": "t", "body": "b"},
     {**STAFF, "admin": 201, "owner": 201}),
]


async def test_authorization_matrix(api: Api, cast: Cast) -> None:
    suspended = await api.register("suspended")
    r = await api.client.post(f"/api/admin/users/{suspended.id}/suspend",
                              headers=cast.owner.auth, json={"reason": "test"})
    assert r.status_code == 200, r.text
    announcement = await publish(api, cast.owner)
    headers: dict[str, dict[str, str]] = {
        "anonymous": {}, "garbage_token": {"Authorization": "Bearer garbage"},
        "suspended": suspended.auth, "member": cast.alice.auth, "admin": cast.admin.auth,
        "owner": cast.owner.auth}
    got: dict[tuple[str, str], int] = {}
    for name, method, path, body, _ in ROUTES:
        for role in ROLES:
            r = await api.client.request(method, path.format(id=announcement["id"]),
                                         headers=headers[role], json=body)
            got[(name, role)] = r.status_code
            if r.status_code >= 400:
                assert set(r.json()) >= {"error", "code"}, r.text
    wanted = {(name, role): expected[role] for name, _, _, _, expected in ROUTES
              for role in ROLES}
    assert got == wanted


async def test_a_member_refused_publishing_leaves_no_trace(api: Api, cast: Cast) -> None:
    member: User = cast.alice
    r = await api.client.post("/api/admin/announcements", headers=member.auth,
                              json={"title": "t", "body": "b"})
    assert r.status_code == 403
    assert await api.db.fetch("SELECT 1 FROM published_announcements") == []
    assert await api.db.fetch(
        "SELECT 1 FROM events WHERE type = 'AnnouncementPublished'") == []
