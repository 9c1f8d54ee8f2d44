"""The Python SDK (clients/python, chatalot_sdk) as the browser test's other client: one
command per run, the account's keys, sessions and tokens in its key file between runs,
the answer as JSON on stdout.

    sdk_peer.py register SERVER KEY_FILE USERNAME PASSWORD DISPLAY_NAME  -> {"user_id"}
    sdk_peer.py dms SERVER KEY_FILE                      -> [{channel_id, peer, messages}]
    sdk_peer.py send-dm SERVER KEY_FILE PEER_ID TEXT     -> {"channel_id", "id"}
    sdk_peer.py join-invite SERVER KEY_FILE CODE         -> the server's answer
    sdk_peer.py safety-number SERVER KEY_FILE PEER_ID    -> {"number"} (60 digits)
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

from chatalot_sdk import Client

PASSPHRASE = "the sdk peer's key file passphrase"  # noqa: S105 - a test key file
SCRYPT_N = 2**10  # a cheap KDF for a test key file (the value is kept in the file)


async def run(command: str, server: str, key_file: str, *args: str) -> Any:
    if command == "register":
        username, password, display_name = args
        client = await Client.register(server, username, password, key_file, PASSPHRASE,
                                       display_name=display_name, scrypt_n=SCRYPT_N)
        await client.close()
        return {"user_id": str(client.user_id)}
    client = await Client.open(key_file, PASSPHRASE)
    try:
        if command == "dms":
            out = []
            for dm in await client.spaces.dms():
                history = await client.messages.history(dm.channel.id)
                out.append({
                    "channel_id": str(dm.channel.id),
                    "peer": str(dm.other_user.id) if dm.other_user else None,
                    "messages": [{"sender_id": str(m.sender_id), "encryption": m.encryption,
                                  "text": m.text, "error": m.error} for m in history],
                })
            return out
        if command == "send-dm":
            peer = uuid.UUID(args[0])
            channel = await client.spaces.dm(peer)
            sent = await client.messages.send_text(channel, args[1], encryption="double_ratchet",
                                                   peer=peer)
            return {"channel_id": str(channel), "id": str(sent.id)}
        if command == "join-invite":
            return await client.rest.call("POST", f"/community-invites/{args[0]}/accept", dict)
        if command == "safety-number":
            return {"number": client.safety_number(uuid.UUID(args[0]))}
        raise SystemExit(f"unknown command {command!r}")
    finally:
        await client.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(*sys.argv[1:]))))
