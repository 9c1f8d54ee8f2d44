"""The account rules' exact edges and messages: each test here killed mutants that the
rules' other tests let survive (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from chatalot.bootstrap import build_registry, event_types
from chatalot.config import RegistrationMode
from chatalot.domain.accounts import rules, validation
from chatalot.domain.accounts.rules import LockoutPolicy, Throttle
from chatalot.domain.errors import DomainError, conflict, not_found, unauthorized
from tests.accounts.test_rules import NOW, _acct, _invite


def _refusal(call: object, *args: object, **kwargs: object) -> DomainError:
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value


def test_field_limits_are_inclusive() -> None:
    assert validation.validate_display_name("x") == "x"
    assert validation.validate_display_name("x" * 64) == "x" * 64
    validation.validate_password(("correct horse battery staple " * 5)[:128])
    # zxcvbn cannot judge over 72 characters: the first 72 are judged (it raised, a 500)
    validation.validate_password("Tr0ub4dor&3-" + "v" * 116)
    assert _refusal(validation.validate_password, "v" * 128).code == "bad_request"
    assert validation.validate_text("x" * 50, "pronouns", 50) == "x" * 50
    longest_email = "a" * (254 - len("@example.org")) + "@example.org"
    assert validation.validate_email(longest_email) == longest_email
    assert _refusal(validation.validate_email, "a" + longest_email).code == "bad_request"
    assert validation.validate_email("   ") is None
    url = "https://cdn.example/" + "x" * (validation.URL_MAX - 20)
    assert validation.validate_url(url, "avatar_url") == url
    _refusal(validation.validate_url, url + "x", "avatar_url")
    assert validation.validate_url("http://ab", "avatar_url") == "http://ab"
    assert validation.validate_url("https://a", "avatar_url") == "https://a"
    _refusal(validation.validate_url, "https://", "avatar_url")
    _refusal(validation.validate_url, "https://a\x07b", "avatar_url")  # a control character
    merged = validation.merge_preferences({}, {"k" * 100: 1})
    assert merged == {"k" * 100: 1}
    assert _refusal(validation.merge_preferences, {}, {"k" * 101: 1}).message == (
        "preference keys are at most 100 characters")
    assert validation.merge_preferences({"a": 1}, {"missing": None}) == {"a": 1}
    filler = "x" * (validation.PREFERENCES_MAX_BYTES - len('{"k":""}'))
    # 16 KiB exactly
    assert len(validation.merge_preferences({}, {"k": filler})["k"]) == len(filler)
    _refusal(validation.merge_preferences, {}, {"k": filler + "x"})


MESSAGES = [
    (validation.validate_username, ("a b c",), "username may contain only letters, digits, '_', '.'"
     " and '-', and must start with a letter or digit"),
    (validation.validate_username, ("a..b",), "username must not contain '..' or end with '.'"),
    (validation.validate_display_name, ("",), "display name must be 1-64 characters"),
    (validation.validate_display_name, ("a\x07",), "display name contains control characters"),
    (validation.validate_password, ("pass\x00word-long",), "password contains a NUL character"),
    (validation.validate_password, ("password",), "the password is too weak (strength 0 of 4,"
     " 3 needed): This is a top-10 common password. Add another word or two. Uncommon words"
     " are better."),
    (validation.validate_password, ("alice-is-here",),
     "the password must not contain the username"),
    (validation.validate_email, ("nope",), "email is not a valid address"),
    (validation.validate_text, ("x" * 3, "bio", 2), "bio must be at most 2 characters"),
    (validation.validate_text, ("a\x07", "bio", 9), "bio contains control characters"),
    (validation.validate_url, ("x" * 3000, "avatar_url"), "avatar_url is not a valid URL"),
    (validation.validate_url, ("ftp://x", "avatar_url"),
     "avatar_url must be an http(s) URL or a path on this server"),
    (validation.merge_preferences, ({}, {"k": "\x00"}), "preferences contain a NUL character"),
]


@pytest.mark.parametrize(("call", "args", "message"), MESSAGES)
def test_refusals_say_what_is_wrong(call: object, args: tuple[object, ...], message: str
                                    ) -> None:
    kwargs = {"username": "alice"} if call is validation.validate_password else {}
    refusal = _refusal(call, *args, **kwargs)
    assert (refusal.code, refusal.message, str(refusal)) == ("bad_request", message, message)


def test_decision_refusals_say_why() -> None:
    owner, admin, admin2, member = (_acct(is_owner=True, is_admin=True), _acct(is_admin=True),
                                    _acct(is_admin=True), _acct())
    cases = [
        (rules.check_can_moderate, (member, admin), "instance admin only"),
        (rules.check_can_moderate, (admin, admin), "use your own account settings for this"),
        (rules.check_can_moderate, (admin, owner), "the instance owner cannot be moderated"),
        (rules.check_can_moderate, (admin, admin2),
         "only the instance owner can act on another admin"),
        (rules.decide_suspend, (admin, _acct(status="suspended")),
         "the user is already suspended"),
        (rules.decide_unsuspend, (admin, member), "the user is not suspended"),
        (rules.decide_set_admin, (admin, member, True),
         "only the instance owner can grant or revoke admin"),
        (rules.decide_set_admin, (owner, owner, False), "use your own account settings for this"),
        (rules.decide_set_admin, (owner, admin, True), "the user already has that role"),
        (rules.decide_self_delete, (owner,), "the instance owner cannot delete their account"),
        (rules.decide_registration, (RegistrationMode.CLOSED,),
         "registration is closed on this instance"),
        (rules.decide_registration, (RegistrationMode.INVITE_ONLY,),
         "an invite code is required to register on this instance"),
    ]
    for call, args, message in cases:
        if call is rules.decide_registration:
            refusal = _refusal(call, *args, instance_empty=False, invite=None,
                               invite_code_given=False, now=NOW)
        else:
            refusal = _refusal(call, *args)
        assert refusal.message == message, (call, args)
        assert refusal.code == ("conflict" if "already" in message or "not suspended" in message
                                else "forbidden")
    invalid = _refusal(rules.decide_registration, RegistrationMode.INVITE_ONLY,
                       instance_empty=False, invite=None, invite_code_given=True, now=NOW)
    assert invalid.message == "invalid, expired, or fully used invite code"
    # the owner's role is the one thing set_admin never changes
    other_owner = _acct(is_owner=True, is_admin=True)
    assert _refusal(rules.decide_set_admin, owner, other_owner, False).message == (
        "the instance owner's role cannot change")


def test_only_the_first_account_is_an_owner() -> None:
    for mode, invite in [(RegistrationMode.OPEN, None), (RegistrationMode.INVITE_ONLY,
                                                        _invite())]:
        grant = rules.decide_registration(mode, instance_empty=False, invite=invite,
                                          invite_code_given=invite is not None, now=NOW)
        assert grant.is_owner is False
        assert grant.invite_id == (invite.invite_id if invite else None)


def test_the_lock_ends_exactly_at_locked_until_and_retry_after_rounds_up() -> None:
    until = NOW + timedelta(seconds=10)
    locked = Throttle(failures=5, last_failure_at=NOW, locked_until=until)
    rules.check_locked(locked, until)  # the lock is over at that instant
    refusal = _refusal(rules.check_locked, locked, until - timedelta(milliseconds=500))
    assert (refusal.code, refusal.retry_after_secs) == ("rate_limited", 1)
    assert refusal.message == "too many failed attempts; try again later"
    refusal = _refusal(rules.check_locked, locked, until - timedelta(seconds=1.5))
    assert refusal.retry_after_secs == 2


def test_failures_are_forgotten_after_exactly_the_quiet_period() -> None:
    policy = LockoutPolicy(threshold=3, base_delay_secs=2, max_delay_secs=60)
    before = Throttle(failures=2, last_failure_at=NOW, locked_until=None)
    just_inside = rules.after_failure(before, NOW + timedelta(seconds=59.999), policy)
    assert just_inside.failures == 3 and just_inside.locked_until is not None
    at_the_end = rules.after_failure(before, NOW + timedelta(seconds=60), policy)
    assert at_the_end.failures == 1 and at_the_end.locked_until is None


def test_domain_errors_carry_their_message_and_refuse_unknown_codes() -> None:
    error = DomainError("conflict", "taken")
    assert (error.code, error.message, error.status, str(error)) == (
        "conflict", "taken", 409, "taken")
    assert conflict("taken").message == "taken"
    with pytest.raises(ValueError, match="unknown error code 'nope'"):
        DomainError("nope", "x")


def test_unsuspend_needs_a_suspended_target() -> None:
    admin = _acct(is_admin=True)
    rules.decide_unsuspend(admin, _acct(status="suspended"))
    assert _refusal(rules.decide_unsuspend, admin, _acct()).code == "conflict"


def test_login_shape_checks() -> None:
    validation.check_username_shape("alice")
    refusal = _refusal(validation.check_username_shape, "a..b")
    assert (refusal.code, refusal.message) == ("bad_request", "malformed username")
    validation.check_no_nul("fine", "bio")
    refusal = _refusal(validation.check_no_nul, "x\x00", "bio")
    assert (refusal.code, refusal.message) == ("bad_request", "bio contains a NUL character")


def test_block_and_review_decisions() -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    rules.decide_block(me, other, already=False)
    refusal = _refusal(rules.decide_block, me, me, False)
    assert (refusal.code, refusal.message) == ("bad_request", "you cannot block yourself")
    refusal = _refusal(rules.decide_block, me, other, True)
    assert (refusal.code, refusal.message) == ("conflict", "the user is already blocked")
    for current in ("pending", "reviewed"):
        for new in ("reviewed", "resolved", "dismissed"):
            rules.decide_review(current, new)  # type: ignore[arg-type]
    refusal = _refusal(rules.decide_review, None, "reviewed")
    assert (refusal.code, refusal.message) == ("not_found", "no such report")
    for final in ("resolved", "dismissed"):
        refusal = _refusal(rules.decide_review, final, "reviewed")
        assert (refusal.code, refusal.message) == ("conflict", f"the report is already {final}")


def test_invite_request_bounds() -> None:
    assert rules.validate_invite_request(None, None, NOW) is None
    assert rules.validate_invite_request(1, 1, NOW) == NOW + timedelta(hours=1)
    assert rules.validate_invite_request(1_000_000, 8760, NOW) == NOW + timedelta(hours=8760)
    for uses in (0, 1_000_001):
        refusal = _refusal(rules.validate_invite_request, uses, None, NOW)
        assert (refusal.code, refusal.message) == ("bad_request", "max_uses must be 1-1000000")
    for hours in (0, 8761):
        refusal = _refusal(rules.validate_invite_request, None, hours, NOW)
        assert refusal.message == "expires_in_hours must be 1-8760"


def test_error_helpers_default_messages() -> None:
    assert (not_found().code, not_found().message, not_found().status) == (
        "not_found", "not found", 404)
    assert (unauthorized().code, unauthorized().message, unauthorized().status) == (
        "unauthorized", "unauthorized", 401)
    assert not_found("no such x").message == "no such x"
    assert unauthorized("no").message == "no"
    assert DomainError("totp_invalid", "x").status == 401  # the code alone decides
    assert DomainError("rate_limited", "x", retry_after_secs=3).retry_after_secs == 3


def test_the_registry_knows_every_account_and_key_event() -> None:
    registry = build_registry()
    assert {"UserRegistered", "LoginFailed", "SessionRevoked", "OneTimePrekeysUploaded"} <= set(
        registry.names())
    # and the event store's own redaction record (bootstrap.build_registry)
    assert len(registry.names()) == len(event_types()) + 1


def test_a_trailing_newline_is_not_part_of_a_valid_username() -> None:
    """`$` matches before a final newline: "alice\\n" passed the rule (found by the ci
    hypothesis profile)."""
    assert _refusal(validation.validate_username, "alice\n").code == "bad_request"
