/**
 * The committed vectors (tests/vectors/crypto/, shared with the Python library) are the
 * contract: every value is replayed and compared byte for byte, the same steps as
 * tests/crypto/test_crypto_vectors.py.
 */

import { ed25519 as nobleEd25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { equal } from '../../src/lib/crypto/bytes';
import { verify, isValidPoint } from '../../src/lib/crypto/ed25519';
import * as ed from '../../src/lib/crypto/edwards25519';
import {
  encodeDistribution,
  encodeDmEnvelope,
  encodeGroupEnvelope,
  parseDistribution,
  parseDmEnvelope,
  parseGroupEnvelope,
  TYPE_PREKEY,
} from '../../src/lib/crypto/envelopes';
import { fingerprint, safetyNumber, safetyNumberHalf } from '../../src/lib/crypto/fingerprints';
import {
  IdentityKeyPair,
  LocalKeys,
  OneTimePrekey,
  SignedPrekey,
  validateKeyId,
  validateX25519Public,
  verifySignedPrekey,
  type PrekeyBundle,
} from '../../src/lib/crypto/keys';
import { INFO_MESSAGE_KEYS, INFO_SENDER_KEY, kdfCk, messageKeyMaterial, x25519 } from '../../src/lib/crypto/primitives';
import { kdfRk } from '../../src/lib/crypto/ratchet';
import { SenderKeyStore } from '../../src/lib/crypto/senderKeys';
import { SessionStore } from '../../src/lib/crypto/sessions';
import * as x3dh from '../../src/lib/crypto/x3dh';
import { ascii, errorName, hex, loadVectors, QueueRandom, ratchetSnapshot, unhex } from '../helpers';

describe('keys.json', () => {
  const v = loadVectors('keys.json');

  it('derives identities, prekeys and signatures', () => {
    for (const ident of v.identities) {
      const ik = IdentityKeyPair.fromSeed(unhex(ident.seed));
      expect(hex(ik.publicKey)).toBe(ident.ed25519_public);
      expect(hex(ik.x25519Private)).toBe(ident.x25519_private);
      expect(hex(ik.x25519Public)).toBe(ident.x25519_public);
    }
    const s = v.signed_prekey;
    const bob = IdentityKeyPair.fromSeed(unhex(s.identity_seed));
    const spk = SignedPrekey.fromPrivate(bob, s.key_id, unhex(s.private));
    expect(hex(spk.publicKey)).toBe(s.public);
    expect(hex(spk.signature)).toBe(s.signature);
    verifySignedPrekey(bob.publicKey, spk.publicKey, spk.signature);
    expect(errorName(() => verifySignedPrekey(bob.publicKey, spk.publicKey, unhex(s.tampered_signature)))).toBe(
      'InvalidSignature',
    );
    const o = v.one_time_prekey;
    expect(hex(OneTimePrekey.fromPrivate(o.key_id, unhex(o.private)).publicKey)).toBe(o.public);
  });

  it('validates X25519 public keys and key ids', () => {
    for (const c of v.x25519_public_validation) {
      expect(errorName(() => validateX25519Public(unhex(c.public))), c.reason).toBe(c.valid ? null : 'InvalidKey');
    }
    for (const c of v.key_id_validation) {
      expect(errorName(() => validateKeyId(c.key_id)), String(c.key_id)).toBe(c.valid ? null : 'InvalidKeyId');
    }
    expect(v.key_id_validation.map((c: { valid: boolean }) => c.valid)).toEqual([true, true, true, true, false, false, false]);
  });
});

describe('ed25519.json', () => {
  const v = loadVectors('ed25519.json');

  it('verifies signatures strictly, refusing what a lenient verifier accepts', () => {
    expect(v.signatures.filter((c: { valid: boolean }) => c.valid).length).toBe(3);
    for (const c of v.signatures) {
      const got = errorName(() => verify(unhex(c.public_key), unhex(c.message), unhex(c.signature)));
      expect(got, c.name).toBe(c.valid ? null : 'InvalidSignature');
    }
  });

  it('needs its explicit checks: noble alone accepts crafted signatures in both modes', () => {
    const acceptedBy = (zip215: boolean) =>
      v.signatures
        .filter((c: { valid: boolean }) => !c.valid)
        .filter((c: { public_key: string; message: string; signature: string }) => {
          try {
            return nobleEd25519.verify(unhex(c.signature), unhex(c.message), unhex(c.public_key), { zip215 });
          } catch {
            return false;
          }
        })
        .map((c: { name: string }) => c.name);
    // If a noble upgrade starts refusing these, the explicit checks stay: crypto.md asks for them.
    expect(acceptedBy(false)).toEqual(['r_identity', 'r_small_order', 'r_mixed_order', 'a_mixed_order']);
    expect(acceptedBy(true).length).toBe(11); // all but wrong_message and s_not_reduced
  });

  it('checks points (strict decoding, order L) and round-trips what decodes', () => {
    for (const c of v.points) {
      const enc = unhex(c.encoding);
      expect(isValidPoint(enc), c.name).toBe(c.valid);
      const decoded = ed.decode(enc);
      if (decoded !== null) expect(hex(ed.encode(decoded)), c.name).toBe(c.encoding);
    }
  });
});

describe('x3dh.json', () => {
  const v = loadVectors('x3dh.json');

  it.each([0, 1])('case %i: X3DH, ratchet init, first prekey envelope', (index) => {
    const c = v.cases[index];
    const alice = IdentityKeyPair.fromSeed(unhex(c.alice_identity_seed));
    const bobKeys = new LocalKeys(IdentityKeyPair.fromSeed(unhex(c.bob_identity_seed)));
    const spk = SignedPrekey.fromPrivate(bobKeys.identity, c.bob_signed_prekey.key_id, unhex(c.bob_signed_prekey.private));
    bobKeys.signedPrekeys.set(spk.keyId, spk);
    let opk: OneTimePrekey | null = null;
    if (c.bob_one_time_prekey !== null) {
      opk = OneTimePrekey.fromPrivate(c.bob_one_time_prekey.key_id, unhex(c.bob_one_time_prekey.private));
      bobKeys.oneTimePrekeys.set(opk.keyId, opk);
    }
    const b = c.bundle;
    const bundle: PrekeyBundle = {
      identityKey: unhex(b.identity_key),
      signedPrekeyId: b.signed_prekey_id,
      signedPrekey: unhex(b.signed_prekey),
      signedPrekeySignature: unhex(b.signed_prekey_signature),
      oneTimePrekeyId: b.one_time_prekey_id,
      oneTimePrekey: b.one_time_prekey === null ? null : unhex(b.one_time_prekey),
    };
    expect(bobKeys.bundle(spk.keyId, opk === null ? null : opk.keyId)).toEqual(bundle);
    expect(hex(alice.x25519Public)).toBe(c.alice_identity_x25519_public);
    expect(hex(bobKeys.identity.x25519Public)).toBe(c.bob_identity_x25519_public);

    // X3DH alone, intermediate by intermediate.
    const ekPrivate = unhex(c.ephemeral_private);
    expect(c.alice_initiate_random[0]).toBe(c.ephemeral_private);
    const init = x3dh.initiate(alice, bundle, new QueueRandom([c.ephemeral_private]).rng);
    expect(hex(init.ephemeralPublic)).toBe(c.ephemeral_public);
    const dh = [
      x25519(alice.x25519Private, spk.publicKey),
      x25519(ekPrivate, bobKeys.identity.x25519Public),
      x25519(ekPrivate, spk.publicKey),
    ];
    if (opk !== null) dh.push(x25519(ekPrivate, opk.publicKey));
    expect(dh.map(hex)).toEqual(c.dh);
    expect(c.dh.length).toBe(opk ? 4 : 3);
    expect(hex(init.sharedSecret)).toBe(c.shared_secret);
    expect(hex(init.associatedData)).toBe(c.associated_data);
    const resp = x3dh.respond(bobKeys.identity, spk, opk, alice.publicKey, init.ephemeralPublic);
    expect(equal(resp.sharedSecret, init.sharedSecret)).toBe(true);
    expect(equal(resp.associatedData, init.associatedData)).toBe(true);

    // Ratchet init and the first prekey envelope.
    const aliceStore = new SessionStore(new LocalKeys(alice));
    let rng = new QueueRandom(c.alice_initiate_random);
    const session = aliceStore.initiate(unhex(v.bob_user_id), bundle, rng.rng);
    rng.assertDone();
    const firstDh = x25519(unhex(c.alice_ratchet_private), spk.publicKey);
    expect(hex(firstDh)).toBe(c.alice_ratchet_dh);
    const [rk, cks] = kdfRk(init.sharedSecret, firstDh);
    expect([hex(rk), hex(cks)]).toEqual([c.root_key, c.sending_chain_key]);
    expect([hex(session.ratchet.rk), hex(session.ratchet.cks!)]).toEqual([c.root_key, c.sending_chain_key]);
    const first = c.first_message;
    const [mk, ck1] = kdfCk(cks);
    const [key, nonce] = messageKeyMaterial(mk, INFO_MESSAGE_KEYS);
    expect([hex(mk), hex(ck1), hex(key), hex(nonce)]).toEqual([
      first.message_key, first.next_chain_key, first.aead_key, first.aead_nonce,
    ]);
    const envelope = aliceStore.encrypt(unhex(v.bob_user_id), unhex(first.plaintext));
    expect(hex(envelope)).toBe(first.envelope);
    const message = parseDmEnvelope(envelope);
    expect(message.type).toBe(TYPE_PREKEY);
    expect(hex(message.header)).toBe(first.header);

    const bobStore = new SessionStore(bobKeys);
    rng = new QueueRandom(c.bob_decrypt_random);
    const plaintext = bobStore.decrypt(unhex(v.alice_user_id), envelope, rng.rng);
    rng.assertDone();
    expect(hex(plaintext)).toBe(first.plaintext);
    expect(ratchetSnapshot(bobStore.sessions(unhex(v.alice_user_id))[0].ratchet)).toEqual(c.bob_state_after);
    expect(bobKeys.oneTimePrekeys.size).toBe(0); // the OPK is consumed (or there was none left)
  });
});

describe('ratchet.json', () => {
  it('replays the conversation: envelopes, errors, states and final stores', () => {
    const v = loadVectors('ratchet.json');
    const bobPublic = LocalKeys.fromBytes(ascii(v.initial_keys.bob));
    const stores: Record<string, SessionStore> = {
      alice: new SessionStore(LocalKeys.fromBytes(ascii(v.initial_keys.alice))),
      bob: new SessionStore(LocalKeys.fromBytes(ascii(v.initial_keys.bob))),
    };
    const peers: Record<string, Uint8Array> = { alice: unhex(v.bob_user_id), bob: unhex(v.alice_user_id) };
    const ops: Record<string, number> = { initiate: 0, encrypt: 0, decrypt: 0 };
    for (const step of v.steps) {
      const store = stores[step.actor];
      const peer = peers[step.actor];
      ops[step.op] += 1;
      if (step.op === 'initiate') {
        const bundle = bobPublic.bundle(step.bundle_signed_prekey_id, step.bundle_one_time_prekey_id);
        const rng = new QueueRandom(step.random);
        store.initiate(peer, bundle, rng.rng);
        rng.assertDone();
      } else if (step.op === 'encrypt') {
        const state = store.sessions(peer)[0].ratchet;
        const [mk] = kdfCk(state.cks!);
        const [key, nonce] = messageKeyMaterial(mk, INFO_MESSAGE_KEYS);
        expect([hex(mk), hex(key), hex(nonce)]).toEqual([step.message_key, step.aead_key, step.aead_nonce]);
        expect(hex(store.encrypt(peer, unhex(step.plaintext))), step.label).toBe(step.envelope);
      } else {
        const rng = new QueueRandom(step.random);
        const before = hex(store.toBytes());
        let plaintext: Uint8Array | null = null;
        const got = errorName(() => {
          plaintext = store.decrypt(peer, unhex(step.envelope), rng.rng);
        });
        expect(got, step.note).toBe(step.error);
        if (got !== null) expect(hex(store.toBytes()), 'state unchanged on error').toBe(before);
        else expect(hex(plaintext!)).toBe(step.plaintext);
        rng.assertDone();
      }
      expect(ratchetSnapshot(store.sessions(peer)[0].ratchet), JSON.stringify(step.label ?? step.note)).toEqual(step.state);
    }
    expect(ops).toEqual({ initiate: 1, encrypt: 9, decrypt: 13 });
    for (const actor of ['alice', 'bob']) {
      const blob = stores[actor].toBytes();
      expect(new TextDecoder().decode(blob)).toBe(v.final_stores[actor]);
      expect(hex(SessionStore.fromBytes(blob).toBytes())).toBe(hex(blob));
    }
  });
});

describe('sender_keys.json', () => {
  it('replays chains, distributions, messages and refusals', () => {
    const v = loadVectors('sender_keys.json');
    const channel = unhex(v.channel_id);
    const aliceId = unhex(v.alice_user_id);
    const alice = new SenderKeyStore(aliceId);
    const bob = new SenderKeyStore(unhex(v.bob_user_id));
    for (const step of v.steps) {
      if (step.op === 'start_chain') {
        const rng = new QueueRandom(step.random);
        expect(hex(alice.startChain(channel, rng.rng))).toBe(step.distribution);
        rng.assertDone();
      } else if (step.op === 'distribution') {
        expect(hex(alice.distribution(channel))).toBe(step.distribution);
      } else if (step.op === 'encrypt') {
        const chain = alice.sendingChain(channel)!;
        expect([chain.chainId, chain.iteration]).toEqual([step.chain_id, step.iteration]);
        expect(hex(chain.chainKey)).toBe(step.chain_key);
        const [mk, next] = kdfCk(chain.chainKey);
        const [key, nonce] = messageKeyMaterial(mk, INFO_SENDER_KEY);
        expect([hex(mk), hex(next), hex(key), hex(nonce)]).toEqual([
          step.message_key, step.next_chain_key, step.aead_key, step.aead_nonce,
        ]);
        const signingPublic = chain.signingPublic;
        const envelope = alice.encrypt(channel, unhex(step.plaintext));
        expect(hex(envelope)).toBe(step.envelope);
        expect(hex(envelope.slice(-64))).toBe(step.signature);
        verify(signingPublic, envelope.slice(0, -64), envelope.slice(-64));
      } else if (step.op === 'process_distribution') {
        let stored: boolean | null = null;
        const got = errorName(() => {
          stored = bob.processDistribution(unhex(step.channel_id), aliceId, unhex(step.distribution));
        });
        expect(got, step.note).toBe(step.error);
        if (got === null) expect(stored, step.note).toBe(step.stored);
      } else {
        const before = hex(bob.toBytes());
        let plaintext: Uint8Array | null = null;
        const got = errorName(() => {
          plaintext = bob.decrypt(channel, aliceId, unhex(step.envelope));
        });
        expect(got, step.note).toBe(step.error);
        if (got !== null) expect(hex(bob.toBytes())).toBe(before);
        else expect(hex(plaintext!)).toBe(step.plaintext);
        const chains = bob.receivingChains(channel, aliceId).map((c) => ({
          chain_id: c.chainId,
          iteration: c.iteration,
          chain_key: hex(c.chainKey),
          skipped: [...c.skipped.keys()].sort((a, b) => a - b),
        }));
        expect(chains, step.note).toEqual(step.chains);
      }
    }
    expect(new TextDecoder().decode(bob.toBytes())).toBe(v.final_receiver_state);
    const errorsSeen = [...new Set(v.steps.filter((s: { error?: string }) => s.error).map((s: { error: string }) => s.error))].sort();
    expect(errorsSeen).toEqual(['DuplicateMessage', 'InvalidKey', 'InvalidSignature', 'WrongChannel']);
  });
});

describe('fingerprints.json', () => {
  it('computes fingerprints and symmetric safety numbers', () => {
    const v = loadVectors('fingerprints.json');
    const byName: Record<string, [Uint8Array, Uint8Array]> = {};
    ['alice', 'bob', 'carol'].forEach((name, i) => {
      const party = v.parties[i];
      const key = unhex(party.identity_key);
      const uid = unhex(party.user_id);
      expect(fingerprint(key)).toBe(party.fingerprint);
      expect(party.fingerprint.length).toBe(79);
      expect(safetyNumberHalf(key, uid)).toBe(party.safety_number_half);
      byName[name] = [key, uid];
    });
    for (const pair of v.pairs) {
      const [a, b] = [byName[pair.a], byName[pair.b]];
      expect(safetyNumber(a[0], a[1], b[0], b[1])).toBe(pair.safety_number);
      expect(safetyNumber(b[0], b[1], a[0], a[1])).toBe(pair.safety_number);
      expect(pair.safety_number).toMatch(/^\d{60}$/);
    }
  });
});

describe('envelopes.json', () => {
  it('parses strictly and re-encodes exactly', () => {
    const v = loadVectors('envelopes.json');
    expect(v.cases.some((c: object) => 'error' in c)).toBe(true);
    for (const c of v.cases) {
      const data = unhex(c.bytes);
      const parse = c.kind === 'dm' ? parseDmEnvelope : c.kind === 'group' ? parseGroupEnvelope : parseDistribution;
      if ('error' in c) {
        expect(errorName(() => parse(data)), c.name).toBe('InvalidEnvelope');
        continue;
      }
      const parsed = parse(data);
      const encoded =
        c.kind === 'dm'
          ? encodeDmEnvelope(parsed as ReturnType<typeof parseDmEnvelope>)
          : c.kind === 'group'
            ? encodeGroupEnvelope(parsed as ReturnType<typeof parseGroupEnvelope>)
            : encodeDistribution(parsed as ReturnType<typeof parseDistribution>);
      expect(hex(encoded), c.name).toBe(c.bytes);
      const fields: Record<string, string> = {
        identity_key: 'identityKey', base_key: 'baseKey', signed_prekey_id: 'signedPrekeyId',
        one_time_prekey_id: 'oneTimePrekeyId', header: 'header', ciphertext: 'ciphertext', chain_id: 'chainId',
        iteration: 'iteration', signature: 'signature', channel_id: 'channelId', chain_key: 'chainKey',
        signing_key: 'signingKey',
      };
      for (const [field, want] of Object.entries(c.parsed)) {
        const p = parsed as unknown as Record<string, unknown>;
        if (field === 'type') {
          expect(p.type === TYPE_PREKEY, c.name).toBe(want === 1);
          continue;
        }
        const got = p[fields[field]];
        expect(got instanceof Uint8Array ? hex(got) : got, `${c.name}.${field}`).toBe(want);
      }
    }
  });
});
