"""The key file as a codec (no server): whatever the state, it reads back equal with the
passphrase; any changed byte, or another passphrase, is a KeyStoreError (never a wrong
state, never another exception); nothing of the state is readable in the file."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chatalot_sdk.errors import KeyStoreError
from chatalot_sdk.keystore import KeyStore, State, Tokens, unb64

N = 2**4  # the cheapest scrypt: this is about the file, not the KDF's cost

texts = st.text(min_size=1, max_size=40)
states = st.builds(
    State, server=st.just("http://chat.example"), user_id=st.uuids(), username=texts,
    sessions=st.binary(max_size=200), sender_keys=st.binary(max_size=200),
    pinned=st.dictionaries(st.uuids().map(str), st.binary(min_size=32, max_size=32),
                           max_size=3),
    tokens=st.builds(Tokens, access=texts, refresh=texts) | st.none(),
    position=texts | st.none(),
    plaintexts=st.dictionaries(st.uuids().map(str), texts, max_size=3))


def fresh_path() -> Path:
    return Path(tempfile.mkdtemp(prefix="chatalot-keyfile-")) / "keys"


@given(state=states, flip=st.integers(min_value=0))
@example(state=State(server="s", username="chatalot.keyfile", plaintexts={"m": "scrypt salt"}),
         flip=0)  # public words of the header, not the state leaking
def test_the_file_reads_back_and_refuses_any_change(state: State, flip: int) -> None:
    path = fresh_path()
    KeyStore.create(path, "passphrase", state, scrypt_n=N).close()
    store = KeyStore.open(path, "passphrase")
    assert store.state == state
    store.close()
    raw = bytearray(path.read_bytes())
    assert_nothing_readable(bytes(raw), [*state.plaintexts.values(), state.username])
    with pytest.raises(KeyStoreError):
        KeyStore.open(path, "another passphrase")
    index = flip % len(raw)
    raw[index] ^= 1 + flip % 255
    path.write_bytes(bytes(raw))
    with pytest.raises(KeyStoreError):
        KeyStore.open(path, "passphrase").close()


def assert_nothing_readable(raw: bytes, secrets: list[str]) -> None:
    """The header holds only the format's own words and the KDF's random inputs, the same
    whatever the state (a username may well be "chatalot"); the state is only in the
    ciphertext, where no secret may be read."""
    file = json.loads(raw)
    assert set(file) == {"header", "ciphertext"}
    header = file["header"]
    assert set(header) == {"format", "version", "kdf", "nonce"}
    assert (header["format"], header["version"]) == ("chatalot.keyfile", 1)
    assert set(header["kdf"]) == {"name", "salt", "n", "r", "p"}
    body = unb64(file["ciphertext"])
    for secret in secrets:
        if len(secret) >= 8:
            assert secret.encode() not in body
            assert secret.encode() not in file["ciphertext"].encode()


def test_a_save_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    store = KeyStore.create(path, "pw", State(server="s", user_id=uuid.uuid4()), scrypt_n=N)
    store.state.position = "p-1"
    store.save()
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    store.close()
    assert KeyStore.open(path, "pw").state.position == "p-1"
