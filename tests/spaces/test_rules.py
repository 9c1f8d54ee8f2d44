"""The permissions module and the spaces rules alone (no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatalot.domain.errors import DomainError
from chatalot.domain.spaces import permissions as perm
from chatalot.domain.spaces import rules
from chatalot.domain.spaces.access import ChannelAccess
from chatalot.domain.spaces.roles import Role, highest, instance_role
from tests.hypothesis_budget import pure

ROLES = st.one_of(st.none(), st.sampled_from(list(Role)))
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def access(**overrides: object) -> ChannelAccess:
    fields: dict[str, object] = dict(
        channel_id=uuid.uuid4(), kind="text", community_id=uuid.uuid4(),
        group_id=uuid.uuid4(), member=True, role=Role.MEMBER, banned=False,
        timed_out_until=None, read_only=False, archived=False, slow_mode_secs=0,
        e2e_required=False)
    fields.update(overrides)
    return ChannelAccess(**fields)  # type: ignore[arg-type]


def code(fn: object, *args: object, **kwargs: object) -> str | None:
    try:
        fn(*args, **kwargs)  # type: ignore[operator]
    except DomainError as exc:
        return exc.code
    return None


@pure
@given(actor=ROLES, target=ROLES)
def test_an_actor_moderates_only_strictly_lower_roles(actor: Role | None,
                                                      target: Role | None) -> None:
    allowed = actor is not None and actor >= Role.MODERATOR and actor > (target or Role.MEMBER)
    assert (code(perm.require_moderates, actor, target) is None) == allowed


@pure
@given(actor=ROLES, target=ROLES, new=st.sampled_from(list(Role)))
def test_roles_are_given_below_ones_own(actor: Role | None, target: Role | None,
                                        new: Role) -> None:
    allowed = (actor is not None and actor >= Role.ADMIN and actor > (target or Role.MEMBER)
               and new < actor)
    assert (code(perm.require_assigns, actor, target, new) is None) == allowed


@pure
@given(member=st.booleans(), banned=st.booleans(), role=ROLES,
       timeout=st.one_of(st.none(), st.integers(-3600, 3600)), read_only=st.booleans(),
       archived=st.booleans())
def test_posting(member: bool, banned: bool, role: Role | None, timeout: int | None,
                 read_only: bool, archived: bool) -> None:
    until = None if timeout is None else NOW + timedelta(seconds=timeout)
    a = access(member=member, banned=banned, role=role, timed_out_until=until,
               read_only=read_only, archived=archived)
    got = code(perm.require_post, a, NOW)
    if not member or banned:
        assert got == "forbidden"
    elif until is not None and until > NOW:
        assert got == "timed_out"
    elif archived or (read_only and (role is None or role < Role.MODERATOR)):
        assert got == "read_only"
    else:
        assert got is None
    assert (code(perm.require_read, a) is None) == (member and not banned)
    assert (code(perm.require_manage, a) is None) == (role is not None and role >= Role.ADMIN)
    assert (code(perm.require_moderate, a) is None) == (
        role is not None and role >= Role.MODERATOR)


@pure
@given(a=st.uuids(), b=st.uuids())
def test_one_dm_pair_per_two_users(a: uuid.UUID, b: uuid.UUID) -> None:
    assert rules.dm_pair(a, b) == rules.dm_pair(b, a)
    assert set(rules.dm_pair(a, b)) == {a, b}


def test_the_ladder_and_the_rules() -> None:
    assert instance_role(False, True) == Role.INSTANCE_OWNER
    assert instance_role(True, False) == Role.INSTANCE_ADMIN
    assert instance_role(False, False) is None
    assert highest(None, Role.MEMBER, Role.ADMIN) == Role.ADMIN and highest(None) is None
    assert Role.parse("moderator") == Role.MODERATOR and Role.OWNER.label == "owner"
    for secs, ok in ((0, True), (4, False), (5, True), (600, True), (601, False)):
        assert (code(rules.check_slow_mode, secs) is None) == ok
    assert code(rules.check_group_capacity, 199) is None
    assert code(rules.check_group_capacity, 200) == "limit_reached"
    assert code(rules.check_channel_capacity, 100) == "limit_reached"
    assert rules.check_name("  ok  ") == "ok"
    for bad in ("", "   ", "x" * 65, "a\nb"):
        assert code(rules.check_name, bad) == "bad_request"
    assert code(rules.check_leave, True, True, "community") == "forbidden"
    assert code(rules.check_leave, False, False, "community") == "bad_request"
    me, other = uuid.uuid4(), uuid.uuid4()
    assert code(rules.check_dm, me, me, other_exists=True, staff=False,
                share_community=True, blocked=False) == "bad_request"
    assert code(rules.check_dm, me, other, other_exists=True, staff=True,
                share_community=False, blocked=True) == "forbidden"
    assert code(rules.check_dm, me, other, other_exists=True, staff=True,
                share_community=False, blocked=False) is None
    invite = rules.Invite(uuid.uuid4(), uuid.uuid4(), None, 2, 2, None)
    assert code(rules.check_invite_usable, invite, NOW) == "not_found"
    expired = rules.Invite(uuid.uuid4(), uuid.uuid4(), None, None, 0, NOW)
    assert code(rules.check_invite_usable, expired, NOW) == "not_found"
    with pytest.raises(DomainError):
        rules.invite_expiry(NOW, 0)
    assert rules.invite_expiry(NOW, 1) == NOW + timedelta(hours=1)


def test_every_wire_name_is_a_registered_event() -> None:
    from chatalot.domain.spaces.events import SPACES_EVENTS, WIRE_NAMES

    names = {cls.__name__ for cls in SPACES_EVENTS}
    assert set(WIRE_NAMES) <= names
    assert set(WIRE_NAMES.values()) >= {"member_kicked", "member_banned", "user_timed_out",
                                        "user_warned", "new_dm_channel"}
