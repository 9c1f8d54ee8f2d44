/**
 * Double Ratchet sessions beyond the vectors: delivery out of order and with losses
 * within the skip bound, the bounds themselves, refusal of tampered or replayed
 * envelopes with the state left unchanged, and the session-store rules.
 */

import { describe, expect, it } from 'vitest';
import { concat, packU32, toHex } from '../../src/lib/crypto/bytes';
import { parseDmEnvelope } from '../../src/lib/crypto/envelopes';
import { IdentityKeyPair, LocalKeys } from '../../src/lib/crypto/keys';
import { MAX_SKIPPED_KEYS } from '../../src/lib/crypto/ratchet';
import { SessionStore } from '../../src/lib/crypto/sessions';
import { errorName, expectFlipsRefused, flipBit, seededRandom } from '../helpers';

const ALICE = '00000000-0000-4000-8000-00000000a11c';
const BOB = '00000000-0000-4000-8000-000000000b0b';
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function makeKeys(seedByte: number, rng: (n: number) => Uint8Array, oneTime = 5): LocalKeys {
  const keys = new LocalKeys(IdentityKeyPair.fromSeed(new Uint8Array(32).fill(seedByte)));
  keys.addSignedPrekey(1, rng);
  keys.addOneTimePrekeys(100, oneTime, rng);
  return keys;
}

/** Alice has initiated with Bob's bundle (OPK 100); Bob has not heard from her yet. */
function pair(seed = 1) {
  const rng = seededRandom(seed);
  const bobKeys = makeKeys(0xb0, rng);
  const alice = new SessionStore(makeKeys(0xa1, rng));
  const bob = new SessionStore(bobKeys);
  alice.initiate(BOB, bobKeys.bundle(1, 100), rng);
  return { alice, bob, rng, bobKeys };
}

/** A conversation where both sides have sessions and Alice no longer sends prekey envelopes. */
function established(seed = 1) {
  const p = pair(seed);
  expect(dec(p.bob.decrypt(ALICE, p.alice.encrypt(BOB, enc('hi')), p.rng))).toBe('hi');
  expect(dec(p.alice.decrypt(BOB, p.bob.encrypt(ALICE, enc('hello')), p.rng))).toBe('hello');
  return p;
}

function shuffle<T>(items: T[], rng: (n: number) => Uint8Array): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = new DataView(rng(4).buffer).getUint32(0) % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('delivery order', () => {
  it('decrypts every message under reordering and loss, across ratchet steps both ways', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const { alice, bob, rng } = established(seed);
      const sides = [
        { from: alice, to: bob, fromId: ALICE, toId: BOB },
        { from: bob, to: alice, fromId: BOB, toId: ALICE },
      ];
      for (let round = 0; round < 6; round++) {
        const { from, to, fromId, toId } = sides[round % 2];
        const sent = Array.from({ length: 12 }, (_, i) => ({ text: `r${round} m${i}`, env: from.encrypt(toId, enc(`r${round} m${i}`)) }));
        // Lose a few (never the chain's last, so the next round still has a fresh key to
        // ratchet to) and deliver the rest shuffled.
        const kept = sent.filter((_, i) => i === sent.length - 1 || rng(1)[0] % 4 !== 0);
        for (const m of shuffle(kept, rng)) expect(dec(to.decrypt(fromId, m.env, rng))).toBe(m.text);
        // Every delivered key is now used: a second delivery is a duplicate.
        expect(errorName(() => to.decrypt(fromId, kept[0].env, rng))).toBe('DuplicateMessage');
      }
    }
  });

  it('decrypts messages of an old chain delivered after the ratchet moved on', () => {
    const { alice, bob, rng } = established();
    const late = alice.encrypt(BOB, enc('late'));
    const next = alice.encrypt(BOB, enc('next'));
    expect(dec(bob.decrypt(ALICE, next, rng))).toBe('next');
    expect(dec(alice.decrypt(BOB, bob.encrypt(ALICE, enc('reply')), rng))).toBe('reply');
    const after = alice.encrypt(BOB, enc('new chain'));
    expect(dec(bob.decrypt(ALICE, after, rng))).toBe('new chain');
    expect(dec(bob.decrypt(ALICE, late, rng))).toBe('late');
  });

  it('allows exactly MAX_SKIP skipped keys in one chain and refuses one more, unchanged', () => {
    const { alice, bob, rng } = established();
    const envs = Array.from({ length: 1002 }, (_, i) => alice.encrypt(BOB, enc(`m${i}`)));
    const before = toHex(bob.toBytes());
    expect(errorName(() => bob.decrypt(ALICE, envs[1001], rng))).toBe('TooManySkipped');
    expect(toHex(bob.toBytes())).toBe(before);
    expect(dec(bob.decrypt(ALICE, envs[1000], rng))).toBe('m1000'); // skips 1000 keys: allowed
    expect(bob.sessions(ALICE)[0].ratchet.skipped.size).toBe(1000);
    expect(dec(bob.decrypt(ALICE, envs[3], rng))).toBe('m3');
  });

  it('applies the bound to pn at a ratchet step', () => {
    const { alice, bob, rng } = established();
    for (let i = 0; i < 1001; i++) alice.encrypt(BOB, enc('x'));
    expect(dec(alice.decrypt(BOB, bob.encrypt(ALICE, enc('turn')), rng))).toBe('turn');
    // Bob never saw the 1001 messages of Alice's previous chain: pn - Nr = 1001.
    const stepped = alice.encrypt(BOB, enc('stepped'));
    expect(errorName(() => bob.decrypt(ALICE, stepped, rng))).toBe('TooManySkipped');
  });

  it('keeps at most MAX_SKIPPED_KEYS skipped keys per session, oldest evicted first', () => {
    const { alice, bob, rng } = established();
    const first: Uint8Array[] = [];
    for (let chain = 0; chain < 3; chain++) {
      const envs = Array.from({ length: 1000 }, (_, i) => alice.encrypt(BOB, enc(`c${chain} m${i}`)));
      const last = alice.encrypt(BOB, enc(`c${chain} last`));
      first.push(envs[0]);
      expect(dec(bob.decrypt(ALICE, last, rng))).toBe(`c${chain} last`);
      expect(dec(alice.decrypt(BOB, bob.encrypt(ALICE, enc('turn')), rng))).toBe('turn');
    }
    expect(bob.sessions(ALICE)[0].ratchet.skipped.size).toBe(MAX_SKIPPED_KEYS);
    // Evicted: its chain is no longer the receiving one, so it cannot be opened at all.
    const before = toHex(bob.toBytes());
    expect(errorName(() => bob.decrypt(ALICE, first[0], rng))).toBe('DecryptError');
    expect(toHex(bob.toBytes())).toBe(before);
    expect(dec(bob.decrypt(ALICE, first[2], rng))).toBe('c2 m0');
  });
});

