"""Key-server commands: load the decision state, apply chatalot/domain/keys/rules.py, append
events and update the decision tables, all in one short transaction.

Decision state: the key tables (account_identity_keys, account_signed_prekeys,
account_one_time_prekeys; migrations/0003), which a registration fills through
`record_initial_bundle` and a deletion empties through `discard_keys`, both inside the
account command's own transaction; key_prekey_alerts (migrations/0005) and, for sender
keys, the spaces decision tables (read through chatalot/spaces/access.py). Every other
command on a user's keys first locks that user's account_identity_keys row, so they run
one after another per user: a one-time prekey is handed out once, the 500 cap and the
KeysLow crossing are decided on exact counts, and the appends to the user's `keys-`
stream never race. The claim itself is also safe without that lock (DELETE ... FOR UPDATE
SKIP LOCKED).

A command that loses a race on a stream (KeysLow shares `user-<id>` with the account
commands) is retried whole by `run_command`; one that still loses after its attempts is a
409 conflict.

One module (~320 lines) while the key server is this small: every write to the key tables
is here, read in one place; split by capability (bundles, uploads, sender keys) when it
grows.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import msgspec
import psycopg

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.errors import DomainError, not_found
from chatalot.domain.keys import events as ev
from chatalot.domain.keys import rules
from chatalot.domain.spaces import permissions
from chatalot.domain.streams import keys_stream, sender_keys_stream, user_stream
from chatalot.request_info import RequestInfo
from chatalot.spaces.access import load_channel_access, may_contact, members_among
from event_store import NO_STREAM, ConcurrencyError, EventStore, Metadata

Conn = psycopg.AsyncConnection[Any]
T = TypeVar("T")


class KeysRuntime(Protocol):
    """What the key commands need (the accounts runtime provides it)."""

    @property
    def store(self) -> EventStore: ...

    def now(self) -> datetime: ...


# -- running a command -------------------------------------------------------------------------


async def run_key_command(rt: KeysRuntime, meta: Metadata, work: Callable[[Tx], Awaitable[T]]
               ) -> tuple[T, str]:
    """`run_command`, with a race still lost after its retries answered as 409 conflict."""
    try:
        return await run_command(rt.store, meta, rt.now, work)
    except ConcurrencyError:
        raise _keys_changed() from None


def _keys_changed() -> DomainError:
    return DomainError("conflict", "the keys changed concurrently; retry")


async def lock_identity(tx: Tx, user_id: uuid.UUID) -> bytes:
    """The user's identity key, its row locked until commit: the per-user key lock.
    404 when the user has no keys (unknown or deleted account)."""
    row = await tx.fetchone(
        "SELECT identity_key FROM account_identity_keys WHERE user_id = %s FOR UPDATE",
        (user_id,))
    if row is None:
        raise not_found("no such user")
    return bytes(row["identity_key"])


async def _identity_key(rt: KeysRuntime, user_id: uuid.UUID) -> bytes:
    """Read without a lock; a command whose check depends on it compares it with the
    locked one (an identity replacement, keys/identity.py, may land in between)."""
    async with rt.store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT identity_key FROM account_identity_keys WHERE user_id = %s", (user_id,))
        row = await cur.fetchone()
    if row is None:
        raise not_found("no such user")
    return bytes(row[0])


async def _count_one_time(tx: Tx, user_id: uuid.UUID) -> int:
    row = await tx.fetchone(
        "SELECT count(*) AS n FROM account_one_time_prekeys WHERE user_id = %s", (user_id,))
    return int(row["n"]) if row else 0


# -- bundles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    user_id: uuid.UUID
    identity_key: bytes
    signed_prekey: rules.SignedPrekey
    one_time_prekey: tuple[int, bytes] | None
    position: str | None


CLAIM_ONE_TIME_PREKEY = (
    "DELETE FROM account_one_time_prekeys WHERE ctid = ("
    " SELECT ctid FROM account_one_time_prekeys WHERE user_id = %s"
    " ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING key_id, public_key"
)


async def fetch_bundle(rt: KeysRuntime, caller: uuid.UUID, owner: uuid.UUID,
                       info: RequestInfo, *, take_reserve: Callable[[], Awaitable[bool]]
                       ) -> Bundle:
    """Hand out `owner`'s identity key, current signed prekey and one one-time prekey,
    which is deleted in the same transaction as its `OneTimePrekeyClaimed` event. One of
    the owner's last few (rules.in_reserve) only when `take_reserve()` grants it.

    Fetching one's own bundle claims nothing (there is no X3DH with oneself). When the
    owner is left with fewer than 20 one-time prekeys and was not told since their last
    upload back to 20, `KeysLow` is appended to their user stream.
    """
    meta = info.metadata("fetch_prekey_bundle", caller)

    async def work(tx: Tx) -> Bundle:
        identity = await lock_identity(tx, owner)
        blocked = await tx.fetchone(
            "SELECT 1 AS x FROM account_blocks WHERE user_id = %s AND blocked_user_id = %s",
            (owner, caller)) if caller != owner else None
        rules.check_bundle_access(caller, owner, blocked is not None,
                                  await may_contact(tx.conn, caller, owner))
        spk = await tx.fetchone(
            "SELECT key_id, public_key, signature FROM account_signed_prekeys"
            " WHERE user_id = %s ORDER BY uploaded DESC LIMIT 1", (owner,))
        if spk is None:
            raise not_found("this user has no signed prekey")
        signed = rules.SignedPrekey(int(spk["key_id"]), bytes(spk["public_key"]),
                                    bytes(spk["signature"]))
        if caller == owner:
            return Bundle(owner, identity, signed, None, None)
        claimed = None
        remaining = await _count_one_time(tx, owner)
        if remaining and (not rules.in_reserve(remaining) or await take_reserve()):
            claimed = await tx.fetchone(CLAIM_ONE_TIME_PREKEY, (owner,))
            remaining = await _count_one_time(tx, owner)
        one_time: tuple[int, bytes] | None = None
        cause = meta
        if claimed is not None:
            one_time = (int(claimed["key_id"]), bytes(claimed["public_key"]))
            event = tx.event(ev.OneTimePrekeyClaimed(
                user_id=owner, key_id=one_time[0], claimed_by=caller, remaining=remaining))
            tx.append(keys_stream(owner), event)
            cause = meta.caused_by(event.event_id)
        if remaining < rules.KEYS_LOW_THRESHOLD:
            sent = await tx.execute(
                "INSERT INTO key_prekey_alerts (user_id, remaining, sent_at)"
                " VALUES (%s, %s, %s) ON CONFLICT (user_id) DO NOTHING",
                (owner, remaining, tx.now))
            if rules.should_send_keys_low(remaining, already_sent=not sent):
                tx.append(user_stream(owner), tx.event(
                    ev.KeysLow(user_id=owner, remaining=remaining), cause))
        return Bundle(owner, identity, signed, one_time, None)

    try:  # one's own bundle, or no one-time prekey left and KeysLow sent: nothing to log
        bundle, position = await run_command(rt.store, meta, rt.now, work,
                                             may_record_nothing=True)
    except ConcurrencyError:
        raise _keys_changed() from None
    return dataclasses.replace(bundle, position=position)


# -- the initial bundle ------------------------------------------------------------------------


async def record_initial_bundle(tx: Tx, user_id: uuid.UUID, bundle: rules.InitialBundle
                                ) -> None:
    """Store a new account's bundle (checked by rules.check_initial_bundle) inside the
    registration's own transaction `tx`, and open its `keys-` stream with the three key
    events. No key lock is taken: the identity row is inserted here, so nothing else can
    hold it until the registration commits."""
    await tx.execute(
        "INSERT INTO account_identity_keys (user_id, identity_key, fingerprint)"
        " VALUES (%s, %s, %s)", (user_id, bundle.identity_key, bundle.fingerprint))
    await store_prekeys(tx, user_id, bundle)
    tx.append(keys_stream(user_id), ev.IdentityKeyRegistered(
        user_id=user_id, identity_key=rules.b64encode(bundle.identity_key),
        fingerprint=bundle.fingerprint), *prekey_events(user_id, bundle), expected=NO_STREAM)


async def store_prekeys(tx: Tx, user_id: uuid.UUID, bundle: rules.InitialBundle) -> None:
    """Insert a bundle's signed prekey and one-time prekeys (registration, replacement)."""
    spk = bundle.signed_prekey
    await tx.execute(
        "INSERT INTO account_signed_prekeys (user_id, key_id, public_key, signature,"
        " created_at) VALUES (%s, %s, %s, %s, %s)",
        (user_id, spk.key_id, spk.public_key, spk.signature, tx.now))
    if bundle.one_time:
        async with tx.conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO account_one_time_prekeys (user_id, key_id, public_key)"
                " VALUES (%s, %s, %s)", [(user_id, k, p) for k, p in bundle.one_time])


