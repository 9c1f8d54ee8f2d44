"""Domain rules: validation and decisions, as plain functions (no database)."""

from __future__ import annotations

import re
import string
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatalot.domain.accounts import events as ev
from chatalot.domain.accounts import rules, validation
from chatalot.domain.accounts.registration_mode import RegistrationMode
from chatalot.domain.accounts.rules import Account, Invite, LockoutPolicy, Throttle
from chatalot.domain.errors import DomainError
from tests.hypothesis_budget import pure

NOW = datetime(2026, 1, 1, tzinfo=UTC)
# The rule as docs/accounts.md states it, written independently of the code under test.
DOCUMENTED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{2,31}$")
ALNUM = string.ascii_letters + string.digits
INNER = ALNUM + "_-"  # may follow any character; "." may not follow "." nor end the name


def documented(name: str) -> bool:
    return bool(DOCUMENTED.fullmatch(name)) and ".." not in name and not name.endswith(".")


@st.composite
def valid_usernames(draw: st.DrawFn, min_size: int = 3, max_size: int = 32) -> str:
    """Built from the rule's alphabet, so every one is valid (lengths 3 and 32 included)."""
    size = draw(st.integers(min_size, max_size))
    chars = [draw(st.sampled_from(ALNUM))]
    for i in range(1, size):
        last = i == size - 1
        chars.append(draw(st.sampled_from(INNER if last or chars[-1] == "." else INNER + ".")))
    return "".join(chars)


# Characters a name must not contain: look-alikes, separators, controls, non-ASCII letters
# whose case folding lands on ASCII (the Kelvin sign lower-cases to "k").
FOREIGN = " @/\\:+!\x00\t\n\u00e9\u0430\u0131\u212a\uff21\u200b"


@st.composite
def invalid_usernames(draw: st.DrawFn) -> str:
    """A valid name broken in exactly one documented way."""
    name = draw(valid_usernames())
    how = draw(st.sampled_from(["too_long", "too_short", "double_dot", "trailing_dot",
                                "bad_first", "foreign"]))
    if how == "too_long":
        extra = draw(st.integers(33 - len(name), 40 - len(name)))
        return name + "".join(draw(st.sampled_from(INNER)) for _ in range(extra))
    if how == "too_short":
        return name[:draw(st.integers(0, 2))]
    at = draw(st.integers(1, len(name) - 1))
    if how == "double_dot":
        return name[:at] + ".." + name[at:]
    if how == "trailing_dot":
        return name[:-1] + "."
    if how == "bad_first":
        return draw(st.sampled_from("_.-")) + name[1:]
    return name[:at] + draw(st.sampled_from(FOREIGN)) + name[at + 1:]


@pure
@given(st.one_of(valid_usernames(), invalid_usernames(), st.text(max_size=40)))
def test_username_rule_is_exactly_the_documented_one(name: str) -> None:
    expected = documented(name)
    try:
        validation.validate_username(name)
    except DomainError as exc:
        assert exc.code == "bad_request" and exc.status == 400
        assert not expected
    else:
        assert expected


@pure
@given(valid_usernames())
def test_valid_usernames_are_accepted_unchanged(name: str) -> None:
    assert documented(name)
    assert validation.validate_username(name) == name


@pure
@given(invalid_usernames())
def test_each_way_of_breaking_the_rule_is_refused(name: str) -> None:
    assert not documented(name)
    with pytest.raises(DomainError) as info:
        validation.validate_username(name)
    assert info.value.status == 400


def test_username_length_boundaries() -> None:
    """3-32 characters (docs/accounts.md), tested exactly at both edges."""
    for size in (3, 32):
        assert validation.validate_username("a" * size) == "a" * size
        dashed = "a" + "-" * (size - 2) + "b"
        assert validation.validate_username(dashed) == dashed
    for size in (0, 2, 33, 64):
        with pytest.raises(DomainError, match="3-32"):
            validation.validate_username("a" * size)
    assert (validation.USERNAME_MIN, validation.USERNAME_MAX) == (3, 32)


@pytest.mark.parametrize("name", ["a..b", "ab..", "a.b.", "abc.", "x" * 31 + "."])
def test_double_and_trailing_dots_are_refused(name: str) -> None:
    with pytest.raises(DomainError, match="'..'"):
        validation.validate_username(name)


def test_username_key_is_case_insensitive() -> None:
    assert validation.username_key("Alice") == validation.username_key("aLICE")


@pure
@given(st.text(max_size=200))
def test_password_policy_never_crashes(password: str) -> None:
    try:
        validation.validate_password(password)
    except DomainError as exc:
        assert exc.status == 400


@pytest.mark.parametrize("weak", ["password", "Password1", "12345678", "qwertyuiop",
                                  "iloveyou", "P@ssw0rd", "letmein123", "chatalot2026",
                                  # let through by the hand-kept list (issue 18)
                                  "Aa123456", "abc12345", "qazwsxedc", "mypassword"])
