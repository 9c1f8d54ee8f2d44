"""Where a command came from (address, user agent, correlation id, device): the metadata
of the events it appends. Shared by every context's commands."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from event_store import Metadata


@dataclass(frozen=True)
class RequestInfo:
    """Where a command came from; becomes the metadata of the events it appends."""

    ip: str | None = None
    user_agent: str | None = None
    correlation_id: str | None = None

    def metadata(self, command: str, actor_id: uuid.UUID | None) -> Metadata:
        return Metadata(
            actor_id=str(actor_id) if actor_id else None,
            correlation_id=self.correlation_id,
            ip=self.ip[:64] if self.ip else None,
            user_agent=self.user_agent[:512] if self.user_agent else None,
            command=command,
        )


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"),
             ("python-httpx", "httpx"), ("chatalot", "Chatalot client"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))
_CLEAN = re.compile(r"[^\w .,'()/+-]")


def device_name(given: str | None, user_agent: str | None) -> str | None:
    """The client's own name for the device, else `Browser on System` from the user agent."""
    if given and given.strip():
        return _CLEAN.sub("", given.strip())[:128] or None
    if not user_agent:
        return None
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or _CLEAN.sub("", user_agent)[:64] or None
