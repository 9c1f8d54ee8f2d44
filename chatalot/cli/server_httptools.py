"""`chatalot serve` on uvicorn's httptools protocol (llhttp, a C parser): the same four
things as our h11 protocol (chatalot/cli/server.py), which stays the fallback where
httptools is not installed. It parses a request for less CPU than h11 (measured: about
13 % less server CPU per message send at 16 senders).

- A malformed request is answered with our `{error, code}` 400 and the security headers.
- A request head still arriving past `limits.max_header_bytes` is refused the same way
  (llhttp has no limit of its own); as with h11, a head over the cap that arrives whole in
  one read passes, and the app refuses it exactly (api/perimeter.py).
- The cycles take `http.response.zerocopysend`, and a reply of known length goes out in
  one socket write (server.ZeroCopySends).
"""

from __future__ import annotations

from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from chatalot.cli.server import ZERO_COPY, ZeroCopySends, bad_request


class HttpToolsZeroCopyCycle(ZeroCopySends, RequestResponseCycle):
    """uvicorn's httptools cycle with our sends; it frames the file's bytes itself."""

    chunked_encoding: bool | None
    expected_content_length: int

    async def _send_file(self, file: Any, offset: int, count: int) -> None:
        if self.chunked_encoding:
            self.transport.write(b"%x\r\n" % count)
            await self._sendfile(file, offset, count)
            if not self.disconnected:
                self.transport.write(b"\r\n")
            return
        if count > self.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        self.expected_content_length -= count
        await self._sendfile(file, offset, count)


class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with its 400 replies in the protocol's shape, a cap on
    a request head still arriving, and cycles that take `http.response.zerocopysend`.

    The cap counts what llhttp has been fed of a head still open after a read: of the read
    where the request began, the target and the headers it has handed over so far (a
    header still arriving is counted from the next read on), then every later read whole.
    Per request that costs one flag; the counting runs only while a head spans reads."""

    hsts = False
    max_header_bytes = 16 * 1024
    _head_open = False  # between a request's first byte and the end of its headers
    _head_began = False  # ... and it began in the read being parsed
    _head_bytes = 0

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        was_open = self._head_open
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self._refuse("malformed HTTP request")
            return
        finally:
            began, self._head_began = self._head_began, False
        if self._head_open:
            if was_open and not began:
                self._head_bytes += len(data)  # all of it is head
            else:  # the head began in this read: what the parser has handed over of it
                self._head_bytes = len(self.url) + sum(
                    len(name) + len(value) + 4 for name, value in self.headers)
            if self._head_bytes > self.max_header_bytes:
                self._refuse(
                    f"the request line and headers exceed {self.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {ZERO_COPY: {}}
        self._head_open = self._head_began = True

    def on_headers_complete(self) -> None:
        self._head_open = False
        if not any(name == b"host" for name, _ in self.headers) and \
                self.parser.get_http_version() == "1.1":
            # RFC 9112 3.2 (h11 refuses it too): the parser answers our 400
            raise ValueError("an HTTP/1.1 request without Host")
        cycle = self.cycle
        super().on_headers_complete()
        if self.cycle is not cycle and type(self.cycle) is RequestResponseCycle:
            # a new request: its task has been created (or queued) but has not run yet
            self.cycle.__class__ = HttpToolsZeroCopyCycle

    def send_400_response(self, msg: str) -> None:
        """uvicorn's name for it (it calls it on a malformed request)."""
        self._refuse("malformed HTTP request")

    def _refuse(self, msg: str) -> None:
        headers, body = bad_request(msg, hsts=self.hsts)
        head = [STATUS_LINE[400]]
        for name, value in headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"\r\n", body]
        self.transport.write(b"".join(head))
        self.transport.close()
