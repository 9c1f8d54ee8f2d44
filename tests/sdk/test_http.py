"""The REST transport's retry rules, against a scripted transport (the server's 429 path
is rate-limited per IP and per account, too slow to provoke for real in a unit test):
back-off as Retry-After says with the same Idempotency-Key, then a typed error."""

from __future__ import annotations

import httpx
import pytest

from chatalot_sdk.errors import RateLimited
from chatalot_sdk.http import Rest
from chatalot_sdk.models import Position


def scripted(*replies: httpx.Response) -> tuple[Rest, list[httpx.Request], list[float]]:
    seen: list[httpx.Request] = []
    queue = list(replies)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    rest = Rest("http://chat.example", transport=httpx.MockTransport(handle))
    slept: list[float] = []

    async def sleep(secs: float) -> None:
        slept.append(secs)

    rest.sleep = sleep
    return rest, seen, slept


def limited(retry_after: str) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": retry_after},
                          json={"error": "slow down", "code": "rate_limited"})


async def test_a_command_backs_off_and_keeps_its_idempotency_key() -> None:
    rest, seen, slept = scripted(limited("2"), limited("1"),
                                 httpx.Response(200, json={"position": "p1"}))
    reply = await rest.call("POST", "/things", Position, json={"a": 1})
    assert reply.position == "p1"
    assert slept == [2.0, 1.0]
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(seen) == 3 and len(keys) == 1


async def test_still_limited_after_the_attempts_is_a_typed_error() -> None:
    rest, seen, slept = scripted(*[limited("1")] * 5)
    with pytest.raises(RateLimited) as err:
        await rest.call("GET", "/things", Position)
    assert err.value.code == "rate_limited" and err.value.retry_after_secs == 1.0
    assert len(seen) == 5 and slept == [1.0] * 4
    assert "Idempotency-Key" not in seen[0].headers  # a query is not a command
