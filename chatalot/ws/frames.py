"""The gateway's wire shapes: client frames in, server frames out (protocol.md, "/ws").

A client frame is a JSON object `{"type": ..., "ref"?: ..., <body>}`. It is decoded in
two steps: the envelope (`type`, `ref`) first, then the rest into the body Struct the
frame type names. Command frames decode into the very Struct the REST route takes
(`chatalot/<context>/contracts.py`), so a bound checked on REST is checked here too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from chatalot.contracts import Body

Ref = Annotated[str, msgspec.Meta(max_length=64)]
ChannelIds = Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=500)]
Sdp = Annotated[str, msgspec.Meta(min_length=1, max_length=64 * 1024)]
SessionId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
PresenceStatus = Literal["online", "idle", "dnd", "invisible", "offline"]


class FrameError(Exception):
    """A malformed frame: answered `error bad_request`, the socket stays open."""

    def __init__(self, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.ref = ref


# -- client frames --------------------------------------------------------------------


class Authenticate(Body):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
    resume_after: str | None = None


class Ping(Body):
    timestamp: int | float | str | None = None


class ChannelSet(Body):
    channel_ids: ChannelIds


class ChannelRef(Body):
    channel_id: uuid.UUID


class UpdatePresence(Body):
    status: PresenceStatus


class KickFromVoice(Body):
    channel_id: uuid.UUID
    user_id: uuid.UUID


class RtcDescription(Body):
    target_user_id: uuid.UUID
    session_id: SessionId
    sdp: Sdp


class RtcIceCandidate(Body):
    target_user_id: uuid.UUID
    session_id: SessionId
    candidate: Annotated[str, msgspec.Meta(max_length=4096)] | dict[str, Any]


@dataclass(frozen=True)
class Frame:
    type: str
    ref: str | None
    body: Any


_ENVELOPE_DECODER = msgspec.json.Decoder(dict[str, Any])


def decode_frame(raw: str | bytes, bodies: dict[str, type[Any]]) -> Frame:
    """The frame, or FrameError (never anything else) for bad JSON, an unknown type or a
    bad field."""
    try:
        obj = _ENVELOPE_DECODER.decode(raw)
    except msgspec.DecodeError:
        raise FrameError("a frame is one JSON object") from None
    ref = obj.pop("ref", None)
    if ref is not None and (not isinstance(ref, str) or len(ref) > 64):
        raise FrameError("ref: a string of at most 64 characters")
    kind = obj.pop("type", None)
    body_type = bodies.get(kind) if isinstance(kind, str) else None
    if body_type is None:
        raise FrameError(f"unknown frame type {str(kind)[:40]!r}", ref)
    try:
        body = msgspec.convert(obj, body_type, strict=False)
    except msgspec.ValidationError as exc:
        raise FrameError(str(exc), ref) from None
    return Frame(kind, ref, body)


# -- server frames --------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
encode: Callable[[Any], bytes] = _encoder.encode


def error_frame(code: str, message: str, ref: str | None = None,
                retry_after_secs: int | None = None) -> bytes:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    if retry_after_secs is not None:
        frame["retry_after_secs"] = retry_after_secs
    return encode(frame)


def ack_frame(ref: str | None, position: str | None = None) -> bytes:
    frame: dict[str, Any] = {"type": "ack", "ref": ref}
    if position is not None:
        frame["position"] = position
    return encode(frame)


def frame(kind: str, **fields: Any) -> bytes:
    return encode({"type": kind, **fields})
