"""Who may register once an instance has its owner: a domain notion that the settings
(chatalot/config.py, `REGISTRATION_MODE`) select. Its own module so that loading the
settings does not load the account rules."""

from __future__ import annotations

from enum import StrEnum


class RegistrationMode(StrEnum):
    OPEN = "open"
    INVITE_ONLY = "invite_only"
    CLOSED = "closed"
