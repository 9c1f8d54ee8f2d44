"""Pairwise sessions and the session-store rules of crypto.md ("Sessions").

A Session is one X3DH + Double Ratchet conversation. The SessionStore keeps, per peer, the
current session and up to 4 previous ones (newest first), picks the session a received
envelope belongs to, and remembers the ephemeral keys of the last 1000 sessions it created
as responder so a replayed prekey envelope cannot re-create a session.
"""

from __future__ import annotations

import uuid
from typing import Any

from chatalot_crypto import x3dh
from chatalot_crypto.envelopes import (
    HEADER_SIZE,
    TYPE_MESSAGE,
    VERSION,
    PrekeyMessage,
    RatchetMessage,
    parse_dm_envelope,
    uuid_bytes,
)
from chatalot_crypto.errors import (
    CryptoError,
    DecryptError,
    DuplicateMessage,
    NoSession,
    PrekeyReplay,
    StateError,
    UnknownPrekey,
)
from chatalot_crypto.keys import IdentityKeyPair, LocalKeys, PrekeyBundle
from chatalot_crypto.primitives import AEAD_TAG_SIZE, U32_MAX, Random, random_bytes
from chatalot_crypto.ratchet import RatchetState
from chatalot_crypto.serialization import Reader, b64, dump, load

__all__ = ["MAX_PREVIOUS_SESSIONS", "REPLAY_MEMORY", "Session", "SessionStore"]

_MESSAGE_PREFIX = bytes((VERSION, TYPE_MESSAGE))
_MESSAGE_MIN = 2 + HEADER_SIZE + AEAD_TAG_SIZE
MAX_PREVIOUS_SESSIONS = 4
REPLAY_MEMORY = 1000


