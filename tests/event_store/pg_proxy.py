"""A TCP proxy in front of PostgreSQL that can lose the reply to a write the server got.

It frames the wire protocol (client messages after the start-up packet, and every server
message) so that it can act on one statement: when a client sends an `INSERT INTO events`
or a `COMMIT` and the dice say so, the proxy forwards it, waits until the server has
answered it in full (ReadyForQuery), throws the answer away and closes both sides. The
client cannot know whether its write happened: an "unknown" outcome, the case a real network
produces and that retries with the same event ids must resolve.

It also records what clients ask of the server (`asks`), so that a test can count the
round trips of a read (`round_trips`).

Connections through it must use `sslmode=disable` and `gssencmode=disable` (see `conninfo`),
and no server-side prepared statements (`prepare_threshold=None`): the statement text must
travel in every Parse message.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

_TARGETS = (b"INSERT INTO events", b"COMMIT")
_REPLY_WAIT = 10.0  # at most this long for the server's answer to a dropped statement


class DroppingProxy:
    def __init__(self, upstream: str, *, drop_chance: float, seed: int) -> None:
        params = conninfo_to_dict(upstream)
        self._upstream = upstream
        self._host = str(params.get("host") or "127.0.0.1")
        self._port = int(params.get("port") or 5432)
        self._drop_chance = drop_chance
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self.port = 0
        self.dropped_inserts = 0
        self.dropped_commits = 0
        self.asks: list[bytes] = []
        """Kinds of the client's messages that send a statement (Parse, simple Query) or
        ask for answers (Sync, Flush), in order: `round_trips` counts from them."""

    @property
    def conninfo(self) -> str:
        return make_conninfo(
            self._upstream, host="127.0.0.1", port=self.port, sslmode="disable",
            gssencmode="disable",
        )

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._links):
            task.cancel()
        for task in list(self._links):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._host.startswith("/"):  # a Unix socket directory (the embedded server)
            return await asyncio.open_unix_connection(f"{self._host}/.s.PGSQL.{self._port}")
        return await asyncio.open_connection(self._host, self._port)

    async def _accept(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        swriter: asyncio.StreamWriter | None = None
        try:
            sreader, swriter = await self._open_upstream()
            link = _Link()
            up = asyncio.create_task(self._client_to_server(creader, swriter, link))
            down = asyncio.create_task(self._server_to_client(sreader, cwriter, link))
            done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            if up in done and link.dropping and not down.done():
                # the statement went out: wait for its whole answer, which nobody will get
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(down), _REPLY_WAIT)
            for task_ in (up, down):
                task_.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task_
        except (OSError, asyncio.CancelledError):
            pass  # a handler that ends by cancellation makes asyncio log an error
        finally:
            for writer in (cwriter, swriter):
                if writer is not None:
                    writer.close()
            self._links.discard(task)

    @staticmethod
    def _target(kind: bytes, body: bytes) -> bytes:
        """b"INSERT" or b"COMMIT" for the statements whose answer may be lost, else b""."""
        if kind == b"Q":
            query = body
        elif kind == b"P":  # Parse: statement name, then the query text
            query = body[body.index(b"\0") + 1:]
        else:
            return b""
        query = query.lstrip()
        return next((t.split()[0] for t in _TARGETS if query.startswith(t)), b"")

    async def _client_to_server(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        buf = bytearray()
        startup = True
        armed: bytes | None = None
        while True:
            data = await reader.read(65536)
            if not data:
                return
            buf += data
            out = bytearray()
            while True:
                if startup:  # untyped: length, protocol code, parameters
                    if len(buf) < 4:
                        break
                    size = int.from_bytes(buf[:4], "big")
                    kind = b""
                else:
                    if len(buf) < 5:
                        break
                    size = int.from_bytes(buf[1:5], "big") + 1
                    kind = bytes(buf[:1])
                if len(buf) < size:
                    break
                message = bytes(buf[:size])
                del buf[:size]
                out += message
                if startup:
                    startup = False
                    continue
                if kind in (b"P", b"Q", b"S", b"H"):
                    self.asks.append(kind)
                body = message[5:]
                target = self._target(kind, body)
                if armed is None and target and self._rng.random() < (
                        self._drop_chance * (2 if target == b"COMMIT" else 1)):
                    armed = target
                if armed is not None and kind in (b"S", b"Q"):
                    link.dropping = True  # before the server can answer
                    if armed == b"COMMIT":
                        self.dropped_commits += 1
                    else:
                        self.dropped_inserts += 1
                    writer.write(out)
                    await writer.drain()
                    return  # nothing more from this client reaches the server
            if out:
                writer.write(out)
                await writer.drain()

    async def _server_to_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        buf = bytearray()
        while True:
            data = await reader.read(65536)
            if not data:
                return
            buf += data
            out = bytearray()
            while len(buf) >= 5:
                size = int.from_bytes(buf[1:5], "big") + 1
                if len(buf) < size:
                    break
                kind = bytes(buf[:1])
                message = bytes(buf[:size])
                del buf[:size]
                if link.dropping:
                    if kind == b"Z":  # the server is done with the dropped statement
                        return
                    continue
                out += message
            if out:
                writer.write(out)
                await writer.drain()


def round_trips(asks: list[bytes]) -> int:
    """The times a client waited for the server in `asks` (DroppingProxy.asks): each
    Sync, Flush or simple Query asks for answers, except a Flush right after a Sync
    (psycopg collecting the Sync's answers in the same breath, as it leaves a pipeline)."""
    return sum(1 for i, kind in enumerate(asks) if kind in (b"S", b"Q") or (
        kind == b"H" and (i == 0 or asks[i - 1] != b"S")))


class _Link:
    def __init__(self) -> None:
        self.dropping = False


def proxy_pool_kwargs() -> dict[str, Any]:
    """Connection options for clients of the proxy (statement text in every Parse)."""
    return {"autocommit": True, "prepare_threshold": None}
