"""Positions in the log, in commit order.

A position is (epoch, transaction id, sequence): readers only see rows whose transaction is
older than every transaction still running, so ordering by the writer's transaction id and
then the sequence never skips a row that commits late. Clients get it as an opaque string.
"""

from __future__ import annotations

import re

import msgspec

from event_store.errors import InvalidPosition

_PATTERN = re.compile(r"^([0-9]{1,9})\.([0-9]{1,19})\.([0-9]{1,19})$")
_MAX_BIGINT = 2**63 - 1


class Position(msgspec.Struct, frozen=True, order=True, array_like=True, gc=False):
    epoch: int
    transaction_id: int
    sequence: int

    def encode(self) -> str:
        return f"{self.epoch}.{self.transaction_id}.{self.sequence}"

    @classmethod
    def parse(cls, text: str) -> Position:
        match = _PATTERN.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidPosition(f"malformed position {text[:40]!r}" if isinstance(
                text, str) else "position must be a string")
        epoch, xid, seq = (int(g) for g in match.groups())
        if xid > _MAX_BIGINT or seq > _MAX_BIGINT:
            raise InvalidPosition("position out of range")
        return cls(epoch, xid, seq)

    def __str__(self) -> str:
        return self.encode()


START = Position(0, 0, 0)