class Session:
    """One pairwise session: the X3DH parameters that name it plus its ratchet state."""

    __slots__ = (
        "associated_data",
        "base_key",
        "initiator",
        "one_time_prekey_id",
        "pending_prekey",
        "ratchet",
        "signed_prekey_id",
    )

    def __init__(
        self,
        *,
        associated_data: bytes,
        base_key: bytes,
        initiator: bool,
        signed_prekey_id: int,
        one_time_prekey_id: int | None,
        pending_prekey: bool,
        ratchet: RatchetState,
    ) -> None:
        self.associated_data = associated_data
        self.base_key = base_key  # EK_A: with IK_A it identifies the session
        self.initiator = initiator
        self.signed_prekey_id = signed_prekey_id
        self.one_time_prekey_id = one_time_prekey_id
        self.pending_prekey = pending_prekey  # initiator still sends prekey envelopes
        self.ratchet = ratchet

    @property
    def initiator_identity(self) -> bytes:
        return self.associated_data[:32]

    @property
    def remote_identity(self) -> bytes:
        return self.associated_data[32:] if self.initiator else self.associated_data[:32]

    def __repr__(self) -> str:
        return (
            f"Session(remote_identity={self.remote_identity.hex()}, "
            f"base_key={self.base_key.hex()}, initiator={self.initiator}, "
            f"pending_prekey={self.pending_prekey}, ratchet={self.ratchet!r})"
        )

    @classmethod
    def initiate(
        cls, identity: IdentityKeyPair, bundle: PrekeyBundle, rng: Random = random_bytes
    ) -> Session:
        """X3DH as initiator then RatchetInitAlice; the rng gives EK_A, then the first DHs."""
        result = x3dh.initiate(identity, bundle, rng)
        return cls(
            associated_data=result.associated_data,
            base_key=result.ephemeral_public,
            initiator=True,
            signed_prekey_id=result.signed_prekey_id,
            one_time_prekey_id=result.one_time_prekey_id,
            pending_prekey=True,
            ratchet=RatchetState.init_alice(result.shared_secret, result.signed_prekey, rng),
        )

    @classmethod
    def respond(cls, keys: LocalKeys, message: PrekeyMessage) -> Session:
        """X3DH as responder then RatchetInitBob, for the keys a prekey envelope names."""
        spk = keys.signed_prekeys.get(message.signed_prekey_id)
        if spk is None:
            raise UnknownPrekey("unknown signed prekey")
        opk = None
        if message.one_time_prekey_id is not None:
            opk = keys.one_time_prekeys.get(message.one_time_prekey_id)
            if opk is None:
                raise UnknownPrekey("unknown or used one-time prekey")
        result = x3dh.respond(keys.identity, spk, opk, message.identity_key, message.base_key)
        return cls(
            associated_data=result.associated_data,
            base_key=message.base_key,
            initiator=False,
            signed_prekey_id=message.signed_prekey_id,
            one_time_prekey_id=message.one_time_prekey_id,
            pending_prekey=False,
            ratchet=RatchetState.init_bob(result.shared_secret, spk.private),
        )

    def encrypt(self, plaintext: bytes) -> bytes:
        """The envelope for plaintext; the session advances (persist it before sending)."""
        header, ct = self.ratchet.encrypt(plaintext, self.associated_data)
        if self.pending_prekey:
            return PrekeyMessage(
                identity_key=self.initiator_identity,
                base_key=self.base_key,
                signed_prekey_id=self.signed_prekey_id,
                one_time_prekey_id=self.one_time_prekey_id,
                header=header,
                ciphertext=ct,
            ).encode()
        return _MESSAGE_PREFIX + header + ct

    def decrypt(self, envelope: bytes, rng: Random = random_bytes) -> bytes:
        """Decrypt an envelope of this session (0x02, or a 0x01 naming it)."""
        if envelope[:2] == _MESSAGE_PREFIX and len(envelope) >= _MESSAGE_MIN:
            # The common case, without building a RatchetMessage.
            plaintext = self.ratchet.decrypt(
                envelope[2:42], envelope[42:], self.associated_data, rng
            )
            self.pending_prekey = False
            return plaintext
        message = parse_dm_envelope(envelope)
        if isinstance(message, PrekeyMessage) and not self.matches(message):
            raise DecryptError("prekey envelope of another session")
        return self.decrypt_message(message, rng)

    def matches(self, message: PrekeyMessage) -> bool:
        """A prekey envelope belongs here: responder session with the same IK_A and EK_A.

        The prekey ids must match too: they are outside the AEAD's associated data, so a
        changed id would otherwise go unnoticed.
        """
        return (
            not self.initiator
            and message.identity_key == self.associated_data[:32]
            and message.base_key == self.base_key
            and message.signed_prekey_id == self.signed_prekey_id
            and message.one_time_prekey_id == self.one_time_prekey_id
        )

    def decrypt_message(self, message: PrekeyMessage | RatchetMessage, rng: Random) -> bytes:
        plaintext = self.ratchet.decrypt(
            message.header, message.ciphertext, self.associated_data, rng
        )
        # Any reply means the responder has the session: stop sending prekey envelopes.
        self.pending_prekey = False
        return plaintext

    # --- serialization -------------------------------------------------------------------

    FORMAT = "chatalot.session"

    def to_obj(self) -> dict[str, Any]:
        return {
            "associated_data": b64(self.associated_data),
            "base_key": b64(self.base_key),
            "initiator": self.initiator,
            "signed_prekey_id": self.signed_prekey_id,
            "one_time_prekey_id": self.one_time_prekey_id,
            "pending_prekey": self.pending_prekey,
            "ratchet": self.ratchet.to_obj(),
        }

    @classmethod
    def from_obj(cls, r: Reader) -> Session:
        return cls(
            associated_data=r.bytes_("associated_data", 64),
            base_key=r.bytes_("base_key", 32),
            initiator=r.bool_("initiator"),
            signed_prekey_id=r.int_("signed_prekey_id", 0, U32_MAX - 1),
            one_time_prekey_id=r.opt_int("one_time_prekey_id", 0, U32_MAX - 1),
            pending_prekey=r.bool_("pending_prekey"),
            ratchet=RatchetState.from_obj(r.obj("ratchet")),
        )

    def to_bytes(self) -> bytes:
        return dump(self.FORMAT, self.to_obj())

    @classmethod
    def from_bytes(cls, blob: bytes) -> Session:
        return cls.from_obj(load(cls.FORMAT, blob))


PeerId = uuid.UUID | bytes


