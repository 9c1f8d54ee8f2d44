"""End-to-end encryption over one key file: X3DH sessions for DMs with identity keys
pinned on first use, sender keys per channel, and the persistence rule of crypto.md (the
advanced state is saved before an envelope leaves, and after every message received).

No I/O but the key file: the client (client.py) fetches bundles and distributions and
hands them here. Every failure is an exception for the caller to show, never a silence.
"""

from __future__ import annotations

import uuid
from typing import Any

from chatalot_crypto import (
    CryptoError,
    IdentityKeyPair,
    LocalKeys,
    PrekeyBundle,
    PrekeyMessage,
    SenderKeyStore,
    SessionStore,
    parse_dm_envelope,
    safety_number,
)
from chatalot_crypto.fingerprints import fingerprint
from chatalot_sdk.errors import DecryptFailed, IdentityKeyChanged
from chatalot_sdk.keystore import KeyStore, b64, unb64
from chatalot_sdk.models import KeyBundle

REGISTRATION_PREKEYS = 100  # crypto.md: 100 one-time prekeys at registration
FIRST_SIGNED_PREKEY = 1


def new_bundle(one_time: int = REGISTRATION_PREKEYS, first_one_time_id: int = 1,
               signed_id: int = FIRST_SIGNED_PREKEY) -> tuple[LocalKeys, dict[str, Any]]:
    """Fresh keys and the registration (or PUT /keys/identity) fields that publish them."""
    keys = LocalKeys(IdentityKeyPair.generate())
    spk = keys.add_signed_prekey(signed_id)
    opks = keys.add_one_time_prekeys(first_one_time_id, one_time)
    return keys, {
        "identity_key": b64(keys.identity.public),
        "signed_prekey": {"key_id": spk.key_id, "public_key": b64(spk.public),
                          "signature": b64(spk.signature)},
        "one_time_prekeys": [{"key_id": k.key_id, "public_key": b64(k.public)} for k in opks],
    }


def bundle_of(reply: KeyBundle) -> PrekeyBundle:
    opk = reply.one_time_prekey
    return PrekeyBundle(
        identity_key=unb64(reply.identity_key),
        signed_prekey_id=reply.signed_prekey.key_id,
        signed_prekey=unb64(reply.signed_prekey.public_key),
        signed_prekey_signature=unb64(reply.signed_prekey.signature),
        one_time_prekey_id=None if opk is None else opk.key_id,
        one_time_prekey=None if opk is None else unb64(opk.public_key),
    )