describe('refusals', () => {
  it('refuses single-bit changes anywhere in a ratchet envelope and stays unchanged', () => {
    const { alice, bob, rng } = established();
    const env = alice.encrypt(BOB, enc('tamper with me'));
    expectFlipsRefused(env, 3, (e) => bob.decrypt(ALICE, e, rng), () => bob.toBytes());
    expect(dec(bob.decrypt(ALICE, env, rng))).toBe('tamper with me');
  });

  it('refuses single-bit changes anywhere in a prekey envelope, then accepts the original', () => {
    const { alice, bob, rng, bobKeys } = pair();
    const env = alice.encrypt(BOB, enc('first'));
    expectFlipsRefused(env, 5, (e) => bob.decrypt(ALICE, e, rng), () => bob.toBytes());
    expect(bobKeys.oneTimePrekeys.has(100)).toBe(true); // not consumed by a failure
    expect(dec(bob.decrypt(ALICE, env, rng))).toBe('first');
    expect(bobKeys.oneTimePrekeys.has(100)).toBe(false);
  });

  it('refuses truncated and extended envelopes', () => {
    const { alice, bob, rng } = established();
    const env = alice.encrypt(BOB, enc('x'));
    for (const bad of [env.slice(0, 57), env.slice(0, env.length - 1), concat(env, new Uint8Array(1)), new Uint8Array(0)]) {
      expect(errorName(() => bob.decrypt(ALICE, bad, rng))).not.toBeNull();
    }
    expect(dec(bob.decrypt(ALICE, env, rng))).toBe('x');
  });

  it('refuses a prekey envelope whose unauthenticated ids were changed', () => {
    const { alice, bob, rng } = pair();
    const env = alice.encrypt(BOB, enc('one'));
    expect(dec(bob.decrypt(ALICE, env, rng))).toBe('one');
    const second = alice.encrypt(BOB, enc('two'));
    const otherOpk = concat(second.slice(0, 70), packU32(101), second.slice(74));
    // Other ids do not name the existing session, and its EK_A may not create another one.
    expect(errorName(() => bob.decrypt(ALICE, otherOpk, rng))).toBe('PrekeyReplay');
    const noOpk = concat(second.slice(0, 70), packU32(0xffffffff), second.slice(74));
    expect(errorName(() => bob.decrypt(ALICE, noOpk, rng))).toBe('PrekeyReplay');
    expect(dec(bob.decrypt(ALICE, second, rng))).toBe('two');
  });

  it('refuses an EK_A with bit 255 set (non-canonical) instead of re-creating the session', () => {
    const { alice, bob, rng } = pair();
    const env = alice.encrypt(BOB, enc('one'));
    expect(dec(bob.decrypt(ALICE, env, rng))).toBe('one');
    const flipped = flipBit(env, (34 + 31) * 8 + 7);
    expect(errorName(() => bob.decrypt(ALICE, flipped, rng))).not.toBeNull();
  });

  it('remembers EK_A after the session is gone: a replayed prekey envelope is refused', () => {
    const rng = seededRandom(7);
    const bobKeys = makeKeys(0xb0, rng, 0);
    const bob = new SessionStore(bobKeys);
    const alice = new SessionStore(makeKeys(0xa1, rng));
    alice.initiate(BOB, bobKeys.bundle(1), rng); // no one-time prekey left
    const first = alice.encrypt(BOB, enc('first'));
    expect(dec(bob.decrypt(ALICE, first, rng))).toBe('first');
    for (let i = 0; i < 5; i++) {
      alice.initiate(BOB, bobKeys.bundle(1), rng);
      expect(dec(bob.decrypt(ALICE, alice.encrypt(BOB, enc(`s${i}`)), rng))).toBe(`s${i}`);
    }
    expect(bob.sessions(ALICE).length).toBe(5); // the first session was deleted
    expect(errorName(() => bob.decrypt(ALICE, first, rng))).toBe('PrekeyReplay');
  });

  it('refuses a prekey envelope from an identity other than the pinned one', () => {
    const { alice, bob, rng } = pair();
    const env = alice.encrypt(BOB, enc('hi'));
    const other = IdentityKeyPair.fromSeed(new Uint8Array(32).fill(0x33)).publicKey;
    expect(errorName(() => bob.decrypt(ALICE, env, { rng, expectedIdentity: other }))).toBe('IdentityMismatch');
    const pinned = alice.keys.identity.publicKey;
    expect(dec(bob.decrypt(ALICE, env, { rng, expectedIdentity: pinned }))).toBe('hi');
  });

  it('refuses a header naming the current ratchet key while there is no receiving chain', () => {
    const { alice, bob, rng } = pair();
    // Bob answers nothing; Alice receives a message naming her own peer key (Bob's SPK)
    // as ratchet key although she has no receiving chain for it.
    const session = alice.sessions(BOB)[0];
    const header = concat(session.ratchet.dhr!, packU32(0), packU32(0));
    const forged = concat(Uint8Array.of(1, 2), header, new Uint8Array(16));
    expect(errorName(() => alice.decrypt(BOB, forged, rng))).toBe('DecryptError');
    expect(errorName(() => bob.decrypt(ALICE, forged, rng))).toBe('NoSession');
  });

  it('sends prekey envelopes until the first reply, then ordinary ones', () => {
    const { alice, bob, rng } = pair();
    const a1 = alice.encrypt(BOB, enc('a1'));
    const a2 = alice.encrypt(BOB, enc('a2'));
    expect(parseDmEnvelope(a1).type).toBe(1);
    expect(parseDmEnvelope(a2).type).toBe(1);
    expect(dec(bob.decrypt(ALICE, a2, rng))).toBe('a2');
    expect(dec(bob.decrypt(ALICE, a1, rng))).toBe('a1'); // same session, no second X3DH
    expect(bob.sessions(ALICE).length).toBe(1);
    expect(dec(alice.decrypt(BOB, bob.encrypt(ALICE, enc('b1')), rng))).toBe('b1');
    expect(parseDmEnvelope(alice.encrypt(BOB, enc('a3'))).type).toBe(2);
  });
});

