"""Chatalot's async Python SDK: REST (and the /ws gateway) with E2E built in."""

from chatalot_sdk.client import Client
from chatalot_sdk.errors import (
    ApiError,
    ChatalotError,
    DecryptFailed,
    IdentityKeyChanged,
    KeyStoreError,
)

__all__ = ["ApiError", "ChatalotError", "Client", "DecryptFailed", "IdentityKeyChanged",
           "KeyStoreError"]
