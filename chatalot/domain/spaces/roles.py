"""The role ladder (docs/spaces.md): instance owner > instance admin > community owner >
admin > moderator > member. Membership tables store the lower-case name; the ladder's order
is what every permission compares."""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    MEMBER = 1
    MODERATOR = 2
    ADMIN = 3
    OWNER = 4
    INSTANCE_ADMIN = 5
    INSTANCE_OWNER = 6

    @property
    def label(self) -> str:
        """The name stored in the membership tables and shown on the wire."""
        return self.name.lower()

    @classmethod
    def parse(cls, label: str) -> Role:
        return cls[label.upper()]


ASSIGNABLE = (Role.MEMBER, Role.MODERATOR, Role.ADMIN)
"""Roles a role change may give; ownership moves only by a transfer."""


def instance_role(is_admin: bool, is_owner: bool) -> Role | None:
    if is_owner:
        return Role.INSTANCE_OWNER
    if is_admin:
        return Role.INSTANCE_ADMIN
    return None


def highest(*roles: Role | None) -> Role | None:
    present = [r for r in roles if r is not None]
    return max(present) if present else None
