"""Logging: human lines by default, one JSON object per line with CHATALOT_LOG_FORMAT=json.

Every line logged while a request or command runs carries its correlation id (the
request's X-Request-Id, also returned in the reply and stored in the metadata of the events
it appends), so an operator can go from a log line to the events and back. Every line is
scrubbed of what looks like a secret (bearer tokens, JWTs, passwords in URLs and
connection strings, `password=`/`token=` pairs, PEM keys) before it is written: the code
never logs one on purpose, and this catches what a library or a traceback might.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
from typing import Any

import msgspec

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "chatalot_correlation_id", default=None)

_KEYS = (r"(?:new_|current_|old_)?password|passwd|secret|token|refresh_token|access_token"
         r"|api_key|private_key|totp_code|recovery_code|backup_code")
_SCRUB = [
    (re.compile(r"-----BEGIN [A-Z ]+-----.*?(-----END [A-Z ]+-----|$)", re.S), "[redacted-pem]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"\b([a-z][a-z0-9+.-]*://[^:/\s@'\"]*:)[^@\s'\"]+@"), r"\1[redacted]@"),
    # "password": "two words" (quoted, up to the closing quote), then password=value
    (re.compile(rf"(?i)\b({_KEYS})([\"']?\s*[:=]\s*)([\"'])(?:\\.|(?!\3).)*\3"),
     r"\1\2\3[redacted]\3"),
    # unquoted: up to the next space or quote (eating a following `&x=1` is harmless)
    (re.compile(rf"(?i)\b({_KEYS})([\"']?\s*[:=]\s*)(?![\"']|\[redacted\])([^\"'\s]+)"),
     r"\1\2[redacted]"),
]


def scrub(text: str) -> str:
    """The text with anything that looks like a secret replaced."""
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """Structured fields given as `extra={"fields": {...}}`."""
    given = getattr(record, "fields", None)
    return dict(given) if isinstance(given, dict) else {}


class ContextFilter(logging.Filter):
    """Stamps the current correlation id on the record (before the handler's formatter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = correlation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation_id, fields."""

    _encoder = msgspec.json.Encoder()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        cid = getattr(record, "correlation_id", None)
        if cid:
            entry["correlation_id"] = cid
        for key, value in fields_of(record).items():
            entry[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        try:
            return self._encoder.encode(entry).decode()
        except (TypeError, msgspec.EncodeError):
            return self._encoder.encode({**entry, **{
                k: scrub(repr(v)) for k, v in fields_of(record).items()}}).decode()


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ... [correlation id]`, scrubbed."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in fields_of(record).items())
        if extra:
            line += " " + extra
        cid = getattr(record, "correlation_id", None)
        if cid:
            line += f" [{cid}]"
        return scrub(line)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes, not the one it was made
    with: a caller that swaps stderr (a test runner's capture) and closes the old one
    must not turn every later log line into 'I/O operation on closed file'."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """The root logger writes to stderr in the chosen format; libraries' loggers (uvicorn,
    psycopg, litestar) propagate to it."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
