"""Secrets from files (`<VAR>_FILE`, DATABASE_PASSWORD_FILE: Docker secrets) and the
deployment settings (CHATALOT_LOG_FORMAT, CHATALOT_METRICS_TOKEN)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from chatalot.config import ConfigError, load_settings

KEY = base64.b64encode(bytes(range(32))).decode()


def test_secrets_are_read_from_their_files(tmp_path: Path) -> None:
    (tmp_path / "totp").write_text(KEY + "\n")
    (tmp_path / "token").write_text("scrape-me\n")
    (tmp_path / "pw").write_text("s3cret p@ss\n")
    settings = load_settings({
        "TOTP_ENCRYPTION_KEY_FILE": str(tmp_path / "totp"),
        "CHATALOT_METRICS_TOKEN_FILE": str(tmp_path / "token"),
        "DATABASE_URL": "postgresql://chatalot@postgres:5432/chatalot",
        "DATABASE_PASSWORD_FILE": str(tmp_path / "pw"),
        "CHATALOT_LOG_FORMAT": "json",
    })
    assert settings.security.totp_encryption_key == KEY
    assert settings.metrics_token == "scrape-me"
    assert settings.log_format == "json"
    parts = conninfo_to_dict(settings.database_url or "")
    assert parts["password"] == "s3cret p@ss"
    assert parts["host"] == "postgres" and parts["dbname"] == "chatalot"


def test_the_variable_itself_wins_over_its_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file")
    settings = load_settings({"CHATALOT_METRICS_TOKEN": "from-env",
                              "CHATALOT_METRICS_TOKEN_FILE": str(tmp_path / "token")})
    assert settings.metrics_token == "from-env"


def test_an_unreadable_secret_file_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^TOTP_ENCRYPTION_KEY_FILE: cannot read"):
        load_settings({"TOTP_ENCRYPTION_KEY_FILE": str(tmp_path / "missing")})
    (tmp_path / "short").write_text("c2hvcnQ=")
    with pytest.raises(ConfigError, match=r"^TOTP_ENCRYPTION_KEY: expected"):
        load_settings({"TOTP_ENCRYPTION_KEY_FILE": str(tmp_path / "short")})


def test_defaults_and_bad_values() -> None:
    settings = load_settings({})
    assert settings.log_format == "text" and settings.metrics_token is None
    with pytest.raises(ConfigError, match=r"^CHATALOT_LOG_FORMAT: "):
        load_settings({"CHATALOT_LOG_FORMAT": "xml"})
