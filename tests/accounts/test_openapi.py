"""The OpenAPI document is the complete REST contract: every status a route can
answer is declared for it. Two walks: our own, which provokes each kind of answer on every
route, and a bounded schemathesis run over the whole document."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import uvicorn

from chatalot.bootstrap import create_app
from chatalot.cli.server import server_config
from chatalot.config import Limits, Settings
from tests.accounts.conftest import FrozenClock, make_settings, running_app

COMMANDS = {"post", "put", "patch", "delete"}
FAR_FUTURE = "999999999.1.1"


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in schema["paths"].items()
            for method, op in ops.items()]


def header(op: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((p for p in op.get("parameters", []) if p["in"] == "header"
                 and p["name"].lower() == name.lower()), None)


def fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def walk_settings(tmp_path: Path) -> Settings:
    # a short read-your-writes wait, so a position never reached answers 503 at once
    return make_settings(tmp_path, limits=Limits(
        rate_limit_general_per_sec=10_000, rate_limit_general_burst=10_000,
        rate_limit_auth_per_sec=10_000, rate_limit_auth_burst=10_000,
        read_your_writes_wait_ms=1))


async def test_every_status_a_route_can_answer_is_declared(
        tmp_path: Path, fast_database_url: str, clock: FrozenClock) -> None:
    """Failed before issue 18: a non-UUID path id answered 404 (undeclared: protocol says
    400), 413 and the 503 of Chatalot-Min-Position were possible and not declared, and the
    header had no pattern."""
    async with running_app(walk_settings(tmp_path), fast_database_url, clock) as api:
        owner = await api.register("owner")
        schema = (await api.client.get("/schema/openapi.json")).json()
        undeclared: list[str] = []
        missing: list[str] = []

        async def observe(method: str, path: str, why: str, **kwargs: Any) -> int:
            r = await api.client.request(method.upper(), path, **kwargs)
            declared = {int(code) for code in op["responses"]}
            if r.status_code not in declared:
                undeclared.append(f"{method.upper()} {path} ({why}): {r.status_code}"
                                  f" {r.text[:120]}")
            if r.status_code >= 400:  # every error in the protocol's shape
                assert set(r.json()) >= {"error", "code"}, (method, path, r.text)
            return r.status_code

        for method, path, op in operations(schema):
            if path.startswith("/schema"):
                continue
            declared = {int(code) for code in op["responses"]}
            url = fill(path, owner.id)
            has_body = "requestBody" in op
            body: dict[str, Any] = {"json": {}} if has_body else {}
            body["params"] = {p["name"]: "ab" for p in op.get("parameters", [])
                              if p["in"] == "query" and p.get("required")}
            # no token; a valid one with an empty body
            await observe(method, url, "no token", **body)
            await observe(method, url, "empty body", headers=owner.auth, **body)
            if "{" in path:
                status = await observe(method, fill(path, "not-a-uuid"), "malformed id",
                                       headers=owner.auth, **body)
                for _ in range(200):  # 503 projection_lag: the walk's last command is not
                    if status != 503:  # projected yet (a 1 ms wait); the id's 400 comes after
                        break
                    await asyncio.sleep(0.05)
                    status = await observe(method, fill(path, "not-a-uuid"), "malformed id",
                                           headers=owner.auth, **body)
                # a projector's name, a stream's id, an invite code and a webhook's token
                # are not UUIDs
                if "/projections/" not in path and "/streams/" not in path \
                        and "{code}" not in path and "{token}" not in path:
                    assert status == 400, (method, path, status)
            if has_body:
                status = await observe(method, url, "body too large", headers={
                    **owner.auth, "Content-Type": "application/json"},
                    content=b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}')
                assert status == 413, (method, path, status)
            position = header(op, "Chatalot-Min-Position")
            if position is not None:
                assert position["schema"].get("pattern"), (method, path)
                params = body["params"]
                # 503 where the route reads projections (prekeys/count reads decision state)
                lagged = await observe(method, url, "far position", params=params, headers={
                    **owner.auth, "Chatalot-Min-Position": FAR_FUTURE})
                assert lagged == (200 if path == "/api/keys/prekeys/count" else 503)
                assert await observe(method, url, "bad position", params=params, headers={
                    **owner.auth, "Chatalot-Min-Position": "yesterday"}) == 400
            # statuses no single request here provokes, by rule
            needed = {400, 429}
            if has_body:
                needed.add(413)
            if position is not None:
                needed.add(503)
            if method in COMMANDS:  # Idempotency-Key: in progress / used for another request
                needed |= {409, 422}
            if not needed <= declared and path != "/api/health":
                missing.append(f"{method.upper()} {path}: {sorted(needed - declared)}")
    assert not undeclared, "\n".join(undeclared)
    assert not missing, "\n".join(missing)


def test_the_openapi_document_is_stable_json(tmp_path: Path) -> None:
    """The document itself encodes (the ErrorBody defaults once broke plain json)."""

    @contextlib.asynccontextmanager
    async def nothing() -> Any:
        yield None

    app = create_app(walk_settings(tmp_path), "postgresql://unused", services_factory=nothing)
    encoded = msgspec.json.encode(app.openapi_schema.to_schema())
    assert b"Chatalot-Min-Position" in encoded


# -- schemathesis, bounded ------------------------------------------------------------------

EXAMPLES_PER_OPERATION = 4


@contextlib.contextmanager
def served(settings: Settings, database_url: str) -> Iterator[str]:
    """The app under uvicorn as `chatalot serve` configures it, on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = msgspec.structs.replace(settings, port=port)
    server = uvicorn.Server(server_config(settings, create_app(settings, database_url),
                                          log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_schemathesis_finds_no_undeclared_status_and_no_schema_violation(
        tmp_path: Path, fast_database_url: str) -> None:
    """A few generated requests per operation (valid and invalid data), as the owner: no
    5xx, every status declared, every body of the declared type and shape."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hypothesis_settings
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    from tests.accounts.conftest import PASSWORD, key_fields

    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    with served(walk_settings(tmp_path), fast_database_url) as base, \
            requests.Session() as http:
        r = http.post(f"{base}/api/auth/register", json={
            "username": "owner", "password": PASSWORD, **key_fields()}, timeout=30)
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        raw = http.get(f"{base}/schema/openapi.json", timeout=30).json()
        schema = schemathesis.openapi.from_dict(raw)
        ran = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path == "/api/account/delete":
                continue  # a lucky guess of the password would end the run's account
            strategy = (operation.as_strategy(GenerationMode.POSITIVE)
                        | operation.as_strategy(GenerationMode.NEGATIVE))

            @given(case=strategy)
            @hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
                                 database=None, phases=[Phase.generate],
                                 suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:
                nonlocal ran
                response = case.call(base_url=base, session=http, headers=auth, timeout=30)
                case.validate_response(response, checks=checks)
                # no server error, except the declared 503 of a position never reached
                if response.status_code >= 500:
                    assert response.status_code == 503, response.text
                    assert response.json()["code"] == "projection_lag", response.text
                ran += 1

            run()
        assert ran >= 100
