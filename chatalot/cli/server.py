"""How `chatalot serve` runs uvicorn: which proxies it believes, how large a request head
may be, and its own error replies in the protocol's shape.

uvicorn answers some requests before the application sees them. What it lets us change:
the HTTP protocol class (so the 400 it sends for a malformed request, for a request head
still arriving past `limits.max_header_bytes`, or for an upgrade it cannot serve, is our
`{error, code}` body with the security headers) and the proxies it believes. What it does
not, and stays plain text without our headers: its 500 when an application raises before
starting a response (ours answers every exception itself), the WebSocket libraries' own
handshake refusals (a WebSocket upgrade to an unknown path), and the 503 of `limit_concurrency`
(not set here).

It also serves the ASGI `http.response.zerocopysend` extension (the file's bytes go from
the page cache to the socket with `sendfile`, never through Python): downloads use it
(chatalot/api/blobs.py).

Two protocols do all this: ours on uvicorn's httptools (chatalot/cli/server_httptools.py,
llhttp's C parser: less CPU per request), used whenever httptools is importable, and ours
on h11 below, the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
from typing import Any

import h11
import msgspec
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from chatalot.api.errors import ErrorBody
from chatalot.api.perimeter import header_values, uses_hsts
from chatalot.config import Settings

ZERO_COPY = "http.response.zerocopysend"


class _Span:
    """Stands for `count` bytes of a file in h11's framing (its data passthrough)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count


