"""Key material and the upload checks the server runs (issue 5 item 3)."""

from __future__ import annotations

import json

import pytest
from crypto_helpers import flip_bit, make_keys
from hypothesis import given
from hypothesis import strategies as st

from chatalot_crypto import edwards25519 as ed
from chatalot_crypto import x3dh
from chatalot_crypto.errors import InvalidKey, InvalidKeyId, InvalidSignature, StateError
from chatalot_crypto.keys import (
    IdentityKeyPair,
    LocalKeys,
    PrekeyBundle,
    validate_identity_key,
    validate_key_id,
    validate_x25519_public,
    verify_signed_prekey,
)
from chatalot_crypto.serialization import _canonical, _check
from tests.hypothesis_budget import pure

T8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")


def test_validate_identity_key() -> None:
    ik = IdentityKeyPair.from_seed(bytes(32))
    validate_identity_key(ik.public)
    point = ed.decode(ik.public)
    t8 = ed.decode(T8)
    assert point is not None and t8 is not None
    bad = [
        T8,
        (1).to_bytes(32, "little"),  # identity
        (2**255 - 18).to_bytes(32, "little"),  # y = p + 1
        (1 | 1 << 255).to_bytes(32, "little"),  # x = 0, sign bit
        ed.encode(ed.add(point, t8)),  # mixed order
        ik.public[:31],
        ik.public + b"\x00",
    ]
    for key in bad:
        with pytest.raises(InvalidKey):
            validate_identity_key(key)
    with pytest.raises(InvalidKey):
        validate_identity_key(bytearray(ik.public))  # type: ignore[arg-type]


def test_verify_signed_prekey() -> None:
    keys = make_keys(3)
    spk = keys.signed_prekeys[1]
    ik = keys.identity.public
    verify_signed_prekey(ik, spk.public, spk.signature)
    with pytest.raises(InvalidSignature):
        verify_signed_prekey(ik, spk.public, flip_bit(spk.signature, 3))
    with pytest.raises(InvalidSignature):
        verify_signed_prekey(make_keys(4).identity.public, spk.public, spk.signature)
    with pytest.raises(InvalidKey):
        verify_signed_prekey(T8, spk.public, spk.signature)
    small = bytes(32)
    with pytest.raises(InvalidKey):
        verify_signed_prekey(ik, small, keys.identity.sign(small))


def test_validate_key_id_and_x25519() -> None:
    for ok in (0, 1, 0xFFFFFFFE):
        validate_key_id(ok)
    for bad in (0xFFFFFFFF, -1, 2**32, True):
        with pytest.raises(InvalidKeyId):
            validate_key_id(bad)
    with pytest.raises(InvalidKey):
        validate_x25519_public(bytes(32))
    with pytest.raises(InvalidKeyId):
        make_keys(5).add_signed_prekey(0xFFFFFFFF)


def test_bundle_validation_happens_before_any_dh() -> None:
    keys = make_keys(6)
    good = keys.bundle(1, 100)
    me = IdentityKeyPair.from_seed(bytes(range(32)))

    def with_(**kw: object) -> PrekeyBundle:
        fields = {f: getattr(good, f) for f in good.__dataclass_fields__}
        fields.update(kw)
        return PrekeyBundle(**fields)  # type: ignore[arg-type]

    calls = []

    def rng(n: int) -> bytes:
        calls.append(n)
        return bytes(n)

    for bad, exc in [
        (with_(signed_prekey_signature=flip_bit(good.signed_prekey_signature, 0)),
         InvalidSignature),
        (with_(identity_key=T8), InvalidKey),
        (with_(one_time_prekey=bytes(32)), InvalidKey),
        (with_(one_time_prekey=None), InvalidKey),
        (with_(one_time_prekey_id=0xFFFFFFFF), InvalidKeyId),
        (with_(signed_prekey_id=0xFFFFFFFF), InvalidKeyId),
    ]:
        with pytest.raises(exc):
            x3dh.initiate(me, bad, rng)
    assert calls == []


def test_local_keys_round_trip() -> None:
    keys = make_keys(7, one_time=3)
    blob = keys.to_bytes()
    again = LocalKeys.from_bytes(blob)
    assert again.to_bytes() == blob
    assert again.identity.public == keys.identity.public
    assert again.signed_prekeys[1].signature == keys.signed_prekeys[1].signature
    assert sorted(again.one_time_prekeys) == [100, 101, 102]


BLOB = make_keys(8, one_time=2).to_bytes()


@pure
@given(bit=st.integers(0, len(BLOB) * 8 - 1))
def test_any_flipped_bit_in_state_is_a_state_error(bit: int) -> None:
    with pytest.raises(StateError):
        LocalKeys.from_bytes(flip_bit(BLOB, bit))


@pure
@given(cut=st.integers(0, len(BLOB) - 1))
def test_truncated_state_is_a_state_error(cut: int) -> None:
    with pytest.raises(StateError):
        LocalKeys.from_bytes(BLOB[:cut])


def test_unknown_version_and_format_are_state_errors() -> None:
    obj = json.loads(BLOB)
    del obj["check"]
    for change, message in [({"version": 2}, "version"), ({"format": "other"}, "format")]:
        bad = dict(obj, **change)
        bad["check"] = _check(bad)
        with pytest.raises(StateError, match=message):
            LocalKeys.from_bytes(_canonical(bad))
    bad = dict(obj, identity_seed="AAAA")
    bad["check"] = _check(bad)
    with pytest.raises(StateError, match="identity_seed"):
        LocalKeys.from_bytes(_canonical(bad))
    with pytest.raises(StateError):
        LocalKeys.from_bytes("not bytes")  # type: ignore[arg-type]
