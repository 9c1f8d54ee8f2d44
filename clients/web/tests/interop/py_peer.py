"""The Python library (chatalot_crypto, clients/crypto) as a peer for the TypeScript interop tests.

Reads one JSON request on stdin: the peer's state blobs and a list of operations; runs
them in order and writes the results and the new state blobs as JSON on stdout. The
process keeps nothing between calls, so every call also proves that state written by one
implementation (or an earlier call) is read back by the other.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from chatalot_crypto import errors
from chatalot_crypto.fingerprints import safety_number
from chatalot_crypto.keys import IdentityKeyPair, LocalKeys, PrekeyBundle
from chatalot_crypto.sender_keys import SenderKeyStore
from chatalot_crypto.sessions import SessionStore

H = bytes.fromhex


def _bundle(b: dict[str, Any]) -> PrekeyBundle:
    return PrekeyBundle(
        identity_key=H(b["identity_key"]),
        signed_prekey_id=b["signed_prekey_id"],
        signed_prekey=H(b["signed_prekey"]),
        signed_prekey_signature=H(b["signed_prekey_signature"]),
        one_time_prekey_id=b["one_time_prekey_id"],
        one_time_prekey=None if b["one_time_prekey"] is None else H(b["one_time_prekey"]),
    )


def _bundle_json(bundle: PrekeyBundle) -> dict[str, Any]:
    return {
        "identity_key": bundle.identity_key.hex(),
        "signed_prekey_id": bundle.signed_prekey_id,
        "signed_prekey": bundle.signed_prekey.hex(),
        "signed_prekey_signature": bundle.signed_prekey_signature.hex(),
        "one_time_prekey_id": bundle.one_time_prekey_id,
        "one_time_prekey": None if bundle.one_time_prekey is None else bundle.one_time_prekey.hex(),
    }


# -- the server's contracts and upload checks (need the project's dependencies: .venv) ----


def _check_register(op: dict[str, Any]) -> str:
    """A registration body as the server decodes and checks it: the fingerprint it stores."""
    import msgspec

    from chatalot.accounts.contracts import RegisterRequest
    from chatalot.domain.keys.rules import check_initial_bundle

    body = msgspec.json.decode(op["json"].encode(), type=RegisterRequest)
    bundle = check_initial_bundle(body.identity_key, body.signed_prekey, body.one_time_prekeys)
    return bundle.fingerprint


def _check_sender_keys(op: dict[str, Any]) -> int:
    """A sender-key upload as the server decodes and checks it: the copies it would store."""
    import uuid

    import msgspec

    from chatalot.domain.keys.rules import check_distributions
    from chatalot.keys.contracts import SenderKeyDistribution

    body = msgspec.json.decode(op["json"].encode(), type=SenderKeyDistribution)
    return len(check_distributions(uuid.UUID(op["sender"]), body.distributions,
                                   H(op["sender_identity"])))


def _bundle_reply(op: dict[str, Any]) -> dict[str, Any]:
    """New keys and the GET /keys/{id}/bundle reply the server would encode for them."""
    import uuid

    import msgspec

    from chatalot.domain.keys.rules import b64encode
    from chatalot.keys.contracts import KeyBundle, OneTimePrekey, SignedPrekey

    keys = LocalKeys(IdentityKeyPair.generate())
    spk = keys.add_signed_prekey(7)
    (opk,) = keys.add_one_time_prekeys(500, 1)
    reply = KeyBundle(
        user_id=uuid.UUID(op["user_id"]),
        identity_key=b64encode(keys.identity.public),
        signed_prekey=SignedPrekey(key_id=spk.key_id, public_key=b64encode(spk.public),
                                   signature=b64encode(spk.signature)),
        one_time_prekey=OneTimePrekey(key_id=opk.key_id, public_key=b64encode(opk.public)),
        position=None,
    )
    return {"keys": keys.to_bytes().decode(), "reply": msgspec.json.encode(reply).decode()}


# -- differential replay: the same operations and random bytes as the TypeScript run ------


class _Recorded:
    """Returns the random values the TypeScript run drew, in order."""

    def __init__(self, values: list[str]) -> None:
        self.values = [H(v) for v in values]

    def __call__(self, n: int) -> bytes:
        value = self.values.pop(0)
        assert len(value) == n, "random length differs"
        return value


def _replay_dm(op: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a two-party DM schedule; after each step, the output and the actor's store."""
    bob_public = LocalKeys.from_bytes(op["bob_keys"].encode())
    stores = {"alice": SessionStore(LocalKeys.from_bytes(op["alice_keys"].encode())),
              "bob": SessionStore(LocalKeys.from_bytes(op["bob_keys"].encode()))}
    peers = {"alice": H(op["bob_user"]), "bob": H(op["alice_user"])}
    out: list[dict[str, Any]] = []
    for step in op["steps"]:
        store, peer = stores[step["actor"]], peers[step["actor"]]
        rng = _Recorded(step.get("random", []))
        result: Any = None
        try:
            if step["op"] == "initiate":
                store.initiate(peer, bob_public.bundle(step["spk"], step["opk"]), rng)
            elif step["op"] == "encrypt":
                result = store.encrypt(peer, H(step["plaintext"])).hex()
            else:
                result = store.decrypt(peer, H(step["envelope"]), rng).hex()
        except errors.CryptoError as exc:
            result = {"error": type(exc).__name__}
        assert not rng.values, "random values left unused"
        out.append({"out": result, "store": store.to_bytes().decode()})
    return out


