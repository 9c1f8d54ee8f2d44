"""Replacing an account's identity key (`PUT /keys/identity`, issue 15): a device that lost
its key file registers a whole new bundle.

The password is checked like a login (accounts' `verify_own_password`: lockout included,
a wrong one is 403). Then, under the owner's key lock, the old identity key, every signed
and one-time prekey and the keys-low alert are replaced by the new bundle, checked exactly
as a registration's (`rules.check_initial_bundle`). `IdentityKeyReplaced` names the users
who share a channel with the owner right now (`channel_members`), whom the gateway tells
(`identity_key_changed`); clients show it as a key change before using the new key.
"""

from __future__ import annotations

import uuid

import msgspec

from chatalot.accounts.commands.login import verify_own_password
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.command_tx import CommandTx as Tx
from chatalot.domain.errors import DomainError
from chatalot.domain.keys import events as ev
from chatalot.domain.keys import rules
from chatalot.domain.streams import keys_stream
from chatalot.keys import commands
from chatalot.keys.contracts import IdentityReplacement
from chatalot.request_info import RequestInfo

SHARING_A_CHANNEL = (
    "SELECT DISTINCT other.user_id FROM channel_members mine"
    " JOIN channel_members other ON other.channel_id = mine.channel_id"
    " WHERE mine.user_id = %s AND other.user_id <> %s ORDER BY other.user_id"
)


async def replace_identity(rt: commands.KeysRuntime, accounts: AccountsRuntime,
                           user_id: uuid.UUID, req: IdentityReplacement, info: RequestInfo
                           ) -> tuple[str, str]:
    """Returns (the new key's fingerprint, position). 409 when the key is already the
    account's (nothing to replace: a retry, or a client confused about its state)."""
    bundle = rules.check_initial_bundle(req.identity_key, req.signed_prekey,
                                        req.one_time_prekeys)
    await verify_own_password(accounts, info, "replace_identity_key", user_id, req.password)

    async def work(tx: Tx) -> None:
        if await commands.lock_identity(tx, user_id) == bundle.identity_key:
            raise DomainError("conflict", "that is already the account's identity key")
        for table in ("account_one_time_prekeys", "account_signed_prekeys",
                      "key_prekey_alerts"):
            await tx.execute(f"DELETE FROM {table} WHERE user_id = %s", (user_id,))
        await tx.execute(
            "UPDATE account_identity_keys SET identity_key = %s, fingerprint = %s"
            " WHERE user_id = %s", (bundle.identity_key, bundle.fingerprint, user_id))
        rows = await tx.fetchall(SHARING_A_CHANNEL, (user_id, user_id))
        await commands.store_prekeys(tx, user_id, bundle)
        b64 = rules.b64encode
        events: list[msgspec.Struct] = [ev.IdentityKeyReplaced(
            user_id=user_id, identity_key=b64(bundle.identity_key),
            fingerprint=bundle.fingerprint, shared_with=[r["user_id"] for r in rows])]
        events += commands.prekey_events(user_id, bundle)
        tx.append(keys_stream(user_id), *events)

    _, position = await commands.run_key_command(
        rt, info.metadata("replace_identity_key", user_id), work)
    return bundle.fingerprint, position