class E2E:
    """The crypto state of one account, loaded from and saved to its key file."""

    def __init__(self, store: KeyStore) -> None:
        state = store.state
        if state.user_id is None or not state.sessions:
            raise ValueError("the key file holds no account keys yet")
        self.store = store
        self.user_id: uuid.UUID = state.user_id
        self.sessions = SessionStore.from_bytes(state.sessions)
        self.senders = (SenderKeyStore.from_bytes(state.sender_keys) if state.sender_keys
                        else SenderKeyStore(self.user_id))

    @classmethod
    def initialise(cls, store: KeyStore, user_id: uuid.UUID, keys: LocalKeys) -> E2E:
        store.state.user_id = user_id
        store.state.sessions = SessionStore(keys).to_bytes()
        store.state.sender_keys = SenderKeyStore(user_id).to_bytes()
        store.save()
        return cls(store)

    def save(self) -> None:
        """Persist now: called before anything encrypted leaves and after each receipt."""
        self.store.state.sessions = self.sessions.to_bytes()
        self.store.state.sender_keys = self.senders.to_bytes()
        self.store.save()

    @property
    def identity_key(self) -> bytes:
        return self.sessions.keys.identity.public

    # -- identity keys ------------------------------------------------------------------

    def check_identity(self, peer: uuid.UUID, presented: bytes) -> None:
        """Trust on first use: pin the first key seen for a peer; any other key later is
        recorded as a key change and refused until the user accepts it."""
        state = self.store.state
        pinned = state.pinned.get(str(peer))
        if pinned is None:
            state.pinned[str(peer)] = presented
            self.save()
        elif pinned != presented:
            if state.key_changes.get(str(peer)) != presented:
                state.key_changes[str(peer)] = presented
                self.save()
            raise IdentityKeyChanged(peer, pinned, presented)

    def pending_key_changes(self) -> dict[uuid.UUID, bytes]:
        return {uuid.UUID(k): v for k, v in self.store.state.key_changes.items()}

    def trust_identity(self, peer: uuid.UUID) -> None:
        """The user accepted a peer's new key: pin it (their next prekey envelope, or a new
        session of ours, then works)."""
        new = self.store.state.key_changes.pop(str(peer), None)
        if new is not None:
            self.store.state.pinned[str(peer)] = new
            self.save()

    def safety_number(self, peer: uuid.UUID) -> str | None:
        pinned = self.store.state.pinned.get(str(peer))
        if pinned is None:
            return None
        return safety_number(self.identity_key, self.user_id, pinned, peer)

    def fingerprint(self) -> str:
        return fingerprint(self.identity_key)

    # -- DMs ----------------------------------------------------------------------------

    def has_session(self, peer: uuid.UUID) -> bool:
        current = self.sessions.identity_key(peer)
        return current is not None and current == self.store.state.pinned.get(str(peer))

    def start_session(self, peer: uuid.UUID, reply: KeyBundle) -> None:
        bundle = bundle_of(reply)
        self.check_identity(peer, bundle.identity_key)
        try:
            self.sessions.initiate(peer, bundle)
        except CryptoError as exc:
            raise DecryptFailed(f"the bundle of {peer} is unusable: {exc}") from None
        self.save()

    def encrypt_dm(self, peer: uuid.UUID, plaintext: bytes) -> bytes:
        envelope = self.sessions.encrypt(peer, plaintext)
        self.save()  # before it leaves
        return envelope

    def decrypt_dm(self, peer: uuid.UUID, envelope: bytes) -> bytes:
        """A DM envelope from `peer` (named by the server). A prekey envelope is checked
        against the pinned identity before X3DH runs (crypto.md, Sessions)."""
        try:
            message = parse_dm_envelope(envelope)
        except CryptoError as exc:
            raise DecryptFailed(f"malformed envelope: {exc}") from None
        if isinstance(message, PrekeyMessage):
            self.check_identity(peer, message.identity_key)
        try:
            plaintext = self.sessions.decrypt(peer, envelope)
        except CryptoError as exc:
            raise DecryptFailed(f"{type(exc).__name__}: {exc}") from None
        self.save()
        return plaintext

    # -- sender keys ----------------------------------------------------------------------

    def sending_chain(self, channel: uuid.UUID) -> tuple[int, bytes, bool]:
        """(chain id, distribution, new?): the current chain, started when there is none."""
        chain = self.senders.sending_chain(channel)
        new = chain is None
        if new:
            self.senders.start_chain(channel)
            self.store.state.distributed[str(channel)] = []
            self.save()
            chain = self.senders.sending_chain(channel)
        assert chain is not None
        return chain.chain_id, chain.distribution(), new

    def rotate(self, channel: uuid.UUID) -> None:
        """sender_key_rotation_required: a new chain, distributed again to the members."""
        self.senders.start_chain(channel)
        self.store.state.distributed[str(channel)] = []
        self.save()

    def holders(self, channel: uuid.UUID) -> set[uuid.UUID]:
        return {uuid.UUID(u) for u in self.store.state.distributed.get(str(channel), [])}

    def forget_holder(self, peer: uuid.UUID) -> None:
        """`peer` replaced their keys: my chains go to them again, in a new session."""
        for holders in self.store.state.distributed.values():
            if str(peer) in holders:
                holders.remove(str(peer))
        self.save()

    def mark_distributed(self, channel: uuid.UUID, members: list[uuid.UUID]) -> None:
        have = self.store.state.distributed.setdefault(str(channel), [])
        have.extend(str(m) for m in members if str(m) not in have)
        self.save()

    def encrypt_group(self, channel: uuid.UUID, plaintext: bytes) -> bytes:
        envelope = self.senders.encrypt(channel, plaintext)
        self.save()  # before it leaves
        return envelope

    def accept_distribution(self, channel: uuid.UUID, sender: uuid.UUID, envelope: bytes
                            ) -> bool:
        """A sender-key copy addressed to me: opened in my DM session with the sender,
        stored before it is acknowledged. False when the chain was already known."""
        data = self.decrypt_dm(sender, envelope)
        try:
            added = self.senders.process_distribution(channel, sender, data)
        except CryptoError as exc:
            raise DecryptFailed(f"distribution refused: {exc}") from None
        self.save()
        return added

    def decrypt_group(self, channel: uuid.UUID, sender: uuid.UUID, envelope: bytes) -> bytes:
        try:
            plaintext = self.senders.decrypt(channel, sender, envelope)
        except CryptoError as exc:
            raise DecryptFailed(f"{type(exc).__name__}: {exc}") from None
        self.save()
        return plaintext

    # -- one-time prekeys ----------------------------------------------------------------

    def more_prekeys(self, count: int) -> list[dict[str, Any]]:
        """New one-time prekeys, saved before their public halves are uploaded."""
        first = self.store.state.next_one_time_prekey_id
        made = self.sessions.keys.add_one_time_prekeys(first, count)
        self.store.state.next_one_time_prekey_id = first + count
        self.save()
        return [{"key_id": k.key_id, "public_key": b64(k.public)} for k in made]
