"""Primitives against published vectors (RFC 4231, 5869, 7748, 8439) and against the
general implementations they shortcut."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from chatalot_crypto import primitives as p
from chatalot_crypto.errors import DecryptError, InvalidKey
from tests.hypothesis_budget import pure


def test_hmac_rfc4231_case2() -> None:
    assert p.hmac_sha256(b"Jefe", b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_hkdf_rfc5869_case1() -> None:
    okm = p.hkdf_sha256(bytes([0x0B]) * 22, bytes(range(13)), bytes(range(0xF0, 0xFA)), 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


@pure
@given(key=st.binary(max_size=100), data=st.binary(max_size=200))
def test_hmac_matches_stdlib(key: bytes, data: bytes) -> None:
    assert p.hmac_sha256(key, data) == hmac.digest(key, data, hashlib.sha256)


@pure
@given(ck=st.binary(min_size=32, max_size=32))
def test_kdf_ck_is_two_hmacs(ck: bytes) -> None:
    mk, nxt = p.kdf_ck(ck)
    assert mk == hmac.digest(ck, b"\x01", hashlib.sha256)
    assert nxt == hmac.digest(ck, b"\x02", hashlib.sha256)


@pure
@given(mk=st.binary(min_size=32, max_size=32),
       info=st.sampled_from([p.INFO_MESSAGE_KEYS, p.INFO_SENDER_KEY]))
def test_message_key_material_is_hkdf(mk: bytes, info: bytes) -> None:
    key, nonce = p.message_key_material(mk, info)
    assert key + nonce == p.hkdf_sha256(mk, p.ZERO_SALT, info, 44)
    assert (len(key), len(nonce)) == (32, 12)


def test_chacha20poly1305_rfc8439() -> None:
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    plaintext = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
        b"the future, sunscreen would be it."
    )
    ct = p.aead_encrypt(key, nonce, plaintext, aad)
    assert ct[:16].hex() == "d31a8d34648e60db7b86afbc53ef7ec2"
    assert ct[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691"
    assert p.aead_decrypt(key, nonce, ct, aad) == plaintext
    with pytest.raises(DecryptError):
        p.aead_decrypt(key, nonce, ct, aad + b"x")


def test_x25519_rfc7748() -> None:
    out = p.x25519(
        bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
    )
    assert out.hex() == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    a = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    b = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    assert p.x25519_public(a).hex() == (
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    )
    assert p.x25519_public(b).hex() == (
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    )
    shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    assert p.x25519(a, p.x25519_public(b)).hex() == shared
    assert p.x25519(b, p.x25519_public(a)).hex() == shared


def _small_order_encodings() -> list[bytes]:
    """Every 32-byte string X25519 maps to a small-order u: u or u + p, top bit 0 or 1."""
    out = []
    for u in sorted(p._SMALL_ORDER_U):
        for value in (u, u + 2**255 - 19):
            if value < 2**255:
                out += [value.to_bytes(32, "little"), (value | 1 << 255).to_bytes(32, "little")]
    return out


SMALL_ORDER = _small_order_encodings()


def test_small_order_encoding_count() -> None:
    assert len(SMALL_ORDER) == 14


@pytest.mark.parametrize("public", SMALL_ORDER, ids=lambda b: b.hex()[:8] + b.hex()[-2:])
def test_small_order_x25519_keys_are_refused(public: bytes) -> None:
    with pytest.raises(InvalidKey):
        p.validate_x25519_public(public)
    with pytest.raises(InvalidKey):
        p.x25519(bytes(range(32)), public)
    # These really are small order: X25519 with any scalar gives zero (OpenSSL refuses).
    with pytest.raises(ValueError):
        X25519PrivateKey.from_private_bytes(bytes(range(32))).exchange(
            X25519PublicKey.from_public_bytes(public)
        )


@pure
@given(private=st.binary(min_size=32, max_size=32))
def test_generated_keys_are_accepted(private: bytes) -> None:
    public = p.x25519_public(private)
    p.validate_x25519_public(public)
    assert len(p.x25519(private, public)) == 32


@pure
@given(private=st.binary(min_size=32, max_size=32))
def test_non_canonical_encodings_are_refused(private: bytes) -> None:
    """X25519 ignores the top bit: the alias must not pass for a second, different key."""
    public = p.x25519_public(private)
    alias = public[:31] + bytes([public[31] | 0x80])
    with pytest.raises(InvalidKey):
        p.validate_x25519_public(alias)
    with pytest.raises(InvalidKey):
        p.validate_x25519_public((2**255 - 19 + 2).to_bytes(32, "little"))


def test_wrong_lengths_are_refused() -> None:
    with pytest.raises(InvalidKey):
        p.validate_x25519_public(bytes(31))
    with pytest.raises(InvalidKey):
        p.x25519(bytes(31), p.x25519_public(bytes(32)))


def test_u32_helpers() -> None:
    assert p.pack_u32(0x01020304) == b"\x01\x02\x03\x04"
    assert p.unpack_u32(b"\x00\xff\xff\xff\xff", 1) == p.U32_MAX


@pure
@given(ck=st.binary(min_size=32, max_size=32))
def test_fused_chain_steps_match_the_spec_functions(ck: bytes) -> None:
    mk, nxt = p.kdf_ck(ck)
    for step, info in ((p.ratchet_chain_step, p.INFO_MESSAGE_KEYS),
                       (p.sender_chain_step, p.INFO_SENDER_KEY)):
        key, nonce = p.message_key_material(mk, info)
        assert step(ck) == (nxt, key, nonce)
