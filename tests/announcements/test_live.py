"""A publication through HTTP reaches every live socket as the `announcement` frame
(protocol.md), with what the publish answered, against a real `chatalot serve` process;
a dismissal reaches no socket; a resume from before the publication replays it."""

from __future__ import annotations

import contextlib

import httpx

from tests.gateway.conftest import (  # noqa: F401 - fixtures
    Cluster,
    Node,
    cluster,
    default_node,
    node,
    register,
    socket_of,
)


async def test_a_publication_is_seen_live(cluster: Cluster, node: Node) -> None:  # noqa: F811
    owner = cluster.owner
    assert owner is not None
    alice, bob = await register(node), await register(node)
    async with socket_of(node, alice) as a, socket_of(node, bob) as b, \
            httpx.AsyncClient(base_url=node.http, timeout=30) as http:
        start = b.position  # type: ignore[attr-defined]
        r = await http.post("/api/admin/announcements", headers=owner.auth,
                            json={"title": "Maintenance", "body": "Down at 22:00"})
        assert r.status_code == 201, r.text
        published = r.json()
        for c in (a, b):
            got = await c.expect("announcement", id=published["id"])
            assert {k: got[k] for k in published} == published
        r = await http.post(f"/api/announcements/{published['id']}/dismiss",
                            headers=alice.auth)
        assert r.status_code == 200 and r.json()["position"], r.text
        with contextlib.suppress(TimeoutError):
            while True:
                await a.recv(1)
        assert not [f for f in a.frames if "dismiss" in str(f.get("type"))]
        r = await http.get("/api/announcements", headers={
            **alice.auth, "Chatalot-Min-Position": r.json()["position"]})
        assert r.status_code == 200 and r.json() == [], r.text
    async with socket_of(node, bob, resume_after=start) as b:
        await b.expect("resumed")
        assert [f["id"] for f in b.frames if f["type"] == "announcement"] == [published["id"]]
