"""What every context's contracts share (chatalot/<context>/contracts.py): the base of
request bodies and the wire form of timestamps."""

from __future__ import annotations

from datetime import datetime
from typing import overload

import msgspec


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies refuse unknown fields: a typo is a 400, not a silent no-op."""


@overload
def iso(moment: datetime) -> str: ...


@overload
def iso(moment: None) -> None: ...


def iso(moment: datetime | None) -> str | None:
    """A timestamp as the protocol writes it: UTC, milliseconds, `Z`."""
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