class SessionStore:
    """All of one client's pairwise sessions, with its own keys (one E2E device per account)."""

    __slots__ = ("_peers", "_replay", "keys")

    def __init__(self, keys: LocalKeys) -> None:
        self.keys = keys
        self._peers: dict[bytes, list[Session]] = {}
        self._replay: dict[bytes, None] = {}  # EK_A of created sessions, oldest first

    def __repr__(self) -> str:
        return (
            f"SessionStore(identity={self.keys.identity.public.hex()}, "
            f"peers={len(self._peers)}, remembered_base_keys={len(self._replay)})"
        )

    def sessions(self, peer: PeerId) -> list[Session]:
        """The peer's sessions, current first (a copy of the list, not of the sessions)."""
        return list(self._peers.get(uuid_bytes(peer), ()))

    def has_session(self, peer: PeerId) -> bool:
        return bool(self._peers.get(uuid_bytes(peer)))

    def identity_key(self, peer: PeerId) -> bytes | None:
        """The peer's identity key in the current session (show it, compare it, pin it)."""
        sessions = self._peers.get(uuid_bytes(peer))
        return sessions[0].remote_identity if sessions else None

    def remembers_base_key(self, base_key: bytes) -> bool:
        return base_key in self._replay

    def initiate(self, peer: PeerId, bundle: PrekeyBundle, rng: Random = random_bytes) -> Session:
        """Start X3DH with a fetched bundle; the new session becomes the current one."""
        session = Session.initiate(self.keys.identity, bundle, rng)
        self._make_current(uuid_bytes(peer), session)
        return session

    def encrypt(self, peer: PeerId, plaintext: bytes) -> bytes:
        sessions = self._peers.get(uuid_bytes(peer))
        if not sessions:
            raise NoSession("no session with this peer")
        return sessions[0].encrypt(plaintext)

    def decrypt(self, peer: PeerId, envelope: bytes, rng: Random = random_bytes) -> bytes:
        """Decrypt a DM envelope from peer; nothing in the store changes when it raises.

        Raises a CryptoError: InvalidEnvelope, InvalidKey, NoSession, or a DecryptError
        (DuplicateMessage, TooManySkipped, UnknownPrekey, PrekeyReplay, ...).
        """
        peer_b = uuid_bytes(peer)
        message = parse_dm_envelope(envelope)
        sessions = self._peers.get(peer_b, [])
        if isinstance(message, PrekeyMessage):
            for session in sessions:
                if session.matches(message):
                    plaintext = session.decrypt_message(message, rng)
                    self._make_current(peer_b, session)
                    return plaintext
            return self._new_session(peer_b, message, rng)
        if not sessions:
            raise NoSession("no session with this peer")
        first_error: CryptoError | None = None
        duplicate: DuplicateMessage | None = None
        for session in list(sessions[: 1 + MAX_PREVIOUS_SESSIONS]):
            try:
                plaintext = session.decrypt_message(message, rng)
            except DuplicateMessage as exc:
                duplicate = duplicate or exc
            except CryptoError as exc:
                first_error = first_error or exc
            else:
                self._make_current(peer_b, session)
                return plaintext
        raise duplicate or first_error or DecryptError("no session could decrypt")

    def _new_session(self, peer: bytes, message: PrekeyMessage, rng: Random) -> bytes:
        if message.base_key in self._replay:
            raise PrekeyReplay("prekey envelope replayed")
        session = Session.respond(self.keys, message)
        plaintext = session.decrypt_message(message, rng)
        # Commit only now: the OPK is consumed and EK_A remembered by a decrypted message.
        if message.one_time_prekey_id is not None:
            del self.keys.one_time_prekeys[message.one_time_prekey_id]
        self._replay[message.base_key] = None
        while len(self._replay) > REPLAY_MEMORY:
            del self._replay[next(iter(self._replay))]
        self._make_current(peer, session)
        return plaintext

    def _make_current(self, peer: bytes, session: Session) -> None:
        sessions = [s for s in self._peers.get(peer, []) if s is not session]
        sessions.insert(0, session)
        self._peers[peer] = sessions[: 1 + MAX_PREVIOUS_SESSIONS]

    # --- serialization -------------------------------------------------------------------

    FORMAT = "chatalot.session_store"

    def to_bytes(self) -> bytes:
        return dump(
            self.FORMAT,
            {
                "keys": self.keys.to_obj(),
                "peers": [
                    [b64(peer), [s.to_obj() for s in self._peers[peer]]]
                    for peer in sorted(self._peers)
                ],
                "replay": [b64(k) for k in self._replay],
            },
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> SessionStore:
        r = load(cls.FORMAT, blob)
        store = cls(LocalKeys.from_obj(r.obj("keys")))
        for item in r.list_("peers"):
            if type(item) is not list or len(item) != 2 or type(item[1]) is not list:
                raise StateError("malformed peer entry")
            peer = r.decode_b64(item[0], "peers", 16)
            if not 1 <= len(item[1]) <= 1 + MAX_PREVIOUS_SESSIONS:
                raise StateError("malformed peer entry")
            store._peers[peer] = [Session.from_obj(r.wrap(s, "peers")) for s in item[1]]
        for item in r.list_("replay", REPLAY_MEMORY):
            store._replay[r.decode_b64(item, "replay", 32)] = None
        return store
