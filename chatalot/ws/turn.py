"""TURN REST credentials (draft-uberti-behave-turn-rest, coturn's `use-auth-secret`):
username `<expiry unix time>:<user_id>`, credential base64(HMAC-SHA1(secret, username)).
The TURN server checks them with the same shared secret and refuses them after expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Annotated

import msgspec

from chatalot.config import Voice


class IceServer(msgspec.Struct, frozen=True, omit_defaults=True):
    urls: Annotated[list[str], msgspec.Meta(min_length=1)]
    username: str | None = None
    credential: str | None = None


def turn_credential(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ice_servers(voice: Voice, user_id: uuid.UUID, now: float) -> list[IceServer]:
    """STUN servers as they are; TURN servers with credentials valid for `turn_ttl_secs`
    (none when no secret is configured: a TURN server without credentials is useless)."""
    servers: list[IceServer] = []
    stun = Voice.split(voice.stun_urls)
    if stun:
        servers.append(IceServer(urls=stun))
    turn = Voice.split(voice.turn_urls)
    if turn and voice.turn_secret:
        username = f"{int(now) + voice.turn_ttl_secs}:{user_id}"
        servers.append(IceServer(urls=turn, username=username,
                                 credential=turn_credential(voice.turn_secret, username)))
    return servers