def prekey_events(user_id: uuid.UUID, bundle: rules.InitialBundle) -> list[msgspec.Struct]:
    """`SignedPrekeyUploaded` and (when any) `OneTimePrekeysUploaded` for a whole bundle."""
    b64, spk = rules.b64encode, bundle.signed_prekey
    events: list[msgspec.Struct] = [ev.SignedPrekeyUploaded(
        user_id=user_id, key_id=spk.key_id, public_key=b64(spk.public_key),
        signature=b64(spk.signature))]
    if bundle.one_time:
        events.append(ev.OneTimePrekeysUploaded(user_id=user_id, prekeys=[
            ev.PrekeyUpload(k, b64(p)) for k, p in bundle.one_time]))
    return events


async def discard_keys(tx: Tx, user_id: uuid.UUID) -> None:
    """Delete every key of an account being deleted, inside the deletion's transaction (no
    key event: the deletion's `UserDeleted` says it, and the sender-keys read model forgets
    the user on it)."""
    await tx.execute("DELETE FROM account_one_time_prekeys WHERE user_id = %s", (user_id,))
    await tx.execute("DELETE FROM account_signed_prekeys WHERE user_id = %s", (user_id,))
    await tx.execute("DELETE FROM account_identity_keys WHERE user_id = %s", (user_id,))


