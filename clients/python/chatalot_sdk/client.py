"""The SDK's entry point: an account on a server, its key file, and E2E on every call.

    client = await Client.register(url, "alice", password, "alice.keys", passphrase)
    client = await Client.open("alice.keys", passphrase)        # a later run
    envelope = await client.encrypt_dm(bob_id, b"hi")           # X3DH on first use

Keys and sessions live in the key file (keystore.py); tokens too, so a later run goes on
with the stored session (refreshed transparently) without the password.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from chatalot_crypto import LocalKeys, SessionStore
from chatalot_sdk import errors
from chatalot_sdk.e2e import E2E, REGISTRATION_PREKEYS, new_bundle
from chatalot_sdk.http import Rest
from chatalot_sdk.keystore import SCRYPT_N, KeyStore, State, Tokens, b64, unb64
from chatalot_sdk.live import Live, handle_frame
from chatalot_sdk.messages import Messaging
from chatalot_sdk.models import (
    Announcement,
    AuthReply,
    CountReply,
    Dismissed,
    IdentityReply,
    KeyBundle,
    Me,
    PrekeyCount,
    StoredSenderKey,
)
from chatalot_sdk.spaces import Spaces

PREKEYS_LOW = 20  # the server's keys_low threshold (crypto.md)
PREKEY_BATCH = 100
DISTRIBUTIONS_PER_REQUEST = 100  # the server's limit per POST /sender-keys


class Client:
    def __init__(self, rest: Rest, store: KeyStore, e2e: E2E) -> None:
        self.rest = rest
        self.store = store
        self.e2e = e2e
        self.messages = Messaging(self)
        self._locks: dict[tuple[str, uuid.UUID], asyncio.Lock] = {}
        self.spaces = Spaces(self)

    @property
    def user_id(self) -> uuid.UUID:
        return self.e2e.user_id

    @property
    def username(self) -> str:
        return self.store.state.username

    def __repr__(self) -> str:
        return f"Client({self.rest.base_url!r}, user={self.username!r})"

    # -- starting -------------------------------------------------------------------------

    @classmethod
    async def register(cls, server: str, username: str, password: str,
                       key_file: str | Path, passphrase: str, *,
                       display_name: str | None = None, invite_code: str | None = None,
                       one_time_prekeys: int = REGISTRATION_PREKEYS,
                       scrypt_n: int = SCRYPT_N, **rest_options: Any) -> Client:
        """A new account with new keys. The key file is written before the server hears of
        the keys, so they are never known to the server alone."""
        keys, fields, store = _new_key_file(server, username, key_file, passphrase,
                                            one_time_prekeys, scrypt_n)
        rest = Rest(server, **rest_options)
        try:
            body: dict[str, Any] = {"username": username, "password": password, **fields}
            if display_name is not None:
                body["display_name"] = display_name
            if invite_code is not None:
                body["invite_code"] = invite_code
            reply = await rest.call("POST", "/auth/register", AuthReply, json=body, auth=False)
        except BaseException:
            await rest.close()
            store.close()
            raise
        return await cls._started(rest, store, keys, reply)

    @classmethod
    async def login(cls, server: str, username: str, password: str, key_file: str | Path,
                    passphrase: str, *, totp_code: str | None = None,
                    device_name: str | None = None, scrypt_n: int = SCRYPT_N,
                    **rest_options: Any) -> Client:
        """Log in with the keys of `key_file`; without one (a lost or new device) new keys
        are made and registered with PUT /keys/identity, which everyone who shares a
        channel with the account sees as a key change."""
        rest = Rest(server, **rest_options)
        body: dict[str, Any] = {"username": username, "password": password}
        if totp_code is not None:
            body["totp_code"] = totp_code
        if device_name is not None:
            body["device_name"] = device_name
        try:
            reply = await rest.call("POST", "/auth/login", AuthReply, json=body, auth=False)
            if Path(key_file).exists():  # noqa: ASYNC240 - the key file is local and small
                store = KeyStore.open(key_file, passphrase)
                if store.state.user_id != reply.user.id:
                    store.close()
                    raise errors.KeyStoreError("the key file belongs to another account")
                client = cls(rest, store, E2E(store))
                await client._tokens(Tokens(access=reply.access_token,
                                            refresh=reply.refresh_token))
                return client
            keys, fields, store = _new_key_file(server, username, key_file, passphrase,
                                                PREKEY_BATCH, scrypt_n)
        except BaseException:
            await rest.close()
            raise
        client = await cls._started(rest, store, keys, reply)
        await client.rest.call("PUT", "/keys/identity", IdentityReply,
                               json={**fields, "password": password})
        return client

    @classmethod
    async def open(cls, key_file: str | Path, passphrase: str, **rest_options: Any
                   ) -> Client:
        """A later run: the account, keys and tokens of the key file."""
        store = KeyStore.open(key_file, passphrase)
        if store.state.tokens is None or store.state.user_id is None:
            store.close()
            raise errors.KeyStoreError("the key file holds no session: log in")
        rest = Rest(store.state.server, tokens=store.state.tokens, **rest_options)
        client = cls(rest, store, E2E(store))
        rest.on_tokens = client._tokens
        return client

    @classmethod
    async def _started(cls, rest: Rest, store: KeyStore, keys: LocalKeys, reply: AuthReply
                       ) -> Client:
        store.state.username = reply.user.username
        e2e = E2E.initialise(store, reply.user.id, keys)
        client = cls(rest, store, e2e)
        await client._tokens(Tokens(access=reply.access_token, refresh=reply.refresh_token))
        return client

    async def _tokens(self, tokens: Tokens) -> None:
        self.rest.tokens = tokens
        self.rest.on_tokens = self._tokens
        self.store.state.tokens = tokens
        self.store.save()

    async def close(self) -> None:
        await self.rest.close()
        self.store.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- live events --------------------------------------------------------------------

    def live(self, **options: float) -> Live:
        """The /ws connection; `async for item in client.live()` yields typed items
        (models.Message, SenderKeyReceived, KeyChanged, Event), reconnecting and resuming
        by itself."""
        return Live(self, **options)

    async def handle(self, frame: dict[str, Any]) -> list[Any]:
        return await handle_frame(self, frame)

    # -- account --------------------------------------------------------------------------

    async def me(self) -> Me:
        return await self.rest.call("GET", "/account/me", Me)

    # -- announcements --------------------------------------------------------------------

    async def announcements(self, *, min_position: str | None = None) -> list[Announcement]:
        """The instance announcements this user has not dismissed, newest first."""
        return await self.rest.call("GET", "/announcements", list[Announcement],
                                    min_position=min_position)

    async def dismiss_announcement(self, announcement_id: uuid.UUID | str) -> str | None:
        """Hide it for this user; the position to read one's writes at (None when it was
        dismissed already). An unknown id raises errors.NotFound."""
        return (await self.rest.call("POST", f"/announcements/{announcement_id}/dismiss",
                                     Dismissed)).position

    # -- keys -----------------------------------------------------------------------------

    async def prekey_count(self) -> int:
        return (await self.rest.call("GET", "/keys/prekeys/count", PrekeyCount)).count

    async def replenish_prekeys(self, *, below: int = PREKEYS_LOW,
                                batch: int = PREKEY_BATCH) -> int:
        """Upload a batch of one-time prekeys when the server holds fewer than `below`
        (on keys_low, or at start). Returns how many the server holds after."""
        count = await self.prekey_count()
        if count >= below:
            return count
        items = self.e2e.more_prekeys(batch)
        reply = await self.rest.call("POST", "/keys/prekeys/one-time", CountReply, json=items)
        return reply.count

    async def replace_identity(self, password: str) -> str:
        """New keys for this account (the old ones are compromised or lost), replacing the
        key file's; returns the new fingerprint."""
        keys, fields = new_bundle(PREKEY_BATCH)
        self.e2e.sessions = SessionStore(keys)
        self.store.state.next_one_time_prekey_id = PREKEY_BATCH + 1
        self.store.state.distributed = {}
        self.e2e.save()
        reply = await self.rest.call("PUT", "/keys/identity", IdentityReply,
                                     json={**fields, "password": password})
        return reply.fingerprint

    def safety_number(self, peer: uuid.UUID) -> str | None:
        return self.e2e.safety_number(peer)

    def key_changes(self) -> dict[uuid.UUID, bytes]:
        return self.e2e.pending_key_changes()

    def trust_identity(self, peer: uuid.UUID) -> None:
        self.e2e.trust_identity(peer)

    # -- DMs ------------------------------------------------------------------------------

    async def ensure_session(self, peer: uuid.UUID) -> None:
        """A DM session with `peer`, by X3DH over their bundle when there is none (or only
        one with a key no longer trusted). Raises IdentityKeyChanged when the bundle's key
        is not the pinned one."""
        async with self._lock("session", peer):  # concurrent sends share one X3DH
            if self.e2e.has_session(peer):
                return
            bundle = await self.rest.call("GET", f"/keys/{peer}/bundle", KeyBundle)
            self.e2e.start_session(peer, bundle)

    def _lock(self, kind: str, key: uuid.UUID) -> asyncio.Lock:
        return self._locks.setdefault((kind, key), asyncio.Lock())

    async def encrypt_dm(self, peer: uuid.UUID, plaintext: bytes) -> str:
        """The base64 DM envelope for `peer` (the message's `ciphertext`; nonce empty)."""
        await self.ensure_session(peer)
        return b64(self.e2e.encrypt_dm(peer, plaintext))

    def decrypt_dm(self, sender: uuid.UUID, ciphertext: str) -> bytes:
        try:
            envelope = unb64(ciphertext)
        except ValueError:
            raise errors.DecryptFailed("ciphertext is not base64") from None
        return self.e2e.decrypt_dm(sender, envelope)

    # -- sender keys ----------------------------------------------------------------------

    async def share_sender_key(self, channel: uuid.UUID, members: list[uuid.UUID]) -> int:
        """Send my current chain of `channel` (started if none) to every member who does
        not hold it yet, each as a DM envelope of our pairwise session. Returns how many
        copies were sent. A member whose key changed is skipped until trusted."""
        async with self._lock("chain", channel):  # concurrent sends distribute once
            return await self._share_sender_key(channel, members)

    async def _share_sender_key(self, channel: uuid.UUID, members: list[uuid.UUID]) -> int:
        chain_id, distribution, _ = self.e2e.sending_chain(channel)
        have = self.e2e.holders(channel)
        todo = [m for m in members if m != self.user_id and m not in have]
        copies: list[dict[str, str]] = []
        for member in todo:
            try:
                envelope = await self.encrypt_dm(member, distribution)
            except errors.IdentityKeyChanged:
                continue
            copies.append({"recipient_id": str(member), "envelope": envelope})
        sent = 0
        for start in range(0, len(copies), DISTRIBUTIONS_PER_REQUEST):
            part = copies[start:start + DISTRIBUTIONS_PER_REQUEST]
            await self.rest.call("POST", f"/channels/{channel}/sender-keys", CountReply,
                                 json={"chain_id": chain_id, "distributions": part})
            self.e2e.mark_distributed(channel, [uuid.UUID(c["recipient_id"]) for c in part])
            sent += len(part)
        return sent

    async def fetch_sender_keys(self, channel: uuid.UUID, *, min_position: str | None = None
                                ) -> list[errors.ChatalotError]:
        """Take in every sender-key copy addressed to me in `channel`, oldest first, as the
        server knows them at `min_position` at least. The ones that fail are returned (to
        be shown), the others stored."""
        stored = await self.rest.call("GET", f"/channels/{channel}/sender-keys",
                                      list[StoredSenderKey], min_position=min_position)
        failures: list[errors.ChatalotError] = []
        for item in reversed(stored):
            try:
                self.accept_sender_key(channel, item.sender_id, item.envelope)
            except errors.ChatalotError as exc:
                failures.append(exc)
        return failures

    def accept_sender_key(self, channel: uuid.UUID, sender: uuid.UUID, envelope: str
                          ) -> bool:
        """One copy (from GET /sender-keys or a `sender_key_updated` event)."""
        try:
            raw = unb64(envelope)
        except ValueError:
            raise errors.DecryptFailed("envelope is not base64") from None
        try:
            return self.e2e.accept_distribution(channel, sender, raw)
        except errors.DecryptFailed as exc:
            # a copy already taken in is a duplicate in its session: not a failure
            if "DuplicateMessage" in exc.reason:
                return False
            raise

    def rotate_sender_key(self, channel: uuid.UUID) -> None:
        self.e2e.rotate(channel)

    async def encrypt_for_channel(self, channel: uuid.UUID, members: list[uuid.UUID],
                                  plaintext: bytes) -> str:
        """The base64 group envelope, after making sure every member holds my chain."""
        await self.share_sender_key(channel, members)
        return b64(self.e2e.encrypt_group(channel, plaintext))

    async def decrypt_channel(self, channel: uuid.UUID, sender: uuid.UUID, ciphertext: str,
                              *, position: str | None = None) -> bytes:
        """A group envelope; when its chain is unknown the sender keys are fetched once, as
        of the message's `position` (its chain was distributed before it was sent)."""
        try:
            envelope = unb64(ciphertext)
        except ValueError:
            raise errors.DecryptFailed("ciphertext is not base64") from None
        try:
            return self.e2e.decrypt_group(channel, sender, envelope)
        except errors.DecryptFailed as exc:
            if not exc.reason.startswith("UnknownSenderChain"):
                raise
        await self.fetch_sender_keys(channel, min_position=position)
        return self.e2e.decrypt_group(channel, sender, envelope)


def _new_key_file(server: str, username: str, key_file: str | Path, passphrase: str,
                  one_time: int, scrypt_n: int
                  ) -> tuple[LocalKeys, dict[str, Any], KeyStore]:
    """New keys, saved in a new key file before anything is published."""
    keys, fields = new_bundle(one_time)
    store = KeyStore.create(key_file, passphrase, State(
        server=server, username=username, sessions=SessionStore(keys).to_bytes(),
        next_one_time_prekey_id=one_time + 1), scrypt_n=scrypt_n)
    return keys, fields, store
