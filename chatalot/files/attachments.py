"""The files port for messaging: what a `message_type: file` message may reference.

A file message names a file by id (its body, plaintext JSON or inside the E2E ciphertext,
is `{file_id, filename, size}`, protocol.md). When the server can see that id (a plaintext
message, or a `file_id` the client declares beside the ciphertext), the send command asks
`attachable_file` inside its own transaction:

    from chatalot.files.attachments import attachable_file
    attached = await attachable_file(tx.conn, file_id, channel_id, sender_id)

It answers 404 for an unknown or deleted file, 400 for a file uploaded into another
channel (access to a file is membership of the channel it was uploaded for) or by someone
else, 403 for a quarantined one. The file's row is held FOR KEY SHARE until the
transaction ends, so a concurrent deletion lands after the message in the log; the
messaging read side then shows the file as removed on `FileDeleted` (its `file_id` and
`channel_id` say which).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import psycopg

from chatalot.domain.errors import bad_request, forbidden, not_found

Conn = psycopg.AsyncConnection[Any]


class AttachedFile(msgspec.Struct, frozen=True, kw_only=True):
    file_id: uuid.UUID
    channel_id: uuid.UUID
    uploader_id: uuid.UUID
    filename: str
    size_bytes: int
    content_type: str
    encrypted: bool


async def attachable_file(conn: Conn, file_id: uuid.UUID, channel_id: uuid.UUID,
                          sender_id: uuid.UUID) -> AttachedFile:
    cur = await conn.execute(
        "SELECT channel_id, uploader_id, filename, size_bytes, content_type, encrypted,"
        " quarantined FROM file_records WHERE file_id = %s FOR KEY SHARE", (file_id,))
    row = await cur.fetchone()
    if row is None:
        raise not_found("no such file")
    if row[0] != channel_id:
        raise bad_request("the file was uploaded for another channel")
    if row[1] != sender_id:
        raise bad_request("only the file's uploader may post it")
    if row[6]:
        raise forbidden("this file is quarantined")
    return AttachedFile(file_id=file_id, channel_id=row[0], uploader_id=row[1],
                        filename=row[2], size_bytes=int(row[3]), content_type=row[4],
                        encrypted=row[5])
