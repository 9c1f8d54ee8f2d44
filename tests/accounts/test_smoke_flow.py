from __future__ import annotations

from tests.accounts.conftest import Api


async def test_register_login_refresh(api: Api) -> None:
    owner = await api.register("Owner")
    r = await api.login(owner)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["user"]["is_owner"] is True
    r = await api.client.post("/api/auth/refresh", json={"refresh_token": data["refresh_token"]})
    assert r.status_code == 200, r.text
