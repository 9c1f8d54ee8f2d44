"""Double Ratchet (Signal rev. 1) with the KDFs, header and bounds of crypto.md.

decrypt() never leaves a half-updated state: the common cases (a skipped key, the next
message of the current receiving chain) compute the new values in locals and assign them
only after the AEAD accepted the message; everything else runs on a copy that replaces
the state only on success.
"""

from __future__ import annotations

import struct
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from chatalot_crypto.errors import (
    ChainExhausted,
    DecryptError,
    DuplicateMessage,
    InvalidEnvelope,
    NoSession,
    StateError,
    TooManySkipped,
)
from chatalot_crypto.primitives import (
    AEAD_TAG_SIZE,
    INFO_MESSAGE_KEYS,
    INFO_RATCHET,
    U32_MAX,
    Random,
    generate_x25519,
    hkdf_sha256,
    kdf_ck,
    message_key_material,
    random_bytes,
    ratchet_chain_step,
    validate_x25519_public,
    x25519,
    x25519_public,
)
from chatalot_crypto.serialization import Reader, b64

__all__ = [
    "HEADER_SIZE",
    "MAX_SKIP",
    "MAX_SKIPPED_KEYS",
    "RatchetState",
    "kdf_rk",
]

MAX_SKIP = 1000
"""Most message keys skipped in one chain by one message (n - Nr, or pn - Nr)."""
MAX_SKIPPED_KEYS = 2000
"""Most skipped message keys kept per session; the oldest is evicted first."""
HEADER_SIZE = 40
_HEADER_COUNTERS = struct.Struct(">II")  # pn, n


def kdf_rk(rk: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    """KDF_RK: HKDF(ikm = dh_out, salt = rk, info = "chatalot-ratchet", 64) -> (rk, ck)."""
    out = hkdf_sha256(dh_out, rk, INFO_RATCHET, 64)
    return out[:32], out[32:]


def _open(mk: bytes, ct: bytes, aad: bytes) -> bytes:
    key, nonce = message_key_material(mk, INFO_MESSAGE_KEYS)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ct, aad)
    except InvalidTag:
        raise DecryptError("message authentication failed") from None


