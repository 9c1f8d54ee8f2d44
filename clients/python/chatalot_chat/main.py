"""`chatalot-chat`: a terminal client on the SDK. Without a command it opens the TUI; the
commands are for scripts, bots and cron:

    chatalot-chat register --server URL --username NAME
    chatalot-chat login --server URL --username NAME
    chatalot-chat send --channel ID "text" [--reply-to MSG] [--plain]
    chatalot-chat dm --user ID "text"           # E2E, the DM made on first use
    chatalot-chat react --message ID EMOJI
    chatalot-chat history --channel ID [--limit N]
    chatalot-chat follow [--channel ID]       # one line per message, live
    chatalot-chat communities | channels | safety-number USER | trust USER | whoami

Secrets come from the environment when set (CHATALOT_PASSWORD, CHATALOT_PASSPHRASE), else
from a prompt; the key file is --key-file, $CHATALOT_KEY_FILE or ~/.config/chatalot/keys.
Exit status: 0 done, 1 refused by the server or a key problem (one line on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import uuid
from pathlib import Path

from chatalot_chat.session import Session, open_client
from chatalot_sdk import ChatalotError, Client
from chatalot_sdk.models import Message


def _secret(env: str, prompt: str) -> str:
    value = os.environ.get(env)
    return value if value is not None else getpass.getpass(prompt)


def _key_file(args: argparse.Namespace) -> Path:
    given = args.key_file or os.environ.get("CHATALOT_KEY_FILE")
    return Path(given) if given else Path.home() / ".config" / "chatalot" / "keys"


def line(message: Message) -> str:
    who = str(message.sender_id)[:8] if message.sender_id else "webhook"
    body = message.text if message.text is not None else f"[cannot decrypt: {message.error}]"
    return f"{message.id} {who}: {body}"


async def _run(args: argparse.Namespace) -> int:
    key_file = _key_file(args)
    if args.command in ("register", "login"):
        password = _secret("CHATALOT_PASSWORD", "password: ")
        passphrase = _secret("CHATALOT_PASSPHRASE", "key file passphrase: ")
        start = Client.register if args.command == "register" else Client.login
        client = await start(args.server, args.username, password, key_file, passphrase)
        print(f"{client.username} {client.user_id} fingerprint {client.e2e.fingerprint()}")
        await client.close()
        return 0
    if args.command is None:
        from chatalot_chat.tui import run_tui

        client = await open_client(key_file, _secret("CHATALOT_PASSPHRASE",
                                                     "key file passphrase: "))
        await run_tui(client)
        return 0
    client = await open_client(key_file, _secret("CHATALOT_PASSPHRASE",
                                                 "key file passphrase: "))
    session = Session(client)
    try:
        return await _command(args, session)
    finally:
        await client.close()


async def _command(args: argparse.Namespace, session: Session) -> int:
    client = session.client
    if args.command == "whoami":
        print(f"{client.username} {client.user_id} fingerprint {client.e2e.fingerprint()}")
    elif args.command == "send":
        sent = await session.send(uuid.UUID(args.channel), args.text, plain=args.plain,
                                  reply_to=uuid.UUID(args.reply_to) if args.reply_to else None)
        print(sent.id)
    elif args.command == "dm":
        dm = await client.spaces.dm(uuid.UUID(args.user))
        print((await session.send(dm, args.text)).id)
    elif args.command == "react":
        await client.messages.react(uuid.UUID(args.message), args.emoji)
    elif args.command == "communities":
        for community in await client.spaces.communities():
            print(f"{community.get('id')} {community.get('name', '')}".rstrip())
    elif args.command == "history":
        for message in await client.messages.history(uuid.UUID(args.channel),
                                                     limit=args.limit):
            print(line(message))
    elif args.command == "follow":
        only = uuid.UUID(args.channel) if args.channel else None
        async for item in client.live():
            if isinstance(item, Message) and (only is None or item.channel_id == only):
                print(line(item), flush=True)
    elif args.command == "channels":
        for channel in await session.channels():
            print(f"{channel.id} {channel.kind} {channel.name or ''}".rstrip())
    elif args.command == "safety-number":
        number = client.safety_number(uuid.UUID(args.user))
        print(number if number else "no key pinned for this user yet")
    elif args.command == "trust":
        client.trust_identity(uuid.UUID(args.user))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chatalot-chat", description=__doc__.split("\n\n")[0])
    p.add_argument("--key-file", help="the encrypted key file (default ~/.config/chatalot/keys)")
    sub = p.add_subparsers(dest="command")
    for name in ("register", "login"):
        s = sub.add_parser(name)
        s.add_argument("--server", required=True)
        s.add_argument("--username", required=True)
    s = sub.add_parser("send", help="send one message")
    s.add_argument("--channel", required=True)
    s.add_argument("--reply-to")
    s.add_argument("--plain", action="store_true", help="no E2E (if the channel allows)")
    s.add_argument("text")
    s = sub.add_parser("dm", help="send one E2E direct message")
    s.add_argument("--user", required=True)
    s.add_argument("text")
    s = sub.add_parser("react")
    s.add_argument("--message", required=True)
    s.add_argument("emoji")
    s = sub.add_parser("history")
    s.add_argument("--channel", required=True)
    s.add_argument("--limit", type=int, default=50)
    s = sub.add_parser("follow")
    s.add_argument("--channel")
    sub.add_parser("communities")
    sub.add_parser("channels")
    sub.add_parser("whoami")
    for name in ("safety-number", "trust"):
        sub.add_parser(name).add_argument("user")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except ChatalotError as exc:
        print(f"chatalot-chat: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"chatalot-chat: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
