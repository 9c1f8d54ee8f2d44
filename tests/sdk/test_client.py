"""The SDK's plumbing against a real server: typed errors with the server's code, the
transparent token refresh, prekey replenishment, and the key file (wrong passphrase, one
process at a time, nothing secret in the clear)."""

from __future__ import annotations

import pytest

from chatalot_sdk import Client, KeyStoreError
from chatalot_sdk.errors import Conflict, Forbidden, Unauthorized
from chatalot_sdk.keystore import Tokens, b64
from tests.sdk.conftest import PASSPHRASE, PASSWORD, SCRYPT_N, Server


async def test_errors_carry_the_servers_code(server: Server, clients: list[Client],
                                             tmp_path) -> None:
    alice = await server.register("alice")
    clients.append(alice)
    with pytest.raises(Unauthorized) as wrong:
        await Client.login(server.url, alice.username, "not the password at all",
                           tmp_path / "x.keys", PASSPHRASE, scrypt_n=SCRYPT_N)
    assert wrong.value.status == 401 and wrong.value.code == "unauthorized"
    with pytest.raises(Conflict):
        await Client.register(server.url, alice.username, PASSWORD, tmp_path / "y.keys",
                              PASSPHRASE, scrypt_n=SCRYPT_N)
    with pytest.raises(Forbidden):
        await alice.replace_identity("not the password at all")


async def test_an_expired_access_token_is_refreshed_and_kept(server: Server,
                                                             clients: list[Client]) -> None:
    alice = await server.register("alice")
    clients.append(alice)
    refresh = alice.store.state.tokens.refresh
    alice.rest.tokens = Tokens(access="not-a-token", refresh=refresh)
    assert (await alice.me()).id == alice.user_id
    assert alice.rest.tokens.access != "not-a-token"
    assert alice.store.state.tokens == alice.rest.tokens  # saved for the next run
    assert alice.store.state.tokens.refresh != refresh  # rotated
    await alice.close()
    clients.remove(alice)
    again = await Client.open(server.key_file(alice.username), PASSPHRASE)
    clients.append(again)
    assert (await again.me()).username == alice.username


async def test_prekeys_are_replenished_below_the_threshold(server: Server,
                                                           clients: list[Client]) -> None:
    alice = await server.register("alice", one_time_prekeys=5)
    clients.append(alice)
    assert await alice.replenish_prekeys() == 105
    assert await alice.replenish_prekeys() == 105  # enough: nothing uploaded
    assert len(alice.e2e.sessions.keys.one_time_prekeys) == 105


async def test_the_key_file(server: Server, clients: list[Client]) -> None:
    alice = await server.register("alice")
    clients.append(alice)
    path = server.key_file(alice.username)
    raw = path.read_bytes()
    seed = alice.e2e.sessions.keys.identity.seed
    assert b64(seed).encode() not in raw and seed not in raw
    assert alice.store.state.tokens.refresh.encode() not in raw
    with pytest.raises(KeyStoreError, match="in use"):
        await Client.open(path, PASSPHRASE)
    await alice.close()
    clients.remove(alice)
    with pytest.raises(KeyStoreError, match="passphrase"):
        await Client.open(path, "the wrong passphrase")
    with pytest.raises(KeyStoreError, match="exists"):
        await Client.register(server.url, "newname", PASSWORD, path, PASSPHRASE)
    # login without the key file (a lost device): new keys, registered over the old ones
    path.rename(path.with_suffix(".lost"))
    again = await Client.login(server.url, alice.username, PASSWORD, path, PASSPHRASE,
                               scrypt_n=SCRYPT_N)
    clients.append(again)
    assert again.user_id == alice.user_id
    assert again.e2e.identity_key != alice.e2e.identity_key
