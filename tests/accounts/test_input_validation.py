"""Property: whatever a client sends to the routes of issue 4 (random bodies, fields of the
wrong type, huge or strange strings, random usernames and passwords, random ids and query
strings), the answer is a 2xx or a 4xx with a JSON `{"error", "code"}` body, never a 500."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.accounts.conftest import PASSWORD, Api, key_fields

CODES = {"bad_request", "unauthorized", "totp_required", "totp_invalid", "forbidden",
         "not_found", "conflict", "too_large", "limit_reached", "rate_limited",
         "projection_lag"}

scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(
    allow_nan=False, allow_infinity=False) | st.text(max_size=80)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=12), inner, max_size=4), max_leaves=12)
weird_text = st.one_of(
    st.text(max_size=300),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(["", " ", "\x00", "null", "💥" * 40, "a" * 5000, "../../etc/passwd",
                     "' OR 1=1 --", "%", "_", "\\", "Ω≈ç√", "\u202e"]),
)

BODY_ROUTES = [
    ("POST", "/api/auth/register"), ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"), ("POST", "/api/auth/recover"),
    ("PATCH", "/api/account/profile"), ("POST", "/api/account/change-password"),
    ("PUT", "/api/account/preferences"), ("POST", "/api/account/recovery-code"),
    ("DELETE", "/api/account/delete"),
    ("POST", "/api/totp/verify"), ("POST", "/api/totp/disable"),
    ("POST", "/api/totp/backup-codes/regenerate"),
    ("POST", "/api/users/block"), ("POST", "/api/reports"),
    ("POST", "/api/admin/invites"), ("POST", "/api/admin/reports/{id}/review"),
    ("POST", "/api/admin/users/{id}/suspend"), ("PUT", "/api/admin/users/{id}/admin"),
    ("PUT", "/api/admin/users/{id}/password"),
]
VALID: dict[str, dict[str, Any]] = {
    "/api/auth/register": {"username": "someone", "password": PASSWORD, **key_fields()},
    "/api/auth/login": {"username": "someone", "password": PASSWORD},
    "/api/auth/recover": {"username": "x", "recovery_code": "AAAA", "new_password": PASSWORD},
    "/api/account/profile": {"bio": "hello"},
    "/api/reports": {"report_type": "user", "target_id": "00000000-0000-7000-8000-000000000000",
                     "reason": "spam"},
    "/api/admin/invites": {"max_uses": 3, "expires_in_hours": 2},
}


def check(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body["error"], str) and body["code"] in CODES, body


_owner: dict[str, Any] = {}


async def owner_auth(api: Api) -> dict[str, str]:
    if "auth" not in _owner or _owner.get("api") is not api:
        owner = await api.register("owner")
        _owner.update(api=api, auth=owner.auth, id=owner.id)
    return _owner["auth"]


@given(route=st.sampled_from(BODY_ROUTES), body=json_values,
       field=st.text(max_size=20), value=json_values)
async def test_random_bodies_never_500(api: Api, route: tuple[str, str], body: Any, field: str,
                                       value: Any) -> None:
    auth = await owner_auth(api)
    method, path = route
    path = path.replace("{id}", str(_owner["id"]))
    for payload in (body, {**VALID.get(route[1], {}), field: value}):
        r = await api.client.request(method, path, json=payload, headers=auth)
        check(r)


@given(username=weird_text, password=weird_text, display=weird_text, email=weird_text)
async def test_random_credentials_never_500(api: Api, username: str, password: str,
                                            display: str, email: str) -> None:
    r = await api.client.post("/api/auth/register", json={
        "username": username, "password": password, "display_name": display, "email": email,
        **key_fields()})
    check(r)
    r = await api.client.post("/api/auth/login", json={"username": username,
                                                        "password": password})
    check(r)
    r = await api.client.post("/api/auth/login", json={"username": username,
                                                        "password": password,
                                                        "totp_code": display})
    check(r)


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)


@given(segment=weird_text, q=weird_text, cursor=weird_text, limit=weird_text,
       position=header_text, token=header_text)
async def test_random_paths_and_queries_never_500(api: Api, segment: str, q: str, cursor: str,
                                                  limit: str, position: str, token: str
                                                  ) -> None:
    auth = await owner_auth(api)
    from urllib.parse import quote

    seg = quote(segment, safe="")
    for method, path, params in [
        ("GET", f"/api/users/{seg}", None),
        ("POST", f"/api/users/unblock/{seg}", None),
        ("DELETE", f"/api/account/sessions/{seg}", None),
        ("DELETE", f"/api/admin/users/{seg}", None),
        ("DELETE", f"/api/admin/invites/{seg}", None),
        ("GET", "/api/users/search", {"q": q}),
        ("GET", "/api/admin/users", {"q": q, "cursor": cursor, "limit": limit}),
        ("GET", "/api/admin/reports", {"status": q, "cursor": cursor, "limit": limit}),
    ]:
        r = await api.client.request(method, path, params=params, headers=auth)
        check(r)
    r = await api.client.get("/api/account/me", headers={**auth,
                                                          "Chatalot-Min-Position": position})
    check(r)
    r = await api.client.get("/api/account/me", headers={"Authorization": f"Bearer {token}"})
    check(r)


async def test_malformed_json_is_400_on_every_route_with_a_body(api: Api) -> None:
    """Every route the OpenAPI schema gives a JSON body, fed bodies no decoder accepts: nested
    deeper than the decoder recurses (it raised RecursionError, a 500), cut short, not UTF-8."""
    auth = await owner_auth(api)
    paths = (await api.client.get("/schema/openapi.json")).json()["paths"]
    routes = [(method.upper(), path.replace("{", "").replace("}", "")) for path, ops in
              paths.items() for method, op in ops.items() if "requestBody" in op]
    assert len(routes) >= len(BODY_ROUTES)
    bodies = [b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000,
              b'{"username": "x", ', b'{"username": "\xff\xfe"}']
    for method, path in routes:
        for body in bodies:
            r = await api.client.request(method, path, content=body, headers={
                **auth, "Content-Type": "application/json"})
            check(r)
            # 400, or refused before the body is read: authorization, unknown id, size limit
            assert r.status_code in (400, 401, 403, 404, 413), (method, path, body[:12], r.text)


async def test_unknown_top_level_fields_are_refused_on_every_route_with_a_body(api: Api
                                                                               ) -> None:
    """docs/accounts.md: a typo is a 400, not a silent no-op. PUT /api/account/preferences
    accepted `{"preferences": {...}, "anything": 1}` with 200 (issue 18)."""
    auth = await owner_auth(api)
    schema = (await api.client.get("/schema/openapi.json")).json()
    routes = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref")
            if ref:  # an object body (the prekey batch is an array)
                # every path parameter a valid UUID (an invite code may be any string)
                routes.append((method.upper(), re.sub(r"\{[a-z_]+\}", str(_owner["id"]),
                                                      path)))
    assert ("PUT", "/api/account/preferences") in routes
    for method, path in routes:
        r = await api.client.request(method, path, json={"zz_unknown": 1}, headers=auth)
        assert r.status_code == 400, (method, path, r.text)
        assert "unknown field" in r.json()["error"], (method, path, r.text)
    r = await api.client.put("/api/account/preferences", headers=auth,
                             json={"preferences": {"theme": "dark"}, "theme": "dark"})
    assert r.status_code == 400 and "unknown field `theme`" in r.json()["error"], r.text
