"""/api/keys (prekey bundles and uploads) and /api/channels/{id}/sender-keys (issue 5).

Every route needs an authenticated, active user. The rules are in docs/keys.md.
"""

from __future__ import annotations

import uuid

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from chatalot.accounts.runtime import AccountsRuntime
from chatalot.api.context import errors
from chatalot.api.guards import require_authenticated
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import get, post, put
from chatalot.auth.principal import Principal
from chatalot.domain.errors import DomainError
from chatalot.domain.keys import rules
from chatalot.domain.keys.rules import b64encode
from chatalot.keys import commands, identity, queries
from chatalot.keys import contracts as c
from chatalot.keys.runtime import KeyServerRuntime
from chatalot.request_info import RequestInfo
from event_store import Position

BODY_LIMIT = 64 * 1024


class KeysController(Controller):
    path = "/api/keys"
    tags = ["keys"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @get("/{user_id:str}/bundle", summary="Fetch a user's prekey bundle for X3DH",
         cache=False, responses=errors(401, 403, 404, 409))
    async def bundle(self, user_id: FromPath[uuid.UUID], keys: NamedDependency[KeyServerRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.KeyBundle:
        """Hands out one one-time prekey (null when none is left), deleted in the same
        transaction: no one-time prekey is ever handed out twice. Any user may fetch any
        user's bundle, except one who blocked them (403). One's own bundle comes without a
        one-time prekey. `position` is null when the fetch appended no event. Fetches are
        rate limited per requester and per (requester, owner) (429), and a requester gets
        at most one of the owner's last 5 one-time prekeys per hour (docs/keys.md)."""
        caller, limiter = principal.user_id, keys.limiter
        for bucket in rules.bundle_fetch_buckets(caller, user_id):
            decision = await limiter.hit(*bucket)
            if not decision.allowed:
                raise DomainError("rate_limited", "too many bundle fetches; slow down",
                                  retry_after_secs=decision.retry_after_secs)

        async def take_reserve() -> bool:
            return (await limiter.hit(*rules.reserve_bucket(caller, user_id))).allowed

        b = await commands.fetch_bundle(keys, caller, user_id, info,
                                        take_reserve=take_reserve)
        opk = None if b.one_time_prekey is None else c.OneTimePrekey(
            key_id=b.one_time_prekey[0], public_key=b64encode(b.one_time_prekey[1]))
        return c.KeyBundle(
            user_id=b.user_id, identity_key=b64encode(b.identity_key),
            signed_prekey=c.SignedPrekey(
                key_id=b.signed_prekey.key_id,
                public_key=b64encode(b.signed_prekey.public_key),
                signature=b64encode(b.signed_prekey.signature)),
            one_time_prekey=opk, position=b.position)

    @put("/identity", status_code=200, summary="Replace my identity key and whole bundle",
         responses=errors(401, 403, 409, 413, 422))
    async def replace_identity(self, data: JSONBody[c.IdentityReplacement],
                               keys: NamedDependency[KeyServerRuntime],
                               accounts: NamedDependency[AccountsRuntime],
                               principal: NamedDependency[Principal],
                               info: NamedDependency[RequestInfo]) -> c.IdentityReply:
        """For a device that lost its keys: the bundle is checked as a registration's
        (400), the password like a login (403 when wrong, lockout included). Every old
        prekey goes; the key already in place is 409. Everyone who shares a channel with
        the account gets `identity_key_changed`."""
        fingerprint, position = await identity.replace_identity(
            keys, accounts, principal.user_id, data, info)
        return c.IdentityReply(fingerprint=fingerprint, position=position)

    @post("/prekeys/signed", status_code=200, summary="Upload a new signed prekey",
          responses=errors(401, 409, 413, 422))
    async def upload_signed(self, data: JSONBody[c.SignedPrekeyUpload],
                            keys: NamedDependency[KeyServerRuntime],
                            principal: NamedDependency[Principal],
                            info: NamedDependency[RequestInfo]) -> c.SignedPrekeyReply:
        """The signature must verify with the account's identity key (strict Ed25519),
        else 400. It becomes the prekey that bundles hand out; the previous two are kept,
        and a key id among the three kept is 409."""
        key_id, position = await commands.upload_signed_prekey(
            keys, principal.user_id, data.key_id, data.public_key,
            data.signature, info)
        return c.SignedPrekeyReply(key_id=key_id, position=position)

    @post("/prekeys/one-time", status_code=200, summary="Upload a batch of one-time prekeys",
          responses=errors(401, 409, 413, 422))
    async def upload_one_time(self, data: JSONBody[c.OneTimePrekeyBatch],
                              keys: NamedDependency[KeyServerRuntime],
                              principal: NamedDependency[Principal],
                              info: NamedDependency[RequestInfo]) -> c.OneTimePrekeysReply:
        """A JSON array of 1-200 `{key_id, public_key}`. All or nothing: an invalid,
        small-order or non-canonical key is 400; a key id twice in the batch or already
        stored is 409; more than 500 stored in all is 422 `limit_reached`. Returns the
        count stored now."""
        count, position = await commands.upload_one_time_prekeys(
            keys, principal.user_id, data, info)
        return c.OneTimePrekeysReply(count=count, position=position)

    @get("/prekeys/count", summary="How many one-time prekeys the server holds for me",
         cache=False, responses=errors(401), dependencies={"consistent": read_your_writes()})
    async def count(self, keys: NamedDependency[KeyServerRuntime],
                    principal: NamedDependency[Principal],
                    consistent: NamedDependency[Position | None]) -> c.PrekeyCount:
        """Exact and current (read from the decision state, not a projection, so any
        `Chatalot-Min-Position` a command returned is already satisfied)."""
        return await queries.prekey_count(keys.pool, principal.user_id)


class SenderKeysController(Controller):
    path = "/api/channels/{channel_id:str}/sender-keys"
    tags = ["keys"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @post("/", status_code=200, summary="Distribute my sender key to channel members",
          responses=errors(401, 403, 404, 409, 413, 422))
    async def distribute(self, channel_id: FromPath[uuid.UUID],
                         data: JSONBody[c.SenderKeyDistribution],
                         keys: NamedDependency[KeyServerRuntime],
                         principal: NamedDependency[Principal],
                         info: NamedDependency[RequestInfo]) -> c.SenderKeysReply:
        """One DM envelope (base64, crypto.md) per recipient, whose plaintext is the
        89-byte distribution; the server checks its shape, never its content. The caller
        must be a member (403; 404 for an unknown channel); every recipient must be a
        member, at most once, never the caller (400). Each copy is delivered to its
        recipient alone (`sender_key_updated`)."""
        count, position = await commands.distribute_sender_key(
            keys, principal.user_id, channel_id, data.chain_id,
            data.distributions, info)
        return c.SenderKeysReply(count=count, position=position)

    @get("/", summary="The sender keys addressed to me in this channel", cache=False,
         responses=errors(401, 403, 404, 503),
         dependencies={"consistent": read_your_writes("sender_keys")})
    async def mine(self, channel_id: FromPath[uuid.UUID], keys: NamedDependency[KeyServerRuntime],
                   principal: NamedDependency[Principal],
                   consistent: NamedDependency[Position | None]) -> list[c.StoredSenderKey]:
        """Only the caller's own copies: the latest per (sender, chain), newest first, at
        most 1000 (5 chains per sender are kept). Members only (403; 404 for an unknown
        channel)."""
        return await queries.sender_keys(keys.pool, channel_id, principal.user_id)
