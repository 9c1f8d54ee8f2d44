"""Configuration: defaults, every variable, one-line errors, the JWT key pair."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chatalot.auth.jwt_keys import JwtKeyError, ensure_jwt_keys
from chatalot.config import ENV, ConfigError, load_settings
from chatalot.domain.accounts.registration_mode import RegistrationMode

# 32 bytes whose base64 has '+' and '/': in URL-safe base64 they are '-' and '_'
URLSAFE_KEY = base64.urlsafe_b64encode(bytes([0xFB, 0xFF] * 16)).decode()


def test_defaults():
    settings = load_settings({})
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.port == 8080
    assert settings.registration_mode is RegistrationMode.INVITE_ONLY
    assert settings.limits.max_message_bytes == 64 * 1024
    assert settings.limits.max_ws_connections_per_user == 8
    assert str(settings.private_key_path).endswith("keys/jwt_ed25519.pem")


def test_every_variable_is_read():
    settings = load_settings({
        "DATABASE_URL": "postgresql://u@h/db", "REDIS_URL": "redis://h:1/0",
        "CHATALOT_DATA_DIR": "/srv/chat", "HOST": "0.0.0.0", "PORT": "9000",
        "PUBLIC_URL": "https://chat.example.org", "JWT_PRIVATE_KEY_PATH": "/k/p.pem",
        "JWT_PUBLIC_KEY_PATH": "/k/p.pub", "REGISTRATION_MODE": "closed",
        "CHATALOT_RUN_PROJECTIONS": "false", "CHATALOT_MAX_MESSAGE_BYTES": "1000",
        "CHATALOT_RATE_LIMIT_AUTH_PER_SEC": "3",
    })
    assert settings.database_url == "postgresql://u@h/db"
    assert str(settings.data_dir) == "/srv/chat"
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.base_url == "https://chat.example.org"
    assert str(settings.private_key_path) == "/k/p.pem"
    assert settings.registration_mode is RegistrationMode.CLOSED
    assert settings.run_projections is False
    assert settings.limits.max_message_bytes == 1000
    assert settings.limits.rate_limit_auth_per_sec == 3


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "abc"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"REGISTRATION_MODE": "sometimes"}, "REGISTRATION_MODE"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"PUBLIC_URL": "chat.example.org"}, "PUBLIC_URL"),
        ({"CHATALOT_MAX_MESSAGE_BYTES": "0"}, "CHATALOT_MAX_MESSAGE_BYTES"),
        ({"CHATALOT_WS_FRAMES_PER_SEC": "-1"}, "CHATALOT_WS_FRAMES_PER_SEC"),
        ({"CHATALOT_RUN_PROJECTIONS": "maybe"}, "CHATALOT_RUN_PROJECTIONS"),
        ({"TOTP_ENCRYPTION_KEY": URLSAFE_KEY}, "TOTP_ENCRYPTION_KEY"),
        ({"TOTP_ENCRYPTION_KEY": base64.b64encode(bytes(16)).decode()}, "TOTP_ENCRYPTION_KEY"),
        ({"CHATALOT_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"},
         "CHATALOT_TRUSTED_PROXIES"),
        ({"CHATALOT_PASSWORD_MIN_SCORE": "5"}, "CHATALOT_PASSWORD_MIN_SCORE"),
        ({"CHATALOT_MAX_HEADER_BYTES": "100"}, "CHATALOT_MAX_HEADER_BYTES"),
    ],
)
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    message = str(err.value)
    assert message.startswith(f"{variable}:")
    assert "\n" not in message


def test_env_example_lists_every_variable():
    example = (Path(__file__).parent.parent.parent / ".env.example").read_text()
    for variable in ENV:
        assert variable in example, variable


def test_bad_value_stops_the_cli_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "chatalot.cli.main", "migrate"],
        env={**os.environ, "PORT": "nope", "CHATALOT_DATA_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "chatalot: configuration error: PORT: Expected `int`, got `str`"
    )
    assert "Traceback" not in result.stderr


def test_trusted_proxies_and_password_score_are_read():
    settings = load_settings({"CHATALOT_TRUSTED_PROXIES": " 10.0.0.0/8, ::1 ,",
                              "CHATALOT_PASSWORD_MIN_SCORE": "2"})
    assert settings.security.trusted_proxy_list == ["10.0.0.0/8", "::1"]
    assert settings.security.password_min_score == 2
    assert load_settings({}).security.trusted_proxy_list == []  # nobody is believed


def serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatalot.cli.main", "serve"], env={**os.environ, **env},
        capture_output=True, text=True, timeout=60, check=False)


def test_a_bad_totp_key_stops_serve_with_one_line(tmp_path, database_url):
    """Failed with two tracebacks from the application's start-up (issue 18)."""
    env = {"DATABASE_URL": database_url, "CHATALOT_DATA_DIR": str(tmp_path),
           "PORT": "1", "TOTP_ENCRYPTION_KEY": URLSAFE_KEY}
    result = serve(env)
    assert result.returncode == 2
    assert result.stderr.startswith("chatalot: configuration error: TOTP_ENCRYPTION_KEY: ")
    assert len(result.stderr.strip().splitlines()) == 1
    # a damaged key file in the data directory: one line too, before anything starts
    del env["TOTP_ENCRYPTION_KEY"]
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "totp.key").write_text("not base64 at all!")
    result = serve(env)
    assert result.returncode == 1
    assert result.stderr.startswith("chatalot: ") and "totp.key" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_jwt_keys_are_created_once_with_private_mode(tmp_path):
    private, public = tmp_path / "keys" / "k.pem", tmp_path / "keys" / "k.pub.pem"
    _key, pub = ensure_jwt_keys(private, public)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    again, _ = ensure_jwt_keys(private, public)
    assert again.public_key().public_bytes_raw() == pub.public_bytes_raw()
    other = tmp_path / "other.pub.pem"
    ensure_jwt_keys(tmp_path / "other.pem", other)
    with pytest.raises(JwtKeyError, match="does not match"):
        ensure_jwt_keys(private, other)
    (tmp_path / "garbage.pem").write_text("not a key")
    with pytest.raises(JwtKeyError):
        ensure_jwt_keys(tmp_path / "garbage.pem", tmp_path / "g.pub")