def _replay_group(op: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a sender-key schedule over several members; output and actor's store per step."""
    stores = {uid: SenderKeyStore(H(uid)) for uid in op["members"]}
    channel = H(op["channel"])
    out: list[dict[str, Any]] = []
    for step in op["steps"]:
        store = stores[step["actor"]]
        result: Any = None
        try:
            if step["op"] == "start_chain":
                result = store.start_chain(channel, _Recorded(step["random"])).hex()
            elif step["op"] == "encrypt":
                result = store.encrypt(channel, H(step["plaintext"])).hex()
            elif step["op"] == "process":
                result = store.process_distribution(channel, H(step["sender"]),
                                                    H(step["distribution"]))
            else:
                result = store.decrypt(channel, H(step["sender"]), H(step["envelope"])).hex()
        except errors.CryptoError as exc:
            result = {"error": type(exc).__name__}
        out.append({"out": result, "store": store.to_bytes().decode()})
    return out


_EXTRA_OPS = {
    "replay_dm": _replay_dm,
    "replay_group": _replay_group,
    "check_register": _check_register,
    "check_sender_keys": _check_sender_keys,
    "bundle_reply": _bundle_reply,
}


def main() -> None:
    req = json.load(sys.stdin)
    dm: SessionStore | None = None
    if req.get("dm_store"):
        dm = SessionStore.from_bytes(req["dm_store"].encode())
    elif req.get("keys"):
        dm = SessionStore(LocalKeys.from_bytes(req["keys"].encode()))
    group: SenderKeyStore | None = None
    if req.get("sender_store"):
        group = SenderKeyStore.from_bytes(req["sender_store"].encode())
    elif req.get("user_id"):
        group = SenderKeyStore(H(req["user_id"]))
    results: list[Any] = []
    for op in req["ops"]:
        try:
            results.append(_run(op, dm, group))
        except errors.CryptoError as exc:
            results.append({"error": type(exc).__name__})
        except Exception as exc:  # the server's refusals (DomainError, msgspec errors)
            results.append({"error": type(exc).__name__, "detail": str(exc)})
        if op["op"] in ("generate_keys", "bundle_reply"):
            dm = SessionStore(LocalKeys.from_bytes(results[-1]["keys"].encode()))
    json.dump(
        {
            "results": results,
            "dm_store": None if dm is None else dm.to_bytes().decode(),
            "sender_store": None if group is None else group.to_bytes().decode(),
        },
        sys.stdout,
    )


def _run(op: dict[str, Any], dm: SessionStore | None, group: SenderKeyStore | None) -> Any:
    kind = op["op"]
    if kind == "generate_keys":
        keys = LocalKeys(IdentityKeyPair.generate())
        keys.add_signed_prekey(1)
        keys.add_one_time_prekeys(100, 3)
        return {"keys": keys.to_bytes().decode(), "bundle": _bundle_json(keys.bundle(1, 100))}
    if kind in _EXTRA_OPS:
        return _EXTRA_OPS[kind](op)
    if kind == "safety_number":
        return safety_number(H(op["a_key"]), H(op["a_user"]), H(op["b_key"]), H(op["b_user"]))
    if kind in ("initiate", "encrypt", "decrypt"):
        assert dm is not None, "no session store"
        if kind == "initiate":
            dm.initiate(H(op["peer"]), _bundle(op["bundle"]))
            return None
        if kind == "encrypt":
            return dm.encrypt(H(op["peer"]), H(op["plaintext"])).hex()
        return dm.decrypt(H(op["peer"]), H(op["envelope"])).hex()
    assert group is not None, "no sender-key store"
    if kind == "start_chain":
        return group.start_chain(H(op["channel"])).hex()
    if kind == "group_encrypt":
        return group.encrypt(H(op["channel"]), H(op["plaintext"])).hex()
    if kind == "process_distribution":
        return group.process_distribution(H(op["channel"]), H(op["sender"]), H(op["distribution"]))
    if kind == "group_decrypt":
        return group.decrypt(H(op["channel"]), H(op["sender"]), H(op["envelope"])).hex()
    raise ValueError(f"unknown op {kind}")


if __name__ == "__main__":
    main()