describe('counters', () => {
  it('refuses to send past u32 (ChainExhausted) and leaves the state as it was', () => {
    const { alice, bob, rng } = established();
    const ratchet = alice.sessions(BOB)[0].ratchet;
    ratchet.ns = 0xffffffff;
    const last = alice.encrypt(BOB, enc('last of the chain'));
    expect(ratchet.ns).toBe(2 ** 32);
    const before = toHex(alice.toBytes());
    expect(errorName(() => alice.encrypt(BOB, enc('one too many')))).toBe('ChainExhausted');
    expect(toHex(alice.toBytes())).toBe(before);
    // n = 0xFFFFFFFF is far beyond MAX_SKIP for Bob: refused, not wrapped around.
    expect(errorName(() => bob.decrypt(ALICE, last, rng))).toBe('TooManySkipped');
  });
});

describe('state', () => {
  it('round-trips through bytes mid-conversation and continues identically', () => {
    const { alice, bob, rng } = established();
    const pending = alice.encrypt(BOB, enc('in flight'));
    const restored = SessionStore.fromBytes(bob.toBytes());
    expect(toHex(restored.toBytes())).toBe(toHex(bob.toBytes()));
    expect(dec(restored.decrypt(ALICE, pending, rng))).toBe('in flight');
  });

  it('refuses corrupted or foreign state with StateError', () => {
    const { bob } = established();
    const blob = bob.toBytes();
    const text = new TextDecoder().decode(blob);
    const corrupt = enc(text.replace('"ns":', '"ns":1'));
    expect(errorName(() => SessionStore.fromBytes(corrupt))).toBe('StateError');
    expect(errorName(() => SessionStore.fromBytes(blob.slice(0, blob.length - 5)))).toBe('StateError');
    expect(errorName(() => SessionStore.fromBytes(bob.keys.toBytes()))).toBe('StateError');
    expect(errorName(() => SessionStore.fromBytes(enc('[]')))).toBe('StateError');
  });
});
