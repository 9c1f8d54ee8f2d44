"""Settings from environment variables, validated once at start-up.

A bad value stops start-up with one line naming the variable, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import msgspec
import psycopg
from psycopg.conninfo import conninfo_to_dict

Positive = Annotated[int, msgspec.Meta(ge=1)]


class RegistrationMode(StrEnum):
    OPEN = "open"
    INVITE_ONLY = "invite_only"
    CLOSED = "closed"


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """The limits of protocol.md; each can be lowered (or raised) per instance."""

    max_message_bytes: Positive = 64 * 1024
    max_ws_frame_bytes: Positive = 1024 * 1024
    max_ws_connections_per_user: Positive = 8
    max_file_size_mb: Positive = 100
    max_request_body_bytes: Positive = 2 * 1024 * 1024
    rate_limit_general_per_sec: Positive = 20
    rate_limit_auth_per_sec: Positive = 5
    ws_frames_burst: Positive = 10
    ws_frames_per_sec: Positive = 5
    read_your_writes_wait_ms: Positive = 2000


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    redis_url: str | None = None
    data_directory: str = "chatalot-data"
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8080
    public_url: str | None = None
    jwt_private_key_path: str | None = None
    jwt_public_key_path: str | None = None
    registration_mode: RegistrationMode = RegistrationMode.INVITE_ONLY
    run_projections: bool = True
    limits: Limits = Limits()

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return Path(self.data_directory)

    @property
    def private_key_path(self) -> Path:
        if self.jwt_private_key_path:
            return Path(self.jwt_private_key_path)
        return self.data_dir / "keys" / "jwt_ed25519.pem"

    @property
    def public_key_path(self) -> Path:
        if self.jwt_public_key_path:
            return Path(self.jwt_public_key_path)
        return self.data_dir / "keys" / "jwt_ed25519.pub.pem"


class ConfigError(Exception):
    """One line for the operator: which variable, what is wrong."""


# environment variable -> (section, field)
ENV: dict[str, tuple[str | None, str]] = {
    "DATABASE_URL": (None, "database_url"),
    "REDIS_URL": (None, "redis_url"),
    "CHATALOT_DATA_DIR": (None, "data_directory"),
    "HOST": (None, "host"),
    "PORT": (None, "port"),
    "PUBLIC_URL": (None, "public_url"),
    "JWT_PRIVATE_KEY_PATH": (None, "jwt_private_key_path"),
    "JWT_PUBLIC_KEY_PATH": (None, "jwt_public_key_path"),
    "REGISTRATION_MODE": (None, "registration_mode"),
    "CHATALOT_RUN_PROJECTIONS": (None, "run_projections"),
    **{f"CHATALOT_{name.upper()}": ("limits", name) for name in Limits.__struct_fields__},
}

_BOOLS = {"1": True, "true": True, "yes": True, "on": True,
          "0": False, "false": False, "no": False, "off": False}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    limits: dict[str, object] = {}
    for var, (section, field) in ENV.items():
        value = environ.get(var)
        if value is None or value == "":
            continue
        if field == "run_projections":
            if value.lower() not in _BOOLS:
                raise ConfigError(f"{var}: expected true or false, got {value!r}")
            raw[field] = _BOOLS[value.lower()]
            continue
        (limits if section == "limits" else raw)[field] = value
    database_url = raw.get("database_url")
    if isinstance(database_url, str):
        try:
            conninfo_to_dict(database_url)  # a postgresql:// URL or key=value conninfo
        except psycopg.ProgrammingError:
            raise ConfigError(
                "DATABASE_URL: expected a postgresql:// URL or a libpq connection string"
            ) from None
    redis_url = raw.get("redis_url")
    if isinstance(redis_url, str) and not redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError("REDIS_URL: expected a redis://, rediss:// or unix:// URL")
    if isinstance(raw.get("public_url"), str) and not str(raw["public_url"]).startswith(
        ("http://", "https://")
    ):
        raise ConfigError("PUBLIC_URL: expected an http:// or https:// URL")
    raw["limits"] = limits
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(str(exc))) from None


def _explain(message: str) -> str:
    """Turn msgspec's `... - at `$.limits.port`` into the variable's name."""
    text, _, where = message.partition(" - at `$.")
    path = where.rstrip("`").split(".")
    for var, (section, field) in ENV.items():
        if path == ([section, field] if section else [field]):
            return f"{var}: {text}"
    return text
