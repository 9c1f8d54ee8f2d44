from __future__ import annotations

from tests.accounts.conftest import Api


async def test_register_login_refresh(api: Api) -> None:
    owner = await api.register("Owner")
    r = await api.login(owner)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["user"]["is_owner"] is True
    assert data["user"]["username"] == "Owner" and data["user"]["id"] == owner.id
    assert data["access_token"] != owner.access and data["refresh_token"] != owner.refresh
    r = await api.client.post("/api/auth/refresh", json={"refresh_token": data["refresh_token"]})
    assert r.status_code == 200, r.text
    refreshed = r.json()
    assert set(refreshed) == {"access_token", "refresh_token", "position"}
    assert refreshed["refresh_token"] != data["refresh_token"]
    me = await api.client.get("/api/account/me", headers={
        "Authorization": f"Bearer {refreshed['access_token']}",
        "Chatalot-Min-Position": owner.position})
    assert (me.status_code, me.json()["id"]) == (200, owner.id), me.text
