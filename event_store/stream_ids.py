"""What a stream id may be: 1-200 characters of valid Unicode, no control characters."""

from __future__ import annotations

import re

from event_store.errors import InvalidStreamId

MAX_STREAM_ID = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def validate_stream_id(stream_id: str) -> None:
    if not isinstance(stream_id, str) or not stream_id:
        raise InvalidStreamId("stream id must be a non-empty string")
    if len(stream_id) > MAX_STREAM_ID:
        raise InvalidStreamId(f"stream id longer than {MAX_STREAM_ID} characters")
    if _CONTROL.search(stream_id):
        raise InvalidStreamId("stream id contains control characters")
    try:
        stream_id.encode()
    except UnicodeEncodeError:
        raise InvalidStreamId("stream id is not valid Unicode") from None