def test_weak_passwords_are_refused_with_the_reason(weak: str) -> None:
    with pytest.raises(DomainError, match="too weak") as err:
        validation.validate_password(weak)
    assert err.value.status == 400
    assert "needed): " in err.value.message  # zxcvbn's feedback follows


def test_the_accounts_own_details_weaken_a_password() -> None:
    strong = "Wintermute Straylight"
    validation.validate_password(strong)
    with pytest.raises(DomainError, match="too weak"):
        validation.validate_password(strong, user_inputs=["Wintermute Straylight"])
    with pytest.raises(DomainError, match="too weak"):
        validation.validate_password("wintermute1987", user_inputs=["wintermute@example.org"])


def test_the_minimum_score_is_a_setting() -> None:
    validation.validate_password("summer2019x", min_score=2)
    with pytest.raises(DomainError, match="2 of 4, 3 needed"):
        validation.validate_password("summer2019x")


def test_password_length_and_username() -> None:
    with pytest.raises(DomainError, match="8-128"):
        validation.validate_password("short1!")
    with pytest.raises(DomainError, match="8-128"):
        validation.validate_password("x" * 129)
    with pytest.raises(DomainError, match="username"):
        validation.validate_password("alice-is-great-42", username="Alice")
    validation.validate_password("tangerine velvet orbit")


def test_profile_fields() -> None:
    assert validation.validate_display_name("  Alice  ") == "Alice"
    for bad in ["", "   ", "x" * 65, "bad\x00name", "rtl\u202eoverride"]:
        with pytest.raises(DomainError):
            validation.validate_display_name(bad)
    assert validation.validate_text("line\nbreak", "bio", 500, multiline=True) == "line\nbreak"
    with pytest.raises(DomainError):
        validation.validate_text("line\nbreak", "pronouns", 50)
    with pytest.raises(DomainError):
        validation.validate_text("x" * 501, "bio", 500, multiline=True)
    assert validation.validate_url("https://cdn.example/a.png", "avatar_url")
    assert validation.validate_url("/api/files/1", "avatar_url")
    assert validation.validate_url("", "avatar_url") == ""
    for bad in ["javascript:alert(1)", "//evil.example/x", "data:text/html,hi", "http:// x"]:
        with pytest.raises(DomainError):
            validation.validate_url(bad, "avatar_url")
    assert validation.validate_email(" A@Example.ORG ") == "a@example.org"
    assert validation.validate_email(None) is None
    with pytest.raises(DomainError):
        validation.validate_email("not-an-email")


def test_preferences_merge_and_bound() -> None:
    merged = validation.merge_preferences({"theme": "dark", "x": 1}, {"x": None, "font": "big"})
    assert merged == {"theme": "dark", "font": "big"}
    with pytest.raises(DomainError, match="16 KiB"):
        validation.merge_preferences({}, {"blob": "x" * 20_000})


def _invite(**kw: object) -> Invite:
    base: dict[str, object] = {"invite_id": uuid.uuid4(), "max_uses": 2, "used_count": 0,
                               "expires_at": NOW + timedelta(hours=1), "deleted": False}
    base.update(kw)
    return Invite(**base)  # type: ignore[arg-type]


def test_registration_modes() -> None:
    decide = rules.decide_registration
    # the first account always registers, as owner, whatever the mode
    for mode in RegistrationMode:
        grant = decide(mode, instance_empty=True, invite=None, invite_code_given=False, now=NOW)
        assert grant.is_owner
    assert not decide(RegistrationMode.OPEN, instance_empty=False, invite=None,
                      invite_code_given=False, now=NOW).is_owner
    with pytest.raises(DomainError, match="closed"):
        decide(RegistrationMode.CLOSED, instance_empty=False, invite=None,
               invite_code_given=True, now=NOW)
    with pytest.raises(DomainError, match="required"):
        decide(RegistrationMode.INVITE_ONLY, instance_empty=False, invite=None,
               invite_code_given=False, now=NOW)
    good = _invite()
    assert decide(RegistrationMode.INVITE_ONLY, instance_empty=False, invite=good,
                  invite_code_given=True, now=NOW).invite_id == good.invite_id
    for bad in [_invite(used_count=2), _invite(expires_at=NOW), _invite(deleted=True), None]:
        with pytest.raises(DomainError, match="invalid, expired"):
            decide(RegistrationMode.INVITE_ONLY, instance_empty=False, invite=bad,
                   invite_code_given=True, now=NOW)


def test_lockout_delay_grows_and_is_capped() -> None:
    policy = LockoutPolicy(threshold=3, base_delay_secs=2, max_delay_secs=60)
    throttle: Throttle | None = None
    now = NOW
    delays = []
    for _ in range(10):
        rules.check_locked(throttle, now + timedelta(days=1))  # long after: never locked
        throttle = rules.after_failure(throttle, now, policy)
        delays.append((throttle.locked_until - now).total_seconds()
                      if throttle.locked_until else 0)
        now = throttle.locked_until or now
    assert delays[:2] == [0, 0]
    assert delays[2:7] == [2, 4, 8, 16, 32]
    assert max(delays) == 60
    with pytest.raises(DomainError) as info:
        rules.check_locked(throttle, now - timedelta(seconds=5))
    assert info.value.status == 429 and info.value.retry_after_secs == 5
    # a quiet period longer than the maximum delay forgets the failures
    later = rules.after_failure(throttle, now + timedelta(seconds=61), policy)
    assert later.failures == 1 and later.locked_until is None


