"""Settings from environment variables, validated once at start-up.

A bad value stops start-up with one line naming the variable, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chatalot.domain.accounts.registration_mode import RegistrationMode

Positive = Annotated[int, msgspec.Meta(ge=1)]


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """The protocol's limits (upstream Chatalot's, listed in .env.example); each can be
    lowered (or raised) per instance."""

    max_message_bytes: Positive = 64 * 1024
    # how long after sending a message may be edited; 0 = no limit (docs/messaging.md)
    edit_window_secs: Annotated[int, msgspec.Meta(ge=0, le=10 * 365 * 86400)] = 15 * 60
    max_ws_frame_bytes: Positive = 1024 * 1024
    max_ws_connections_per_user: Positive = 8
    # upstream's MAX_FILE_SIZE_MB (1-10000), UPLOAD_QUOTA_MB and its 10 uploads a minute
    max_file_size_mb: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100
    upload_quota_mb: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 500
    uploads_per_minute: Positive = 10
    max_request_body_bytes: Positive = 2 * 1024 * 1024
    rate_limit_general_per_sec: Positive = 20
    rate_limit_general_burst: Positive = 40
    rate_limit_auth_per_sec: Positive = 5
    rate_limit_auth_burst: Positive = 10
    # per-socket token bucket (protocol.md: upstream's running code, not its docs' 10, 5/s)
    ws_frames_burst: Positive = 30
    ws_frames_per_sec: Positive = 10
    # frames waiting for a slow socket before it is closed (1013) to resume from the log
    ws_send_queue_frames: Positive = 2048
    ws_ping_interval_secs: Positive = 30
    ws_handshake_timeout_secs: Positive = 10
    # a user appears offline this long after their last socket closes
    presence_grace_secs: Annotated[int, msgspec.Meta(ge=0, le=3600)] = 30
    voice_max_participants: Positive = 25
    read_your_writes_wait_ms: Positive = 2000
    # how long a request waits for a free database connection before it is answered 503
    database_wait_ms: Positive = 10_000
    # request line plus headers, in bytes: a larger request is answered 400 by the server
    max_header_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1024 * 1024)] = 16 * 1024


class Security(msgspec.Struct, frozen=True, kw_only=True):
    """Credentials and tokens. Argon2id defaults: 64 MiB, t=3, p=4 (tests lower them)."""

    argon2_memory_kib: Annotated[int, msgspec.Meta(ge=8, le=4 * 1024 * 1024)] = 64 * 1024
    argon2_time_cost: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    argon2_parallelism: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    # concurrent password hashes per process; 0 = half the CPUs (at least one)
    hash_concurrency: Annotated[int, msgspec.Meta(ge=0, le=256)] = 0
    access_token_ttl_secs: Annotated[int, msgspec.Meta(ge=30, le=86400)] = 15 * 60
    refresh_token_ttl_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30
    # failed logins per username before each further failure locks it, with a delay that
    # doubles from base up to max
    lockout_threshold: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    lockout_base_delay_secs: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 2
    lockout_max_delay_secs: Annotated[int, msgspec.Meta(ge=1, le=86400)] = 15 * 60
    # base64 of 32 bytes; when unset, a key file in the data directory is created
    totp_encryption_key: str | None = None
    # comma-separated allowed origins; empty = CORS off
    cors_origins: str = ""
    # comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is
    # believed; empty = none, the peer address is the client
    trusted_proxies: str = ""
    # zxcvbn score (0-4) a new password must reach
    password_min_score: Annotated[int, msgspec.Meta(ge=0, le=4)] = 3

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [item.strip() for item in self.trusted_proxies.split(",") if item.strip()]


class Voice(msgspec.Struct, frozen=True, kw_only=True):
    """ICE servers handed to clients (GET /api/voice/ice-servers). TURN credentials follow
    the TURN REST scheme: username `<expiry>:<user_id>`, credential base64 HMAC-SHA1 of
    the username under `turn_secret` (coturn's `use-auth-secret`)."""

    # comma-separated URLs
    stun_urls: str = ""
    turn_urls: str = ""
    turn_secret: str | None = None
    turn_ttl_secs: Annotated[int, msgspec.Meta(ge=60, le=7 * 86400)] = 86400

    @staticmethod
    def split(urls: str) -> list[str]:
        return [u.strip() for u in urls.split(",") if u.strip()]


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
    # A rebuild requested on a node that serves traffic is first left to a dedicated process
    # (`chatalot projections rebuild NAME`) for this long; then the node builds it itself,
    # paced to this share of a core (issue 21).
    rebuild_hand_off_secs: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 10.0
    rebuild_share: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.25
    # `json`: one JSON object per log line (chatalot/logs.py); `text`: human lines
    log_format: Literal["text", "json"] = "text"
    # bearer token that GET /metrics requires; unset: /metrics answers 404
    metrics_token: str | None = None
    # How often a sealed checkpoint of the event log is written (issue 11); 0: never.
    checkpoint_interval_secs: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 300.0
    limits: Limits = Limits()
    security: Security = Security()
    voice: Voice = Voice()

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
    "CHATALOT_REBUILD_HAND_OFF_SECS": (None, "rebuild_hand_off_secs"),
    "CHATALOT_REBUILD_SHARE": (None, "rebuild_share"),
    "CHATALOT_LOG_FORMAT": (None, "log_format"),
    "CHATALOT_METRICS_TOKEN": (None, "metrics_token"),
    "CHATALOT_CHECKPOINT_INTERVAL_SECS": (None, "checkpoint_interval_secs"),
    **{f"CHATALOT_{name.upper()}": ("limits", name) for name in Limits.__struct_fields__},
    **{f"CHATALOT_{name.upper()}": ("security", name) for name in Security.__struct_fields__
       if name not in ("totp_encryption_key", "cors_origins")},
    "TOTP_ENCRYPTION_KEY": ("security", "totp_encryption_key"),
    "STUN_URLS": ("voice", "stun_urls"),
    "TURN_URLS": ("voice", "turn_urls"),
    "TURN_SECRET": ("voice", "turn_secret"),
    "TURN_TTL_SECS": ("voice", "turn_ttl_secs"),
    "CORS_ORIGINS": ("security", "cors_origins"),
}
_SECTIONS = ("limits", "security", "voice")

