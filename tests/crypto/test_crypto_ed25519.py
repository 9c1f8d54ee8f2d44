"""Strict Ed25519: the library against a fully explicit pure-Python reference verifier
(strict decoding of A and R, [L]A and [L]R, S < L, cofactorless equation) and against a
lenient one, on the vectors and on crafted signatures."""

from __future__ import annotations

import hashlib

import pytest
from crypto_helpers import flip_bit, load_vectors
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from chatalot_crypto import ed25519
from chatalot_crypto import edwards25519 as ed
from chatalot_crypto.errors import InvalidKey, InvalidSignature
from tests.hypothesis_budget import pure

SEED = bytes(range(32))
T8 = ed.decode(bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))
assert T8 is not None
TORSION = [ed.mul(i, T8) for i in range(8)]


def _k(r: bytes, a: bytes, m: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + a + m).digest(), "little") % ed.L


def reference_verify(a_bytes: bytes, message: bytes, sig: bytes) -> bool:
    """crypto.md's rules made explicit, nothing delegated."""
    if len(sig) != 64:
        return False
    a = ed.decode(a_bytes)
    r = ed.decode(sig[:32])
    if a is None or r is None or not ed.has_order_l(a) or not ed.has_order_l(r):
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= ed.L:
        return False
    k = _k(sig[:32], a_bytes, message)
    return ed.equal(ed.mul(s, ed.BASE), ed.add(r, ed.mul(k, a)))


def lenient_verify(a_bytes: bytes, message: bytes, sig: bytes) -> bool:
    """Lenient decoding, cofactored equation, S reduced mod L."""
    a = ed.decode_lenient(a_bytes)
    r = ed.decode_lenient(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little") % ed.L
    k = _k(sig[:32], a_bytes, message)
    lhs = ed.mul(8, ed.mul(s, ed.BASE))
    return ed.equal(lhs, ed.mul(8, ed.add(r, ed.mul(k, a))))


def library_accepts(a: bytes, m: bytes, sig: bytes) -> bool:
    try:
        ed25519.verify(a, m, sig)
    except InvalidSignature:
        return False
    return True


def test_vectors_against_both_reference_verifiers() -> None:
    cases = load_vectors("ed25519.json")["signatures"]
    crafted = [c for c in cases if c["lenient_accepts"] and not c["valid"]]
    assert len(crafted) >= 11
    for case in cases:
        a, m, sig = (bytes.fromhex(case[k]) for k in ("public_key", "message", "signature"))
        assert lenient_verify(a, m, sig) == case["lenient_accepts"], case["name"]
        assert reference_verify(a, m, sig) == case["valid"], case["name"]
        assert library_accepts(a, m, sig) == case["valid"], case["name"]


def test_sign_verify_round_trip() -> None:
    public = ed25519.public_key_from_seed(SEED)
    sig = ed25519.sign(SEED, b"m")
    ed25519.verify(public, b"m", sig)
    with pytest.raises(InvalidSignature):
        ed25519.verify(public, b"n", sig)
    with pytest.raises(InvalidSignature):
        ed25519.verify(public, b"m", sig[:63])


@pure
@given(bit=st.integers(0, 64 * 8 + 32 * 8 - 1))
def test_bit_flips_agree_with_reference(bit: int) -> None:
    public = ed25519.public_key_from_seed(SEED)
    sig = ed25519.sign(SEED, b"flip")
    blob = flip_bit(sig + public, bit)
    sig2, pub2 = blob[:64], blob[64:]
    assert library_accepts(pub2, b"flip", sig2) == reference_verify(pub2, b"flip", sig2)
    assert not library_accepts(pub2, b"flip", sig2)


@given(
    a=st.integers(1, ed.L - 1),
    r=st.integers(1, ed.L - 1),
    ta=st.integers(0, 7),
    tr=st.integers(0, 7),
    s_plus_l=st.booleans(),
    message=st.binary(max_size=16),
)
def test_crafted_signatures_agree_with_reference(
    a: int, r: int, ta: int, tr: int, s_plus_l: bool, message: bytes
) -> None:
    """A = [a]B + torsion, R = [r]B + torsion, S = r + k*a: cofactored-valid by design.

    This is where the library relies on the cofactorless equation for R's order; the
    explicit reference must agree on every combination.
    """
    a_bytes = ed.encode(ed.add(ed.mul(a, ed.BASE), TORSION[ta]))
    r_bytes = ed.encode(ed.add(ed.mul(r, ed.BASE), TORSION[tr]))
    s = (r + _k(r_bytes, a_bytes, message) * a) % ed.L
    if s_plus_l:
        s += ed.L
    sig = r_bytes + s.to_bytes(32, "little")
    expected = reference_verify(a_bytes, message, sig)
    assert library_accepts(a_bytes, message, sig) == expected
    assert expected == (ta == 0 and tr == 0 and not s_plus_l)
    assert lenient_verify(a_bytes, message, sig)


@pytest.mark.parametrize("index", range(8))
def test_small_order_r_with_valid_a_is_refused(index: int) -> None:
    public = ed25519.public_key_from_seed(SEED)
    h = hashlib.sha512(SEED).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    r_bytes = ed.encode(TORSION[index])
    s = _k(r_bytes, public, b"x") * a % ed.L
    sig = r_bytes + s.to_bytes(32, "little")
    assert not library_accepts(public, b"x", sig)
    assert not reference_verify(public, b"x", sig)


@pure
@given(seed=st.binary(min_size=32, max_size=32))
def test_identity_key_conversion_matches_x25519(seed: bytes) -> None:
    public = ed25519.public_key_from_seed(seed)
    u = ed25519.to_x25519_public(public)
    private = ed25519.to_x25519_private(seed)
    assert X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw() == u
    assert private[0] & 7 == 0 and private[31] & 0x80 == 0 and private[31] & 0x40


def test_conversion_refuses_bad_points() -> None:
    for point in TORSION:
        with pytest.raises(InvalidKey):
            ed25519.to_x25519_public(ed.encode(point))
    mixed = ed.encode(ed.add(ed.BASE, T8))
    with pytest.raises(InvalidKey):
        ed25519.to_x25519_public(mixed)
    with pytest.raises(InvalidKey):
        ed25519.to_x25519_public(b"\x01" * 31)


def test_decode_rules() -> None:
    p = ed.P
    assert ed.decode((p).to_bytes(32, "little")) is None  # y = p
    assert ed.decode((1 | 1 << 255).to_bytes(32, "little")) is None  # x = 0, sign set
    assert ed.decode_lenient((p + 1).to_bytes(32, "little")) is not None
    assert ed.decode(ed.encode(ed.BASE)) is not None
    assert ed.has_order_l(ed.BASE) and not ed.has_order_l(ed.IDENTITY)
    assert all(ed.is_small_order(t) for t in TORSION)
    assert not ed.is_small_order(ed.BASE)
    assert {int.from_bytes(ed.encode(t), "little") & ((1 << 255) - 1) for t in TORSION} == set(
        ed25519.SMALL_ORDER_Y
    )