# -- prekey uploads ----------------------------------------------------------------------------


async def upload_signed_prekey(rt: KeysRuntime, user_id: uuid.UUID, key_id: int,
                               public_key: str, signature: str, info: RequestInfo
                               ) -> tuple[int, str]:
    """A new signed prekey, verified with the account's identity key; it becomes the one
    bundles hand out. The current one and the two before it are kept; a key id among them
    is 409."""
    identity = await _identity_key(rt, user_id)
    spk = rules.check_signed_prekey(identity, key_id, public_key, signature)

    async def work(tx: Tx) -> None:
        if await lock_identity(tx, user_id) != identity:  # replaced since the check
            raise _keys_changed()
        clash = await tx.fetchone(
            "SELECT 1 AS x FROM account_signed_prekeys WHERE user_id = %s AND key_id = %s",
            (user_id, spk.key_id))
        if clash is not None:
            raise DomainError("conflict", f"signed prekey {spk.key_id} is already stored")
        await tx.execute(
            "INSERT INTO account_signed_prekeys (user_id, key_id, public_key, signature,"
            " created_at) VALUES (%s, %s, %s, %s, %s)",
            (user_id, spk.key_id, spk.public_key, spk.signature, tx.now))
        await tx.execute(
            "DELETE FROM account_signed_prekeys WHERE user_id = %s AND uploaded NOT IN ("
            " SELECT uploaded FROM account_signed_prekeys WHERE user_id = %s"
            " ORDER BY uploaded DESC LIMIT %s)", (user_id, user_id, rules.SIGNED_PREKEYS_KEPT))
        tx.append(keys_stream(user_id), ev.SignedPrekeyUploaded(
            user_id=user_id, key_id=spk.key_id, public_key=rules.b64encode(spk.public_key),
            signature=rules.b64encode(spk.signature)))

    _, position = await run_key_command(rt, info.metadata("upload_signed_prekey", user_id), work)
    return spk.key_id, position


async def upload_one_time_prekeys(rt: KeysRuntime, user_id: uuid.UUID,
                                  items: Sequence[rules.PrekeyItem], info: RequestInfo
                                  ) -> tuple[int, str]:
    """Store a batch of one-time prekeys; returns (count stored now, position).

    All or nothing: a malformed or small-order key is 400, an id used twice or already
    stored 409, more than 500 stored 422 limit_reached.
    """
    batch = rules.check_one_time_batch(items)

    async def work(tx: Tx) -> int:
        await lock_identity(tx, user_id)
        ids = [key_id for key_id, _ in batch]
        rows = await tx.fetchall(
            "SELECT key_id FROM account_one_time_prekeys WHERE user_id = %s"
            " AND key_id = ANY(%s)", (user_id, ids))
        rules.check_new_ids([int(r["key_id"]) for r in rows])
        stored = await _count_one_time(tx, user_id)
        rules.check_capacity(stored, len(batch))
        await tx.execute(
            "INSERT INTO account_one_time_prekeys (user_id, key_id, public_key)"
            " SELECT %s, k, p FROM unnest(%s::bigint[], %s::bytea[]) AS b(k, p)",
            (user_id, ids, [public for _, public in batch]))
        count = stored + len(batch)
        if rules.rearms_keys_low(count):
            await tx.execute("DELETE FROM key_prekey_alerts WHERE user_id = %s", (user_id,))
        tx.append(keys_stream(user_id), ev.OneTimePrekeysUploaded(
            user_id=user_id, prekeys=[ev.PrekeyUpload(k, rules.b64encode(p)) for k, p in batch]))
        return count

    return await run_key_command(rt, info.metadata("upload_one_time_prekeys", user_id), work)


# -- sender keys --------------------------------------------------------------------------------


async def distribute_sender_key(rt: KeysRuntime, sender: uuid.UUID, channel_id: uuid.UUID,
                                chain_id: int, items: Sequence[rules.DistributionItem],
                                info: RequestInfo) -> tuple[int, str]:
    """Store one encrypted copy of the sender's distribution per recipient: one
    `SenderKeyUpdated` each, addressed to its recipient, in one append.

    The channel must exist (404); the sender and every recipient must be members of it
    (403 for the sender, 400 naming a recipient); their membership rows stay locked until
    commit, so a removal lands after this in the log (and then requires a rotation).
    """
    identity = await _identity_key(rt, sender)
    copies = rules.check_distributions(sender, items, identity)

    async def work(tx: Tx) -> int:
        recipients = [recipient for recipient, _ in copies]
        permissions.require_read(
            await load_channel_access(tx.conn, channel_id, sender, lock=True))
        members = await members_among(tx.conn, channel_id, recipients, lock=True)
        permissions.require_recipients(recipients, members)
        tx.append(sender_keys_stream(channel_id, sender), *(
            ev.SenderKeyUpdated(channel_id=channel_id, sender_id=sender,
                                recipient_id=recipient, chain_id=chain_id,
                                envelope=rules.b64encode(envelope))
            for recipient, envelope in copies))
        return len(copies)

    return await run_key_command(rt, info.metadata("distribute_sender_key", sender), work)
