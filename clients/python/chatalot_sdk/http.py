"""The REST transport: bearer tokens refreshed transparently, typed errors, back-off on
429 (and 503) as the server's Retry-After says, one Idempotency-Key per command so that
its retries have their effect once (protocol.md, Our changes 2)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import msgspec

from chatalot_sdk import errors
from chatalot_sdk.keystore import Tokens
from chatalot_sdk.models import TokenReply

T = TypeVar("T")

COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRIED_STATUSES = frozenset({429, 503})


class Rest:
    """One account's HTTP session with a server. `on_tokens` is told every new pair (to
    keep them across runs); a refresh that fails leaves `Unauthorized` to the caller."""

    def __init__(self, base_url: str, *, tokens: Tokens | None = None,
                 on_tokens: Callable[[Tokens], Awaitable[None]] | None = None,
                 max_attempts: int = 5, max_wait_secs: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.on_tokens = on_tokens
        self.max_attempts = max_attempts
        self.max_wait_secs = max_wait_secs
        self._http = httpx.AsyncClient(base_url=self.base_url + "/api", timeout=30.0,
                                       transport=transport)
        self._refreshing = asyncio.Lock()
        self.last_position: str | None = None
        """The position of my newest command: my queries wait for it (read-your-writes)."""
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def close(self) -> None:
        await self._http.aclose()

    async def set_tokens(self, tokens: Tokens) -> None:
        self.tokens = tokens
        if self.on_tokens is not None:
            await self.on_tokens(tokens)

    async def call(self, method: str, path: str, type: type[T], *, json: Any = None,
                   params: dict[str, Any] | None = None, auth: bool = True,
                   min_position: str | None = None) -> T:
        """One API call, decoded into `type`; raises an errors.ApiError subclass."""
        response = await self.send(method, path, json=json, params=params, auth=auth,
                                   min_position=min_position)
        return msgspec.json.decode(response.content, type=type)

    async def send(self, method: str, path: str, *, json: Any = None,
                   params: dict[str, Any] | None = None, auth: bool = True,
                   min_position: str | None = None) -> httpx.Response:
        headers: dict[str, str] = {}
        if method in COMMAND_METHODS:
            headers["Idempotency-Key"] = str(uuid.uuid4())  # the same on every retry
        if method not in COMMAND_METHODS:
            min_position = min_position or self.last_position
        if min_position is not None:
            headers["Chatalot-Min-Position"] = min_position
        content = None if json is None else msgspec.json.encode(json)
        if content is not None:
            headers["Content-Type"] = "application/json"
        refreshed = False
        waited = 0.0
        for attempt in range(1, self.max_attempts + 1):
            sent_with = self.tokens.access if self.tokens else None
            if auth and sent_with:
                headers["Authorization"] = f"Bearer {sent_with}"
            response = await self._http.request(method, path, content=content,
                                                params=params, headers=headers)
            if response.status_code < 400:
                if method in COMMAND_METHODS:
                    self._saw(response)
                return response
            error = _error_of(response)
            if (response.status_code == 401 and auth and not refreshed
                    and error.code == "unauthorized" and self.tokens is not None):
                refreshed = True
                await self.refresh(sent_with)
                continue
            delay = error.retry_after_secs
            if (response.status_code in RETRIED_STATUSES and attempt < self.max_attempts
                    and waited < self.max_wait_secs):
                delay = min(delay if delay is not None else 2.0 ** (attempt - 1),
                            self.max_wait_secs - waited)
                waited += delay
                await self.sleep(delay)
                continue
            raise error
        raise errors.ApiError(0, "internal", "no attempt was made")  # pragma: no cover

    def _saw(self, response: httpx.Response) -> None:
        try:
            position = msgspec.json.decode(response.content, type=_Positioned).position
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        if position:
            self.last_position = position

    async def refresh(self, stale_access: str | None = None) -> None:
        """Trade the refresh token for a new pair, once for concurrent callers: one that
        waited finds the pair already renewed. A refused refresh is Unauthorized."""
        stale_access = stale_access or (self.tokens.access if self.tokens else None)
        async with self._refreshing:
            tokens = self.tokens
            if tokens is None or tokens.access != stale_access:
                return
            response = await self._http.post(
                "/auth/refresh", content=msgspec.json.encode({"refresh_token": tokens.refresh}),
                headers={"Content-Type": "application/json"})
            if response.status_code >= 400:
                raise _error_of(response)
            reply = msgspec.json.decode(response.content, type=TokenReply)
            await self.set_tokens(Tokens(access=reply.access_token,
                                         refresh=reply.refresh_token))


class _Positioned(msgspec.Struct):
    position: str | None = None


class _ErrorBody(msgspec.Struct):
    error: str = ""
    code: str = "internal"
    retry_after_secs: float | None = None


def _error_of(response: httpx.Response) -> errors.ApiError:
    try:
        body = msgspec.json.decode(response.content, type=_ErrorBody)
    except msgspec.DecodeError:
        body = _ErrorBody(error=response.text[:200] or response.reason_phrase)
    retry_after = body.retry_after_secs
    header = response.headers.get("Retry-After")
    if header is not None:
        with contextlib.suppress(ValueError):
            retry_after = float(header)
    return errors.api_error(response.status_code, body.code, body.error, retry_after)