_BOOLS = {"1": True, "true": True, "yes": True, "on": True,
          "0": False, "false": False, "no": False, "off": False}


# Secrets that may come from a file (`<VAR>_FILE`, as Docker secrets are mounted) instead of
# the environment, where every process of the container could read them.
FILE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "TOTP_ENCRYPTION_KEY", "CHATALOT_METRICS_TOKEN")


def _read_secret(var: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{var}: cannot read {path}: {type(exc).__name__}") from None


def _with_files(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment with every `<VAR>_FILE` read in (the variable itself wins), and
    DATABASE_PASSWORD_FILE's password put into DATABASE_URL."""
    merged = dict(environ)
    for var in FILE_VARIABLES:
        path = environ.get(f"{var}_FILE")
        if path and not environ.get(var):
            merged[var] = _read_secret(f"{var}_FILE", path)
    password_file = environ.get("DATABASE_PASSWORD_FILE")
    if password_file and merged.get("DATABASE_URL"):
        password = _read_secret("DATABASE_PASSWORD_FILE", password_file)
        try:
            merged["DATABASE_URL"] = make_conninfo(merged["DATABASE_URL"], password=password)
        except psycopg.ProgrammingError:
            raise ConfigError(
                "DATABASE_URL: expected a postgresql:// URL or a libpq connection string"
            ) from None
    return merged


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = _with_files(os.environ if environ is None else environ)
    raw: dict[str, object] = {}
    sections: dict[str, dict[str, object]] = {name: {} for name in _SECTIONS}
    for var, (section, field) in ENV.items():
        value = environ.get(var)
        if value is None or value == "":
            continue
        if field == "run_projections":
            if value.lower() not in _BOOLS:
                raise ConfigError(f"{var}: expected true or false, got {value!r}")
            raw[field] = _BOOLS[value.lower()]
            continue
        (sections[section] if section else raw)[field] = value
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
    _check_secrets(sections["security"])
    raw.update(sections)
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(str(exc))) from None


def _check_secrets(security: dict[str, object]) -> None:
    """Keys and lists whose shape msgspec cannot check, so that a bad one stops start-up
    here with one line, not later in the middle of it."""
    key = security.get("totp_encryption_key")
    if isinstance(key, str):
        try:
            decoded = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) != 32:
            raise ConfigError("TOTP_ENCRYPTION_KEY: expected standard base64 (A-Z a-z 0-9 + /,"
                              " padded) of 32 bytes, e.g. `openssl rand -base64 32`")
    proxies = security.get("trusted_proxies")
    if isinstance(proxies, str):
        for item in (part.strip() for part in proxies.split(",")):
            if not item:
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ConfigError(f"CHATALOT_TRUSTED_PROXIES: {item!r} is not an IP address"
                                  " or CIDR network") from None


def _explain(message: str) -> str:
    """Turn msgspec's `... - at `$.limits.port`` into the variable's name."""
    text, _, where = message.partition(" - at `$.")
    path = where.rstrip("`").split(".")
    for var, (section, field) in ENV.items():
        if path == ([section, field] if section else [field]):
            return f"{var}: {text}"
    return text
