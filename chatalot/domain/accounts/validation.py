"""Account input validation: the limits (upstream facts, docs/accounts.md) and the checks
every command runs on what a client sends, before any state is read. Plain functions: no
database, no network. The decisions over state are in rules.py."""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec
from zxcvbn import zxcvbn

from chatalot.domain.errors import DomainError, bad_request

# -- limits (upstream facts; see docs/accounts.md) ---------------------------------------

USERNAME_MIN, USERNAME_MAX = 3, 32
DISPLAY_NAME_MAX = 64
PASSWORD_MIN, PASSWORD_MAX = 8, 128
EMAIL_MAX = 254
BIO_MAX = 500
PRONOUNS_MAX = 50
CUSTOM_STATUS_MAX = 128
URL_MAX = 2048
PREFERENCES_MAX_BYTES = 16 * 1024
SUSPEND_REASON_MAX = 500
REPORT_REASON_MAX = 2000
ADMIN_NOTES_MAX = 5000
INVITE_MAX_HOURS = 8760
BACKUP_CODE_COUNT = 8

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_EXCEPT_NEWLINE = re.compile(
    r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


# -- validation ----------------------------------------------------------------------------


def username_key(username: str) -> str:
    """The case-insensitive identity of a username (uniqueness, lockout, login)."""
    return username.lower()


def validate_username(username: str) -> str:
    """3-32 ASCII letters, digits, `_ . -`; starts with a letter or digit; no `..`, no
    trailing dot. Returns it unchanged (its case is kept for display)."""
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        raise bad_request(f"username must be {USERNAME_MIN}-{USERNAME_MAX} characters")
    if not _USERNAME.fullmatch(username) or not username.isascii():
        raise bad_request(
            "username may contain only letters, digits, '_', '.' and '-', and must start "
            "with a letter or digit"
        )
    if ".." in username or username.endswith("."):
        raise bad_request("username must not contain '..' or end with '.'")
    return username


def check_username_shape(username: str) -> None:
    """For login and recovery: a name that no account can have is malformed input."""
    try:
        validate_username(username)
    except DomainError:
        raise bad_request("malformed username") from None


def check_no_nul(value: str, field: str) -> None:
    """PostgreSQL text cannot hold NUL; refuse it before any query sees it."""
    if "\x00" in value:
        raise bad_request(f"{field} contains a NUL character")


def validate_display_name(display_name: str) -> str:
    name = display_name.strip()
    if not 1 <= len(name) <= DISPLAY_NAME_MAX:
        raise bad_request(f"display name must be 1-{DISPLAY_NAME_MAX} characters")
    if _CONTROL.search(name):
        raise bad_request("display name contains control characters")
    return name


ZXCVBN_MAX = 72
SITE_WORDS = ("chatalot", "chat")  # what zxcvbn advises adding: the service's own name


def validate_password(password: str, *, username: str | None = None,
                      user_inputs: Iterable[str | None] = (), min_score: int = 3) -> None:
    """Length 8-128, not containing the username, and at least `min_score` (0-4) by zxcvbn,
    which knows common passwords, keyboard walks, dates, l33t and the account's own
    username, display name and email (`user_inputs`). The refusal says why."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise bad_request(f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    if "\x00" in password:
        raise bad_request("password contains a NUL character")
    if username is not None and username_key(username) in password.lower():
        raise bad_request("the password must not contain the username")
    inputs = [item for item in (username, *user_inputs, *SITE_WORDS) if item]
    inputs += [item.partition("@")[0] for item in inputs if "@" in item]
    # zxcvbn refuses (ValueError) passwords over 72 characters: judge their first 72, which
    # must then be strong on their own
    result = zxcvbn(password[:ZXCVBN_MAX], user_inputs=inputs)
    if result["score"] < min_score:
        feedback = result["feedback"]
        why = " ".join(part for part in (feedback.get("warning"),
                                         *feedback.get("suggestions", ())) if part)
        raise bad_request(f"the password is too weak (strength {result['score']} of 4,"
                          f" {min_score} needed)" + (f": {why}" if why else ""))


def validate_email(email: str | None) -> str | None:
    """Returns the lower-cased email (its uniqueness key), or None."""
    if email is None or email.strip() == "":
        return None
    email = email.strip()
    if len(email) > EMAIL_MAX or not _EMAIL.match(email) or _CONTROL.search(email):
        raise bad_request("email is not a valid address")
    return email.lower()


def validate_text(value: str, field: str, max_len: int, *, multiline: bool = False) -> str:
    """Optional free text: trimmed, bounded, no control characters ('' clears it)."""
    value = value.strip()
    if len(value) > max_len:
        raise bad_request(f"{field} must be at most {max_len} characters")
    pattern = _CONTROL_EXCEPT_NEWLINE if multiline else _CONTROL
    if pattern.search(value):
        raise bad_request(f"{field} contains control characters")
    return value


def validate_url(value: str, field: str) -> str:
    """An https/http URL or a path on this server ('' clears it); never javascript: etc."""
    value = value.strip()
    if value == "":
        return value
    if len(value) > URL_MAX or _CONTROL.search(value) or any(c.isspace() for c in value):
        raise bad_request(f"{field} is not a valid URL")
    if value.startswith(("https://", "http://")) and len(value) > 8:
        return value
    if value.startswith("/") and not value.startswith("//"):
        return value
    raise bad_request(f"{field} must be an http(s) URL or a path on this server")


def merge_preferences(current: dict[str, object], patch: dict[str, object]) -> dict[str, object]:
    """Top-level merge (a null value removes the key), bounded to 16 KiB once encoded."""
    merged = dict(current)
    for key, value in patch.items():
        if len(key) > 100:
            raise bad_request("preference keys are at most 100 characters")
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    encoded = msgspec.json.encode(merged)
    if len(encoded) > PREFERENCES_MAX_BYTES:
        raise bad_request(f"preferences exceed {PREFERENCES_MAX_BYTES // 1024} KiB")
    if b"\\u0000" in encoded:
        raise bad_request("preferences contain a NUL character")
    return merged
