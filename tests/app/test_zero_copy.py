"""uvicorn as `chatalot serve` configures it takes the ASGI `http.response.zerocopysend`
extension: the file's bytes go out with sendfile, framed by h11 (Content-Length or chunked),
on keep-alive connections, and a HEAD sends none."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from chatalot.cli.server import ZERO_COPY, server_config
from chatalot.config import Settings

SIZE = 12 * 1024 * 1024 + 17  # more than a loopback socket buffer takes at once
DATA = os.urandom(SIZE)
sendfile_calls: list[int] = []


def app_for(path: Path) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        assert ZERO_COPY in scope["extensions"]
        query = dict(p.split("=") for p in scope["query_string"].decode().split("&") if p)
        offset, count = int(query.get("offset", 0)), int(query.get("count", SIZE))
        headers = [] if "chunked" in query else [(b"content-length", str(count).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with open(path, "rb") as handle:  # noqa: ASYNC230 - a test app
            await send({"type": ZERO_COPY, "file": handle, "offset": offset, "count": count,
                        "more_body": "more" in query})
        if "more" in query:
            await send({"type": "http.response.body", "body": b"!", "more_body": False})
    return app


@pytest.fixture(scope="module", params=["asyncio", "uvloop"])
def loop_name(request: pytest.FixtureRequest) -> str:
    """asyncio's loop sends by its sendfile; uvloop's (what `chatalot serve` runs when it
    is installed) has none, and ZeroCopyCycle calls os.sendfile on the socket itself."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    return str(request.param)


@pytest.fixture(scope="module", params=["h11", "httptools"])
def http_name(request: pytest.FixtureRequest) -> str:
    """Both of our HTTP protocols: each frames the file's bytes its own way."""
    if request.param == "httptools":
        pytest.importorskip("httptools")
    return str(request.param)


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory, loop_name: str,
         http_name: str) -> Iterator[int]:
    path = tmp_path_factory.mktemp("zero") / "blob"
    path.write_bytes(DATA)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    config = server_config(Settings(port=free), app_for(path), log_level="critical",
                           http=http_name)
    config.loop = loop_name  # type: ignore[assignment]
    server = uvicorn.Server(config)
    real = os.sendfile

    def counting(*args: Any) -> int:
        sent = real(*args)
        sendfile_calls.append(sent)
        return sent

    os.sendfile = counting  # type: ignore[assignment]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield free
    server.should_exit = True
    thread.join(timeout=10)
    os.sendfile = real


def received(conn: socket.socket, size: int) -> bytes:
    """What came, or a failure when the server closed the connection (never a spin)."""
    data = conn.recv(size)
    assert data, "the server closed the connection mid-reply"
    return data


def read_reply(conn: socket.socket) -> tuple[dict[str, str], bytes]:
    """One reply off a keep-alive connection (Content-Length or chunked)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += received(conn, 65536)
    head, _, buffer = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    if "content-length" in headers:
        while len(buffer) < int(headers["content-length"]):
            buffer += received(conn, 1 << 20)
        return headers, buffer
    while not buffer.endswith(b"0\r\n\r\n"):
        buffer += received(conn, 1 << 20)
    body, rest = b"", buffer
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return headers, body
        body, rest = body + rest[:size], rest[size + 2:]


def test_whole_ranges_and_keep_alive(port: int, loop_name: str) -> None:
    sendfile_calls.clear()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        for query, expected in [("", DATA), ("offset=5&count=100", DATA[5:105]),
                                (f"offset={SIZE - 1}&count=1", DATA[-1:]),
                                ("offset=10&count=2000000&more=1", DATA[10:2000010] + b"!")]:
            if "more" in query:
                query += "&chunked=1"
            conn.sendall(f"GET /?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            _, body = read_reply(conn)
            assert body == expected, query
    # the bytes went by sendfile under both loops, never through Python
    assert sum(sendfile_calls) == SIZE + 100 + 1 + 2_000_000


def test_head_sends_no_bytes(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.sendall(b"GET /?offset=1&count=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        buffer = b""
        while not buffer.endswith(DATA[1:4]):
            buffer += received(conn, 65536)
    first, second = buffer.split(b"HTTP/1.1 200", 2)[1:]
    assert f"content-length: {SIZE}".encode() in first and first.endswith(b"\r\n\r\n")
    assert second.endswith(b"\r\n\r\n" + DATA[1:4])


def test_a_client_that_leaves_mid_file_does_not_stop_the_server(port: int) -> None:
    for _ in range(3):
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.recv(1000)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()  # a reset, with most of the file unsent
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET /?offset=7&count=9 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_reply(conn)[1] == DATA[7:16]


def test_a_slow_reader_gets_every_byte_and_holds_nothing_up(port: int) -> None:
    """The socket fills long before the file ends: sending waits for room (the loop's
    writer watch), other connections are served meanwhile, and the bytes arrive intact."""
    sendfile_calls.clear()
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # before the handshake
    slow.settimeout(10)
    slow.connect(("127.0.0.1", port))
    slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    first = received(slow, 1000)
    time.sleep(0.3)  # stalled: the server's send is waiting for room
    with socket.create_connection(("127.0.0.1", port), timeout=10) as other:
        other.sendall(b"GET /?offset=3&count=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_reply(other)[1] == DATA[3:8]
    buffer = first
    while b"\r\n\r\n" not in buffer:
        buffer += received(slow, 65536)
    body = bytearray(buffer.partition(b"\r\n\r\n")[2])
    while len(body) < SIZE:
        body += received(slow, 65536)
    slow.close()
    assert bytes(body) == DATA
    assert len(sendfile_calls) > 2  # it did wait for room, more than once