class RatchetState:
    """One side's Double Ratchet state (DHs, DHr, RK, CKs, CKr, Ns, Nr, PN, MKSKIPPED)."""

    __slots__ = ("ckr", "cks", "dhr", "dhs_private", "dhs_public", "nr", "ns", "pn", "rk",
                 "skipped")

    def __init__(
        self,
        *,
        dhs_private: bytes,
        dhs_public: bytes,
        dhr: bytes | None,
        rk: bytes,
        cks: bytes | None,
        ckr: bytes | None,
        ns: int = 0,
        nr: int = 0,
        pn: int = 0,
        skipped: dict[tuple[bytes, int], bytes] | None = None,
    ) -> None:
        self.dhs_private = dhs_private
        self.dhs_public = dhs_public
        self.dhr = dhr
        self.rk = rk
        self.cks = cks
        self.ckr = ckr
        self.ns = ns
        self.nr = nr
        self.pn = pn
        # Insertion order is age order: the first entry is evicted first.
        self.skipped: dict[tuple[bytes, int], bytes] = skipped if skipped is not None else {}

    @classmethod
    def init_alice(
        cls, shared_secret: bytes, bob_ratchet_public: bytes, rng: Random = random_bytes
    ) -> RatchetState:
        """RatchetInitAlice(SK, SPK_B_pub)."""
        validate_x25519_public(bob_ratchet_public)
        dhs_private, dhs_public = generate_x25519(rng)
        rk, cks = kdf_rk(shared_secret, x25519(dhs_private, bob_ratchet_public))
        return cls(
            dhs_private=dhs_private,
            dhs_public=dhs_public,
            dhr=bob_ratchet_public,
            rk=rk,
            cks=cks,
            ckr=None,
        )

    @classmethod
    def init_bob(cls, shared_secret: bytes, bob_ratchet_private: bytes) -> RatchetState:
        """RatchetInitBob(SK, SPK_B pair)."""
        return cls(
            dhs_private=bob_ratchet_private,
            dhs_public=x25519_public(bob_ratchet_private),
            dhr=None,
            rk=shared_secret,
            cks=None,
            ckr=None,
        )

    def __repr__(self) -> str:
        return (
            f"RatchetState(dhs_public={self.dhs_public.hex()}, "
            f"dhr={None if self.dhr is None else self.dhr.hex()}, ns={self.ns}, "
            f"nr={self.nr}, pn={self.pn}, skipped={len(self.skipped)})"
        )

    def copy(self) -> RatchetState:
        return RatchetState(
            dhs_private=self.dhs_private,
            dhs_public=self.dhs_public,
            dhr=self.dhr,
            rk=self.rk,
            cks=self.cks,
            ckr=self.ckr,
            ns=self.ns,
            nr=self.nr,
            pn=self.pn,
            skipped=dict(self.skipped),
        )

    def _assign(self, other: RatchetState) -> None:
        for name in RatchetState.__slots__:
            setattr(self, name, getattr(other, name))

    # --- sending -------------------------------------------------------------------------

    def encrypt(self, plaintext: bytes, ad: bytes) -> tuple[bytes, bytes]:
        """RatchetEncrypt: (HEADER, ct); the state advances (persist it before sending)."""
        cks = self.cks
        if cks is None:
            raise NoSession("no sending chain before the first received message")
        ns = self.ns
        if ns > U32_MAX or self.pn > U32_MAX:
            raise ChainExhausted("sending chain exhausted")
        self.cks, key, nonce = ratchet_chain_step(cks)
        self.ns = ns + 1
        header = self.dhs_public + _HEADER_COUNTERS.pack(self.pn, ns)
        return header, ChaCha20Poly1305(key).encrypt(nonce, plaintext, ad + header)

    # --- receiving -----------------------------------------------------------------------

    def decrypt(
        self, header: bytes, ct: bytes, ad: bytes, rng: Random = random_bytes
    ) -> bytes:
        """RatchetDecrypt; the state is unchanged when it raises."""
        if len(header) != HEADER_SIZE or len(ct) < AEAD_TAG_SIZE:
            raise InvalidEnvelope("malformed ratchet message")
        dh = header[:32]
        pn, n = _HEADER_COUNTERS.unpack_from(header, 32)
        aad = ad + header
        if self.skipped:
            mk = self.skipped.get((dh, n))
            if mk is not None:
                plaintext = _open(mk, ct, aad)
                del self.skipped[(dh, n)]
                return plaintext
        if dh == self.dhr:
            ckr = self.ckr
            if ckr is None:
                raise DecryptError("no receiving chain for the current ratchet key")
            if n < self.nr:
                raise DuplicateMessage("message key already used or discarded")
            if n == self.nr:
                ckr, key, nonce = ratchet_chain_step(ckr)
                try:
                    plaintext = ChaCha20Poly1305(key).decrypt(nonce, ct, aad)
                except InvalidTag:
                    raise DecryptError("message authentication failed") from None
                self.ckr = ckr
                self.nr = n + 1
                return plaintext
        work = self.copy()
        plaintext = work._decrypt_general(dh, pn, n, ct, aad, rng)
        self._assign(work)
        return plaintext

    def _decrypt_general(
        self, dh: bytes, pn: int, n: int, ct: bytes, aad: bytes, rng: Random
    ) -> bytes:
        if dh != self.dhr:
            validate_x25519_public(dh)
            self._skip(pn)
            self._dh_ratchet(dh, rng)
        self._skip(n)
        if self.ckr is None:  # unreachable: decrypt() refuses this case first
            raise DecryptError("no receiving chain for the current ratchet key")
        mk, self.ckr = kdf_ck(self.ckr)
        self.nr += 1
        return _open(mk, ct, aad)

    def _skip(self, until: int) -> None:
        if until - self.nr > MAX_SKIP:
            raise TooManySkipped("too many skipped messages")
        ckr = self.ckr
        if ckr is None:
            return
        dhr = self.dhr
        if dhr is None:  # unreachable: a receiving chain always has its ratchet key
            raise DecryptError("receiving chain without a ratchet key")
        skipped = self.skipped
        nr = self.nr
        while nr < until:
            mk, ckr = kdf_ck(ckr)
            skipped[(dhr, nr)] = mk
            nr += 1
        while len(skipped) > MAX_SKIPPED_KEYS:
            del skipped[next(iter(skipped))]
        self.ckr = ckr
        self.nr = nr

    def _dh_ratchet(self, dh: bytes, rng: Random) -> None:
        self.pn = self.ns
        self.ns = 0
        self.nr = 0
        self.dhr = dh
        self.rk, self.ckr = kdf_rk(self.rk, x25519(self.dhs_private, dh))
        self.dhs_private, self.dhs_public = generate_x25519(rng)
        self.rk, self.cks = kdf_rk(self.rk, x25519(self.dhs_private, dh))

    # --- serialization -------------------------------------------------------------------

    def to_obj(self) -> dict[str, Any]:
        return {
            "dhs_private": b64(self.dhs_private),
            "dhr": None if self.dhr is None else b64(self.dhr),
            "rk": b64(self.rk),
            "cks": None if self.cks is None else b64(self.cks),
            "ckr": None if self.ckr is None else b64(self.ckr),
            "ns": self.ns,
            "nr": self.nr,
            "pn": self.pn,
            "skipped": [[b64(dh), n, b64(mk)] for (dh, n), mk in self.skipped.items()],
        }

    @classmethod
    def from_obj(cls, r: Reader) -> RatchetState:
        dhs_private = r.bytes_("dhs_private", 32)
        skipped: dict[tuple[bytes, int], bytes] = {}
        for item in r.list_("skipped", MAX_SKIPPED_KEYS):
            if type(item) is not list or len(item) != 3:
                raise StateError("malformed skipped key")
            dh = r.decode_b64(item[0], "skipped", 32)
            n = r.int_value(item[1], "skipped", 0, U32_MAX)
            skipped[(dh, n)] = r.decode_b64(item[2], "skipped", 32)
        return cls(
            dhs_private=dhs_private,
            dhs_public=x25519_public(dhs_private),
            dhr=r.opt_bytes("dhr", 32),
            rk=r.bytes_("rk", 32),
            cks=r.opt_bytes("cks", 32),
            ckr=r.opt_bytes("ckr", 32),
            ns=r.int_("ns", 0, U32_MAX + 1),
            nr=r.int_("nr", 0, U32_MAX + 1),
            pn=r.int_("pn", 0, U32_MAX + 1),
            skipped=skipped,
        )