class ZeroCopySends:
    """What both HTTP protocols' request/response cycles add to uvicorn's (a mixin before
    uvicorn's cycle class): a reply of known length goes to the socket in one write, and
    `http.response.zerocopysend` (os.sendfile writes the file's bytes: by asyncio's
    loop.sendfile, or under uvloop, which has none, by our own loop over the socket; read
    and write through Python only where the transport has no socket). The protocol's cycle
    frames the file's bytes (`_send_file`)."""

    transport: Any
    flow: Any
    scope: Any
    disconnected: bool
    response_started: bool
    response_complete: bool
    _held: _Held | None = None

    async def send(self, message: Any) -> None:
        base: Any = super()
        kind = message["type"]
        if kind == "http.response.start" and _has_length(message):
            # a reply of known length: its head waits for its body, and both go to the
            # socket in one write (one send system call and one packet instead of two)
            real = self.transport
            hold = _Held(real)
            self.transport = hold
            try:
                await base.send(message)
            finally:
                self.transport = real
            self._held = hold
            return
        held, self._held = self._held, None
        if held is not None:
            if kind == ZERO_COPY:
                held.flush()  # the file's bytes follow the head on the socket itself
            else:
                self.transport = held
                try:
                    await base.send(message)
                finally:
                    self.transport = held.real
                    held.flush()
                return
        if kind != ZERO_COPY:
            await base.send(message)
            return
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started or self.response_complete:
            raise RuntimeError(f"unexpected ASGI message {ZERO_COPY!r}")
        count = message.get("count")
        file = message["file"]
        offset = int(message.get("offset") or 0)
        if count is None:
            count = await asyncio.to_thread(lambda: file.seek(0, 2) - offset)
        if self.scope["method"] != "HEAD" and count > 0:
            await self._send_file(file, offset, count)
            if self.disconnected:
                return
        if not message.get("more_body", False):
            await base.send({"type": "http.response.body",
                             "body": b"", "more_body": False})

    async def _send_file(self, file: Any, offset: int, count: int) -> None:
        """The file's bytes in the response's framing."""
        raise NotImplementedError

    async def _sendfile(self, file: Any, offset: int, count: int) -> None:
        try:
            try:
                await asyncio.get_running_loop().sendfile(self.transport, file, offset, count)
            except NotImplementedError:
                # uvloop's loop has no sendfile (and wrote nothing): the same, done here
                await self._sendfile_on_socket(file, offset, count)
        except (OSError, RuntimeError):
            # the peer went away (or the transport closed) mid-file: the response cannot
            # be completed on this connection
            self.disconnected = True
            with contextlib.suppress(Exception):
                self.transport.close()

    async def _sendfile_on_socket(self, file: Any, offset: int, count: int) -> None:
        """What asyncio's loop.sendfile does, for uvloop's loop: `os.sendfile` straight to
        the connection's (non-blocking) socket, waiting for room with the loop's
        `add_writer`, so the bytes never pass through Python and a slow reader holds no
        thread. It starts once the transport's own buffer (the response head) is empty,
        and nothing else writes to the connection until it ends. The waiting is done on a
        duplicate of the socket's descriptor: the loop refuses a watcher on a transport's
        own descriptor. Where the transport has no socket, the bytes are copied through
        Python."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            await self._copy(file, offset, count)
            return
        while self.transport.get_write_buffer_size() and not self.disconnected:
            if self.flow.write_paused:
                await self.flow.drain()
            else:
                await asyncio.sleep(0.001)
        if self.disconnected or self.transport.is_closing():
            raise ConnectionResetError("the connection closed before the file")
        loop = asyncio.get_running_loop()
        sock_fd = os.dup(sock.fileno())
        file_fd = file.fileno()
        try:
            while count > 0:
                try:
                    sent = os.sendfile(sock_fd, file_fd, offset, count)
                except BlockingIOError:
                    await _writable(loop, sock_fd)
                    if self.disconnected:
                        raise ConnectionResetError("the peer went away mid-file") from None
                    continue
                if sent == 0:  # the file shrank under us: the response cannot be completed
                    raise ShortFileError("the file ended before its announced length")
                offset += sent
                count -= sent
        finally:
            os.close(sock_fd)  # its watcher, if any, was removed in _writable

    async def _copy(self, file: Any, offset: int, count: int) -> None:
        """The file's bytes read in chunks and written with the transport's flow control."""
        fd = file.fileno()
        while count > 0 and not self.disconnected:
            chunk = await asyncio.to_thread(os.pread, fd, min(count, _COPY_CHUNK), offset)
            if not chunk:  # the file shrank under us: the response cannot be completed
                self.disconnected = True
                self.transport.close()
                return
            self.transport.write(chunk)
            offset += len(chunk)
            count -= len(chunk)
            if self.flow.write_paused and not self.disconnected:
                await self.flow.drain()


_COPY_CHUNK = 1 << 20


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """Until the socket behind `fd` has room (or an error to report on the next send)."""
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)  # before the descriptor is closed, always


def _has_length(message: Any) -> bool:
    return any(name.lower() == b"content-length" for name, _ in message.get("headers", ()))


class _Held:
    """A transport whose writes wait in a list until `flush` (which `close` does first);
    everything else is the real transport's."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        if data:
            self.data.append(data)

    def flush(self) -> None:
        if self.data:
            self.real.write(b"".join(self.data))
            self.data.clear()

    def close(self) -> None:
        self.flush()
        self.real.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class ShortFileError(OSError):
    """The file is shorter than the response announced (an OSError: the caller closes
    the connection, as for a peer that left)."""


class ZeroCopyCycle(ZeroCopySends, RequestResponseCycle):
    """uvicorn's h11 cycle with our sends: h11 accounts for the file's bytes
    (Content-Length or chunked) through a placeholder of their length."""

    async def _send_file(self, file: Any, offset: int, count: int) -> None:
        span = _Span(count)
        event = h11.Data(data=span)  # type: ignore[arg-type]
        for piece in self.conn.send_with_data_passthrough(event) or ():
            if piece is span:  # type: ignore[comparison-overlap]
                await self._sendfile(file, offset, count)
            else:
                self.transport.write(piece)


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with its 400 replies in the protocol's shape, and cycles
    that take `http.response.zerocopysend`."""

    hsts = False
    max_header_bytes = 16 * 1024

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle and type(self.cycle) is RequestResponseCycle:
            # a new request: its task has been created but has not run yet
            self.cycle.__class__ = ZeroCopyCycle
            self.cycle.scope.setdefault("extensions", {})[ZERO_COPY] = {}

    def send_400_response(self, msg: str) -> None:
        if msg.startswith("Invalid HTTP request"):
            msg = ("malformed HTTP request, or its request line and headers exceed"
                   f" {self.max_header_bytes} bytes")
        headers, body = bad_request(msg, hsts=self.hsts)
        self.transport.write(self.conn.send(
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request")))
        self.transport.write(self.conn.send(h11.Data(data=body)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


def bad_request(msg: str, *, hsts: bool) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The head's headers and the body of the protocols' own 400 (then the connection
    closes)."""
    body = msgspec.json.encode(ErrorBody(msg, "bad_request"))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *header_values("/api/", hsts=hsts),
    ]
    return headers, body