def _acct(**kw: object) -> Account:
    base: dict[str, object] = {"user_id": uuid.uuid4(), "username": "u", "is_admin": False,
                               "is_owner": False, "status": "active"}
    base.update(kw)
    return Account(**base)  # type: ignore[arg-type]


def test_moderation_rules() -> None:
    owner, admin, admin2, member = (_acct(is_owner=True, is_admin=True), _acct(is_admin=True),
                                    _acct(is_admin=True), _acct())
    rules.decide_suspend(admin, member)
    rules.decide_suspend(owner, admin)
    for actor, target in [(member, admin), (admin, admin2), (admin, owner), (admin, admin)]:
        with pytest.raises(DomainError) as info:
            rules.decide_suspend(actor, target)
        assert info.value.status == 403
    with pytest.raises(DomainError) as info:
        rules.decide_suspend(admin, _acct(status="suspended"))
    assert info.value.status == 409
    rules.decide_set_admin(owner, member, True)
    with pytest.raises(DomainError):
        rules.decide_set_admin(admin, member, True)  # owner only
    with pytest.raises(DomainError) as info:
        rules.decide_set_admin(owner, admin, True)
    assert info.value.status == 409
    with pytest.raises(DomainError):
        rules.decide_self_delete(owner)


# -- decisions the handlers used to take inline (issue 9 item 5) ----------------------------


def test_choice_of_second_factor() -> None:
    assert rules.choose_second_factor(False, None) == "none"
    assert rules.choose_second_factor(False, "123456") == "none"  # ignored without TOTP
    for missing in (None, ""):
        with pytest.raises(DomainError) as exc:
            rules.choose_second_factor(True, missing)
        assert (exc.value.code, exc.value.status) == ("totp_required", 401)
    assert rules.choose_second_factor(True, "123456") == "totp"
    assert rules.choose_second_factor(True, " 123456 ") == "totp"
    for code in ("ABCDE-FGHIJ", "12345", "1234567", "12345a"):
        assert rules.choose_second_factor(True, code) == "backup_code"
    assert rules.second_factor_invalid().status == 401  # at login; see api/errors.answered_as


def _token(**changes: object) -> rules.PresentedRefreshToken:
    base: dict[str, object] = dict(
        session_id=uuid.uuid4(), user_id=uuid.uuid4(), rotated=False, session_revoked=False,
        session_expires_at=NOW + timedelta(days=1), account_status="active")
    return rules.PresentedRefreshToken(**{**base, **changes})  # type: ignore[arg-type]


def test_refresh_token_reuse_revokes_the_family() -> None:
    assert rules.decide_refresh(_token(), NOW) is None
    reuse = rules.decide_refresh(_token(rotated=True), NOW)
    assert reuse is not None and reuse.revoke_session
    assert [type(e).__name__ for e in reuse.events] == ["RefreshTokenReused", "SessionRevoked"]
    assert reuse.refusal.code == "unauthorized"
    # already revoked (a second reuse): recorded again, nothing more to revoke
    again = rules.decide_refresh(_token(rotated=True, session_revoked=True), NOW)
    assert again is not None and not again.revoke_session
    assert [type(e).__name__ for e in again.events] == ["RefreshTokenReused"]
    for ended in (_token(session_revoked=True), _token(session_expires_at=NOW),
                  _token(account_status="suspended")):
        with pytest.raises(DomainError) as exc:
            rules.decide_refresh(ended, NOW)
        assert exc.value.code == "unauthorized"


def test_what_a_deletion_redacts() -> None:
    uid = uuid.uuid4()
    registered = rules.deletion_redaction(ev.UserRegistered(
        user_id=uid, username="alice", display_name="Alice", email="a@example.org"))
    assert isinstance(registered, ev.UserRegistered)
    assert (registered.username, registered.display_name, registered.email) == (
        f"deleted-{uid.hex[:12]}", "Deleted user", None)
    assert rules.deletion_redaction(ev.ProfileUpdated(user_id=uid, bio="hi")) == (
        ev.ProfileUpdated(user_id=uid))
    assert rules.deletion_redaction(ev.PreferencesUpdated(
        user_id=uid, preferences={"theme": "dark"})) == ev.PreferencesUpdated(
        user_id=uid, preferences={})
    failed = rules.deletion_redaction(ev.LoginFailed(username="alice", reason="bad_password"))
    assert isinstance(failed, ev.LoginFailed) and failed.username == "deleted"
    assert rules.deletion_redaction(ev.PasswordChanged(user_id=uid)) is None
