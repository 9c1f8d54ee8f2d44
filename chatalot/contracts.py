"""The base of every context's request bodies (chatalot/<context>/contracts.py)."""

from __future__ import annotations

import msgspec


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies refuse unknown fields: a typo is a 400, not a silent no-op."""
