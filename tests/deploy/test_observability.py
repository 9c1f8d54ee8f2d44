"""Metrics, correlation ids and structured logs (issue 12, items 3 and 4)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatalot.config import Limits
from chatalot.logs import ContextFilter, JsonFormatter, TextFormatter, scrub
from tests.accounts.conftest import PASSWORD, FrozenClock, make_settings, running_app

TOKEN = "metrics-token-for-tests-0123456789"


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (the sum when labels match several)."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total, found = total + float(value), True
    assert found, f"no sample {name} {labels}"
    return total


async def test_metrics_need_their_token_and_show_the_figures(tmp_path: Path,
                                                             database_url: str) -> None:
    limits = Limits(rate_limit_general_per_sec=10_000, rate_limit_general_burst=10_000,
                    rate_limit_auth_per_sec=1, rate_limit_auth_burst=3)
    settings = make_settings(tmp_path, metrics_token=TOKEN, limits=limits)
    async with running_app(settings, database_url, FrozenClock()) as api:
        user = await api.register()
        r = await api.client.get(f"/api/users/{user.id}", headers={
            **user.auth, "Chatalot-Min-Position": user.position})
        assert r.status_code == 200, r.text
        for _ in range(4):  # the auth bucket holds 3
            r = await api.client.post("/api/auth/login", json={"username": "x", "password": "y"})
        assert r.status_code == 429
        assert (await api.client.get("/metrics")).status_code == 401
        wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        r = await api.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        text = r.text
    # per route template, never the raw path (a series per user id would explode)
    assert metric(text, "chatalot_requests_total", path="/api/users/{user_id}",
                  method="GET", status_code="200") >= 1
    assert user.id not in text
    assert metric(text, "chatalot_request_duration_seconds_count",
                  path="/api/auth/register") >= 1
    assert metric(text, "chatalot_rate_limited_total", bucket="auth") >= 1
    assert metric(text, "chatalot_events_appended_total") >= 1
    assert metric(text, "chatalot_event_append_seconds_count") >= 1
    assert metric(text, "chatalot_commands_total", command="register", outcome="ok") >= 1
    assert metric(text, "chatalot_projection_lag_events", projector="users") >= 0
    assert metric(text, "chatalot_projection_lag_seconds", projector="users") >= 0
    assert metric(text, "chatalot_projection_position", projector="users") >= 1
    assert metric(text, "chatalot_projection_failures_total", projector="users") == 0
    assert metric(text, "chatalot_projection_failed", projector="users") == 0
    assert metric(text, "chatalot_db_pool_connections", state="open") >= 1
    assert metric(text, "chatalot_db_pool_max") >= 1


async def test_without_a_token_there_are_no_metrics(tmp_path: Path, database_url: str) -> None:
    async with running_app(make_settings(tmp_path), database_url, FrozenClock()) as api:
        r = await api.client.get("/metrics", headers={"Authorization": "Bearer anything"})
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every log line of every logger, at DEBUG, as CHATALOT_LOG_FORMAT=json writes it."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect(logging.DEBUG)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


async def test_one_correlation_id_from_the_request_to_its_events_and_log_lines(
        tmp_path: Path, database_url: str, log_lines: list[str]) -> None:
    async with running_app(make_settings(tmp_path), database_url, FrozenClock()) as api:
        user = await api.register()
        r = await api.client.patch("/api/account/profile", json={"bio": "hello"},
                                   headers={**user.auth, "X-Request-Id": "req-abc-123"})
        assert r.status_code == 200, r.text
        assert r.headers["x-request-id"] == "req-abc-123"
        events = await api.events(f"user-{user.id}")
        assert events[-1].metadata.correlation_id == "req-abc-123"
        # none given, or one that would not be safe in a log line: a fresh one
        for given in (None, "has space", "x" * 101, "quote\"d"):
            headers = {**user.auth, **({"X-Request-Id": given} if given else {})}
            r = await api.client.patch("/api/account/profile", json={"bio": "again"},
                                       headers=headers)
            assert r.status_code == 200, r.text
            generated = r.headers["x-request-id"]
            assert re.fullmatch(r"[0-9a-f-]{36}", generated)
            assert (await api.events(f"user-{user.id}"))[-1].metadata.correlation_id == generated
    entries = [json.loads(line) for line in log_lines]  # every line is one JSON object
    mine = [e for e in entries if e.get("correlation_id") == "req-abc-123"]
    assert {e["message"] for e in mine} >= {"request", "command"}
    command = next(e for e in mine if e["message"] == "command")
    assert command["command"] == "update_profile" and command["outcome"] == "ok"
    assert command["position"] == r.json().get("position") or command["position"]
    request = next(e for e in mine if e["message"] == "request")
    assert request["route"] == "/api/account/profile" and request["status"] == 200


async def test_no_secret_reaches_a_log_line(tmp_path: Path, database_url: str,
                                            log_lines: list[str]) -> None:
    async with running_app(make_settings(tmp_path), database_url, FrozenClock()) as api:
        user = await api.register()
        logged_in = await api.login(user)
        assert logged_in.status_code == 200
        refreshed = await api.client.post("/api/auth/refresh", json={
            "refresh_token": logged_in.json()["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        new_password = "a different, longer passphrase 42"
        r = await api.client.post("/api/account/change-password", headers=user.auth, json={
            "current_password": PASSWORD, "new_password": new_password})
        assert r.status_code == 200, r.text
        wrong = await api.client.post("/api/auth/login", json={
            "username": user.username, "password": "wrong " + PASSWORD})
        assert wrong.status_code == 401
        secrets = [PASSWORD, new_password, user.access, user.refresh, user.recovery_code,
                   logged_in.json()["access_token"], logged_in.json()["refresh_token"],
                   refreshed.json()["access_token"], refreshed.json()["refresh_token"],
                   api.settings.security.totp_encryption_key or "unset"]
    assert len(log_lines) > 10
    text = "\n".join(log_lines)
    for secret in secrets:
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text


@pytest.mark.parametrize(("line", "secret"), [
    ("connecting to postgresql://chatalot:pa55word@db:5432/chatalot", "pa55word"),
    ("conninfo host=db user=x password=pa55word dbname=y", "pa55word"),
    ("headers: {'authorization': 'Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2ln'}",
     "eyJhbGciOiJFZERTQSJ9"),
    ('body {"username": "bob", "password": "hunter2 hunter2"}', "hunter2"),
    ("token=abcdef0123456789&x=1", "abcdef0123456789"),
    ("key -----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA\n-----END PRIVATE KEY-----",
     "MC4CAQAwBQYDK2VwBCIEIA"),
])
def test_the_formatters_scrub_what_looks_like_a_secret(line: str, secret: str) -> None:
    assert secret not in scrub(line)
    record = logging.LogRecord("lib", logging.WARNING, __file__, 1, "%s", (line,), None)
    for formatter in (JsonFormatter(), TextFormatter()):
        assert secret not in formatter.format(record)
    ordinary = "command update_profile ok at 1.2.3 in 4 ms"
    assert scrub(ordinary) == ordinary


def test_text_lines_carry_the_correlation_id() -> None:
    record: Any = logging.LogRecord("x", logging.INFO, __file__, 1, "request", (), None)
    record.correlation_id = "cid-1"
    record.fields = {"status": 200}
    assert TextFormatter().format(record).endswith("request status=200 [cid-1]")


async def test_a_browser_may_read_the_request_id(tmp_path: Path, database_url: str) -> None:
    from chatalot.config import Security

    security = Security(argon2_memory_kib=64, argon2_time_cost=1, argon2_parallelism=1,
                        cors_origins="https://app.example")
    settings = make_settings(tmp_path, security=security)
    async with running_app(settings, database_url, FrozenClock()) as api:
        r = await api.client.get("/api/health", headers={"Origin": "https://app.example"})
        assert r.headers["x-request-id"]
        exposed = r.headers["access-control-expose-headers"].lower()
        assert "x-request-id" in exposed
