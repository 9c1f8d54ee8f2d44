/** Sender Keys beyond the vectors: order, loss, bounds, rotation and tampering. */

import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/lib/crypto/bytes';
import { encodeDistribution, parseDistribution } from '../../src/lib/crypto/envelopes';
import { kdfCk } from '../../src/lib/crypto/primitives';
import { MAX_AHEAD, MAX_SKIPPED_PER_CHAIN, SenderKeyStore } from '../../src/lib/crypto/senderKeys';
import { errorName, expectFlipsRefused, seededRandom } from '../helpers';

const CHANNEL = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';
const ALICE = '00000000-0000-4000-8000-00000000a11c';
const BOB = '00000000-0000-4000-8000-000000000b0b';
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function setup(seed = 1) {
  const rng = seededRandom(seed);
  const alice = new SenderKeyStore(ALICE);
  const bob = new SenderKeyStore(BOB);
  const dist = alice.startChain(CHANNEL, rng);
  expect(bob.processDistribution(CHANNEL, ALICE, dist)).toBe(true);
  return { alice, bob, rng, dist };
}

describe('sender keys', () => {
  it('decrypts under reordering and loss', () => {
    const { alice, bob, rng } = setup();
    const sent = Array.from({ length: 40 }, (_, i) => ({ text: `m${i}`, env: alice.encrypt(CHANNEL, enc(`m${i}`)) }));
    const kept = sent.filter(() => rng(1)[0] % 3 !== 0).reverse();
    for (const m of kept) expect(dec(bob.decrypt(CHANNEL, ALICE, m.env))).toBe(m.text);
    expect(errorName(() => bob.decrypt(CHANNEL, ALICE, kept[0].env))).toBe('DuplicateMessage');
  });

  it('allows exactly MAX_AHEAD iterations ahead and refuses one more, unchanged', () => {
    const { alice, bob } = setup();
    const chain = alice.sendingChain(CHANNEL)!;
    // Advance the sending chain as 25,000 encryptions would, without signing each one.
    const advance = (count: number) => {
      for (let i = 0; i < count; i++) {
        chain.chainKey = kdfCk(chain.chainKey)[1];
        chain.iteration += 1;
      }
    };
    advance(MAX_AHEAD + 1);
    const far = alice.encrypt(CHANNEL, enc('too far')); // iteration MAX_AHEAD + 1
    const before = toHex(bob.toBytes());
    expect(errorName(() => bob.decrypt(CHANNEL, ALICE, far))).toBe('TooManySkipped');
    expect(toHex(bob.toBytes())).toBe(before);

    const fresh = setup(2);
    const freshChain = fresh.alice.sendingChain(CHANNEL)!;
    for (let i = 0; i < MAX_AHEAD; i++) {
      freshChain.chainKey = kdfCk(freshChain.chainKey)[1];
      freshChain.iteration += 1;
    }
    const edge = fresh.alice.encrypt(CHANNEL, enc('edge')); // exactly MAX_AHEAD ahead
    expect(dec(fresh.bob.decrypt(CHANNEL, ALICE, edge))).toBe('edge');
    // Only the 2000 most recent skipped keys are kept.
    expect(fresh.bob.receivingChains(CHANNEL, ALICE)[0].skipped.size).toBe(MAX_SKIPPED_PER_CHAIN);
  });

  it('refuses tampered group envelopes (signature first), unchanged', () => {
    const { alice, bob } = setup();
    const env = alice.encrypt(CHANNEL, enc('signed'));
    expectFlipsRefused(env, 7, (e) => bob.decrypt(CHANNEL, ALICE, e), () => bob.toBytes());
    // Another sender or channel: the AAD differs or there is no chain.
    expect(errorName(() => bob.decrypt(OTHER, ALICE, env))).toBe('UnknownSenderChain');
    expect(errorName(() => bob.decrypt(CHANNEL, BOB, env))).toBe('UnknownSenderChain');
    expect(dec(bob.decrypt(CHANNEL, ALICE, env))).toBe('signed');
  });

  it('refuses a distribution for another channel or with a bad signing key', () => {
    const { alice, bob, rng } = setup();
    const dist = alice.startChain(OTHER, rng);
    expect(errorName(() => bob.processDistribution(CHANNEL, ALICE, dist))).toBe('WrongChannel');
    const parsed = parseDistribution(alice.distribution(CHANNEL));
    const identity = new Uint8Array(32);
    identity[0] = 1; // y = 1: the identity point
    const bad = encodeDistribution({ ...parsed, chainId: 77, signingKey: identity });
    expect(errorName(() => bob.processDistribution(CHANNEL, ALICE, bad))).toBe('InvalidKey');
    expect(errorName(() => bob.processDistribution(CHANNEL, ALICE, dist.slice(0, 88)))).toBe('InvalidEnvelope');
  });

  it('never rewinds a chain: a re-sent distribution is ignored', () => {
    const { alice, bob, dist } = setup();
    const m0 = alice.encrypt(CHANNEL, enc('m0'));
    expect(dec(bob.decrypt(CHANNEL, ALICE, m0))).toBe('m0');
    expect(bob.processDistribution(CHANNEL, ALICE, dist)).toBe(false);
    expect(errorName(() => bob.decrypt(CHANNEL, ALICE, m0))).toBe('DuplicateMessage');
  });

  it('keeps the 5 most recent chains of a sender and remembers older ids', () => {
    const { alice, bob, rng, dist } = setup();
    const old = alice.encrypt(CHANNEL, enc('old chain'));
    const lastOfEach: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      expect(bob.processDistribution(CHANNEL, ALICE, alice.startChain(CHANNEL, rng))).toBe(true);
      lastOfEach.push(alice.encrypt(CHANNEL, enc(`chain ${i}`)));
    }
    expect(bob.receivingChains(CHANNEL, ALICE).length).toBe(5);
    expect(errorName(() => bob.decrypt(CHANNEL, ALICE, old))).toBe('UnknownSenderChain');
    expect(bob.processDistribution(CHANNEL, ALICE, dist)).toBe(false); // remembered, ignored
    for (let i = 0; i < 5; i++) expect(dec(bob.decrypt(CHANNEL, ALICE, lastOfEach[i]))).toBe(`chain ${i}`);
  });

  it('refuses to send past u32 (ChainExhausted)', () => {
    const { alice } = setup();
    const chain = alice.sendingChain(CHANNEL)!;
    chain.iteration = 0xffffffff;
    alice.encrypt(CHANNEL, enc('last'));
    expect(errorName(() => alice.encrypt(CHANNEL, enc('one too many')))).toBe('ChainExhausted');
    expect(errorName(() => alice.distribution(CHANNEL))).toBe('ChainExhausted');
  });

  it('round-trips its state through bytes', () => {
    const { alice, bob } = setup();
    const m = alice.encrypt(CHANNEL, enc('after restore'));
    const restoredAlice = SenderKeyStore.fromBytes(alice.toBytes());
    expect(toHex(restoredAlice.toBytes())).toBe(toHex(alice.toBytes()));
    const restoredBob = SenderKeyStore.fromBytes(bob.toBytes());
    expect(dec(restoredBob.decrypt(CHANNEL, ALICE, m))).toBe('after restore');
    expect(dec(bob.decrypt(CHANNEL, ALICE, restoredAlice.encrypt(CHANNEL, enc('next'))))).toBe('next');
  });
});
