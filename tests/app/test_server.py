"""uvicorn as `chatalot serve` configures it: its own error replies in the protocol's shape,
and the cap on a request's head."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from chatalot.cli.server import GC_THRESHOLDS, server_config
from chatalot.config import Limits, Settings


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass  # the body read, whatever its size
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture(scope="module", params=["h11", "httptools"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    """Under both of our HTTP protocols (httptools when installed, else h11)."""
    if request.param == "httptools":
        pytest.importorskip("httptools")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    settings = Settings(port=free, public_url="https://chat.example",
                        limits=Limits(max_header_bytes=8192))
    server = uvicorn.Server(server_config(settings, hello, log_level="critical",
                                          http=request.param))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield free
    server.should_exit = True
    thread.join(timeout=10)


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            conn.sendall(request)  # the server may answer and close before reading it all
        reply = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := conn.recv(65536):
                reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def assert_our_error(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" in headers
    assert json.loads(body)["code"] == "bad_request"


def test_a_malformed_request_line_is_answered_in_the_protocols_shape(port: int) -> None:
    """Failed with uvicorn's plain-text 'Invalid HTTP request received.' (issue 18)."""
    assert_our_error(*exchange(port, b"GET /\x01 nonsense\r\n\r\n"))
    assert_our_error(*exchange(port, b"NOT HTTP AT ALL\r\n\r\n"))
    assert_our_error(*exchange(port, b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"))
    assert_our_error(*exchange(port, b"GET / HTTP/1.1\r\nX-A: \x00\r\n\r\n"))
    # HTTP/1.1 requires Host (RFC 9112 3.2): both protocols refuse a request without it
    assert_our_error(*exchange(port, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"))


def test_request_heads_are_capped_by_our_setting(port: int) -> None:
    """An 8 KiB cap here (uvicorn's default is 16 KiB): a 1 MiB header is refused in our
    shape, a 4 KiB one is served. (h11 bounds only a head still arriving, so a head a bit
    over the cap that arrives in one read passes uvicorn; the app refuses it:
    tests/accounts/test_perimeter.py.)"""
    small = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 4096 + b"\r\nConnection: close\r\n\r\n"
    status, _, body = exchange(port, small)
    assert (status, body) == (200, b"hello")
    huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    status, headers, body = exchange(port, huge)
    assert_our_error(status, headers, body)
    assert "8192 bytes" in json.loads(body)["error"]


FREEZE_PROBE = """
import gc, socket, sys, threading, time
from chatalot.cli.server import ChatalotServer, server_config
from chatalot.config import Settings
from tests.app.test_server import hello
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    free = s.getsockname()[1]
settings = Settings(port=free, public_url="https://chat.example")
server = ChatalotServer(server_config(settings, hello, log_level="critical"))
before = gc.get_freeze_count()
thread = threading.Thread(target=server.run, daemon=True)
thread.start()
deadline = time.monotonic() + 20
while not server.started and time.monotonic() < deadline:
    time.sleep(0.02)
deadline = time.monotonic() + 5  # `started` is set just before the freeze
while not gc.get_freeze_count() and time.monotonic() < deadline:
    time.sleep(0.02)
print(server.started, before, gc.get_freeze_count(), *gc.get_threshold())
server.should_exit = True
thread.join(timeout=10)
"""


def test_the_server_freezes_what_its_start_up_left_alive_and_collects_less_often() -> None:
    """`chatalot serve`'s heap after start-up goes to the collector's permanent generation
    (its full collections paused the event loop for up to 118 ms): checked in a process of
    its own, since freezing is for the whole process."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", FREEZE_PROBE], cwd=root, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    started, before, after = out[0] == "True", int(out[1]), int(out[2])
    assert started and before == 0
    assert after > 10_000  # modules, classes, functions: all of them, not a few
    assert tuple(int(n) for n in out[3:]) == GC_THRESHOLDS  # and collects less often


def test_a_head_under_the_cap_in_many_small_reads_is_served(port: int) -> None:
    """The cap counts a head still arriving, never more than it: 6 KiB of head in 100-byte
    writes (the server reads them one by one) under an 8 KiB cap."""
    head = (b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 6000
            + b"\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(head), 100):
            conn.sendall(head[i:i + 100])
            time.sleep(0.001)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hello")


def test_a_large_body_does_not_count_towards_the_next_requests_head(port: int) -> None:
    """Two requests in one write: a 200 KiB body, then the next request's head; both are
    served (the body's bytes are not the next head's)."""
    body = b"b" * (200 * 1024)
    first = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    second = (b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 4000
              + b"\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(first + second)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    assert reply.count(b"HTTP/1.1 200") == 2 and reply.endswith(b"hello"), reply[:300]



def test_without_httptools_the_h11_protocol_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    """httptools is preferred when importable; where it is not, ours on h11 is used."""
    from chatalot.cli.server import JsonErrorH11Protocol

    monkeypatch.setitem(sys.modules, "httptools", None)
    monkeypatch.setitem(sys.modules, "chatalot.cli.server_httptools", None)
    config = server_config(Settings(), hello)
    assert issubclass(config.http, JsonErrorH11Protocol)
    with pytest.raises(ImportError):
        server_config(Settings(), hello, http="httptools")