GC_THRESHOLDS = (10_000, 20, 100)
"""The collector's thresholds once serving (Python's are 700, 10, 10). A request leaves few
objects for the collector (refcounts free the rest), yet at the defaults a serving process
under 16 senders ran a young collection every 10 sends and a full one every 1,000 (the
frozen heap aside, what is left still fills a full collection: the log window, caches,
connections). At these, young collections come every ~500 sends and full ones almost
never: 4 % less server CPU a send (alternated, three pairs of two 6-s rounds)."""


class ChatalotServer(uvicorn.Server):
    """uvicorn's server, which once started (the application's start-up done, the socket
    listening) moves everything alive into the collector's permanent generation
    (`gc.freeze`). Python's full collections otherwise walk every module, class and
    function too: under `bench/ws.py` they stopped the event loop for 58-118 ms a few times
    a minute, every message then waiting behind them (a p99 of 65-120 ms where the rest
    of the phase took 15-20 ms). Then it collects less often (GC_THRESHOLDS). Only for
    `chatalot serve`: a test process that builds many apps must let them go."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)


def http_protocol(name: str | None = None) -> type[Any]:
    """Our protocol class on httptools (when importable, or when named) or on h11."""
    if name in (None, "httptools"):
        try:
            from chatalot.cli.server_httptools import JsonErrorHttpToolsProtocol
        except ImportError:
            if name is not None:
                raise
        else:
            return JsonErrorHttpToolsProtocol
    return JsonErrorH11Protocol


def server_config(settings: Settings, app: Any, *, log_level: str = "info",
                  http: str | None = None) -> uvicorn.Config:
    """X-Forwarded-For and -Proto are believed only from CHATALOT_TRUSTED_PROXIES (none by
    default: uvicorn's own default believes 127.0.0.1, so a local proxy that passes the
    client's header on would let every request pick its own rate bucket). Of the header's
    addresses, uvicorn takes the right-most one that is not a trusted proxy. The HTTP
    protocol is ours on httptools when it is installed (a C parser: less CPU per request),
    else ours on h11; `http` names one ("h11" or "httptools") instead."""
    trusted = settings.security.trusted_proxy_list
    protocol = type("ChatalotHttpProtocol", (http_protocol(http),), {
        "hsts": uses_hsts(settings), "max_header_bytes": settings.limits.max_header_bytes})
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        # The WebSocket protocol's own limits, enforced by the `websockets` implementation
        # under uvicorn: a frame over the limit is closed 1009; a ping every interval, and
        # a socket whose pong has not come by the next one (two missed) is dropped.
        ws="websockets-sansio",
        # our handlers (chatalot/logs.py: text or JSON, scrubbed) and our own request line
        # (api/correlation.py, with the correlation id); uvicorn's would log query strings
        log_config=None,
        access_log=False,
        ws_max_size=settings.limits.max_ws_frame_bytes,
        ws_ping_interval=float(settings.limits.ws_ping_interval_secs),
        ws_ping_timeout=float(settings.limits.ws_ping_interval_secs),
        # No permessage-deflate: it compresses every frame once per socket, which undoes
        # the gateway's encode-once fan-out (CPU per socket per event); chat frames are
        # small and E2E ciphertext does not compress anyway.
        ws_per_message_deflate=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted,
        server_header=False,
        http=protocol,
        h11_max_incomplete_event_size=settings.limits.max_header_bytes,
    )
