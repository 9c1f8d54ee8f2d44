/**
 * Properties over random delivery schedules (fast-check), as the Python library's
 * hypothesis tests: every message decrypts exactly once, in any order, with losses;
 * duplicates and single-bit changes are refused with the state unchanged; state survives
 * a save and load mid-way. FC_RUNS sets the number of runs (default 25).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/lib/crypto/bytes';
import { IdentityKeyPair, LocalKeys } from '../../src/lib/crypto/keys';
import { SenderKeyStore } from '../../src/lib/crypto/senderKeys';
import { SessionStore } from '../../src/lib/crypto/sessions';
import { safetyNumber } from '../../src/lib/crypto/fingerprints';
import { errorName, flipBit, seededRandom } from '../helpers';

const RUNS = Number(process.env.FC_RUNS ?? 25);
const A = '0000000000000000000000000000000a';
const B = '0000000000000000000000000000000b';
const CH = '0000000000000000000000000000000c';

const step = fc.record({
  action: fc.constantFrom('send_a', 'send_b', 'deliver', 'deliver', 'deliver', 'duplicate', 'drop', 'tamper', 'reload'),
  to: fc.constantFrom('a', 'b'),
  pick: fc.nat(),
  bit: fc.nat(),
  payload: fc.uint8Array({ maxLength: 64 }),
});

type Msg = [Uint8Array, Uint8Array];

function refused(decrypt: () => unknown, state: () => Uint8Array): void {
  const before = toHex(state());
  expect(errorName(decrypt)).not.toBeNull();
  expect(toHex(state())).toBe(before);
}

function keys(seedByte: number, rng: (n: number) => Uint8Array): LocalKeys {
  const k = new LocalKeys(IdentityKeyPair.fromSeed(new Uint8Array(32).fill(seedByte)));
  k.addSignedPrekey(1, rng);
  k.addOneTimePrekeys(100, 1, rng);
  return k;
}

describe('random schedules', () => {
  it('DMs: exactly-once decryption, refusals leave the state unchanged', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.boolean(), fc.array(step, { minLength: 5, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 200 }), (seed, withOpk, steps, finalPicks) => {
        const rng = seededRandom(seed);
        const bobKeys = keys(2, rng);
        const stores: Record<string, SessionStore> = { a: new SessionStore(keys(1, rng)), b: new SessionStore(bobKeys) };
        const peer: Record<string, string> = { a: B, b: A };
        const other: Record<string, string> = { a: 'b', b: 'a' };
        stores.a.initiate(B, bobKeys.bundle(1, withOpk ? 100 : null), rng);
        const inFlight: Record<string, Msg[]> = { a: [], b: [] };
        const delivered: Record<string, Msg[]> = { a: [], b: [] };
        steps.forEach((s, n) => {
          const to = s.to;
          if (s.action === 'send_a' || s.action === 'send_b') {
            const who = s.action.slice(-1);
            if (!stores[who].hasSession(peer[who])) return;
            const plaintext = new Uint8Array([...new TextEncoder().encode(`${who}${n}:`), ...s.payload]);
            inFlight[other[who]].push([stores[who].encrypt(peer[who], plaintext), plaintext]);
          } else if (s.action === 'deliver' && inFlight[to].length) {
            const [env, plaintext] = inFlight[to].splice(s.pick % inFlight[to].length, 1)[0];
            expect(toHex(stores[to].decrypt(peer[to], env, rng))).toBe(toHex(plaintext));
            delivered[to].push([env, plaintext]);
          } else if (s.action === 'duplicate' && delivered[to].length) {
            const [env] = delivered[to][s.pick % delivered[to].length];
            refused(() => stores[to].decrypt(peer[to], env, rng), () => stores[to].toBytes());
          } else if (s.action === 'drop' && inFlight[to].length) {
            inFlight[to].splice(s.pick % inFlight[to].length, 1);
          } else if (s.action === 'tamper' && inFlight[to].length + delivered[to].length) {
            const pool = [...inFlight[to], ...delivered[to]];
            const [env] = pool[s.pick % pool.length];
            const changed = flipBit(env, s.bit % (env.length * 8));
            refused(() => stores[to].decrypt(peer[to], changed, rng), () => stores[to].toBytes());
          } else if (s.action === 'reload') {
            const blob = stores[to].toBytes();
            stores[to] = SessionStore.fromBytes(blob);
            expect(toHex(stores[to].toBytes())).toBe(toHex(blob));
          }
        });
        let p = 0;
        for (const to of ['a', 'b']) {
          const rest = [...inFlight[to]];
          while (rest.length) {
            const [env, plaintext] = rest.splice((finalPicks[p++] ?? 0) % rest.length, 1)[0];
            expect(toHex(stores[to].decrypt(peer[to], env, rng))).toBe(toHex(plaintext));
          }
          for (const [env] of inFlight[to]) refused(() => stores[to].decrypt(peer[to], env, rng), () => stores[to].toBytes());
        }
        expect(stores.b.sessions(A).length).toBeLessThanOrEqual(1);
      }),
      { numRuns: RUNS },
    );
  });

  it('sender keys: members receive each message exactly once, in any order, with losses', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.integer({ min: 2, max: 8 }),
        fc.array(fc.record({ action: fc.constantFrom('send', 'send', 'deliver', 'deliver', 'duplicate', 'tamper', 'reload'), member: fc.nat(), pick: fc.nat(), bit: fc.nat(), keep: fc.boolean() }), { minLength: 3, maxLength: 25 }),
        (seed, members, steps) => {
          const rng = seededRandom(seed);
          const ids = Array.from({ length: members }, (_, i) => (0x10 + i).toString(16).padStart(32, '0'));
          const stores = ids.map((id) => new SenderKeyStore(id));
          stores.forEach((s, j) => {
            const dist = s.startChain(CH, rng);
            stores.forEach((r, k) => k !== j && expect(r.processDistribution(CH, ids[j], dist)).toBe(true));
          });
          const pending: [number, Uint8Array, Uint8Array][][] = ids.map(() => []);
          const done: [number, Uint8Array][][] = ids.map(() => []);
          steps.forEach((s, n) => {
            const j = s.member % members;
            if (s.action === 'send') {
              const plaintext = new TextEncoder().encode(`${j}/${n}`);
              const env = stores[j].encrypt(CH, plaintext);
              // Each recipient gets it unless dropped for them (keep decides for all here).
              stores.forEach((_, k) => k !== j && (s.keep || k % 2 === 0) && pending[k].push([j, env, plaintext]));
            } else if (s.action === 'deliver' && pending[j].length) {
              const [sender, env, plaintext] = pending[j].splice(s.pick % pending[j].length, 1)[0];
              expect(toHex(stores[j].decrypt(CH, ids[sender], env))).toBe(toHex(plaintext));
              done[j].push([sender, env]);
            } else if ((s.action === 'duplicate' || s.action === 'tamper') && done[j].length) {
              const [sender, env] = done[j][s.pick % done[j].length];
              const bad = s.action === 'tamper' ? flipBit(env, s.bit % (env.length * 8)) : env;
              refused(() => stores[j].decrypt(CH, ids[sender], bad), () => stores[j].toBytes());
            } else if (s.action === 'reload') {
              stores[j] = SenderKeyStore.fromBytes(stores[j].toBytes());
            }
          });
          pending.forEach((list, j) => {
            for (const [sender, env, plaintext] of [...list].reverse()) {
              expect(toHex(stores[j].decrypt(CH, ids[sender], env))).toBe(toHex(plaintext));
            }
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('safety numbers commute', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uuid(), fc.uuid(), (sa, sb, ua, ub) => {
        const a = IdentityKeyPair.fromSeed(sa).publicKey;
        const b = IdentityKeyPair.fromSeed(sb).publicKey;
        expect(safetyNumber(a, ua, b, ub)).toBe(safetyNumber(b, ub, a, ua));
      }),
      { numRuns: Math.max(3, Math.floor(RUNS / 5)) },
    );
  });

  it('corrupted or truncated state is a StateError', () => {
    const rng = seededRandom(3);
    const store = new SessionStore(keys(1, rng));
    store.initiate(B, keys(2, rng).bundle(1, 100), rng);
    const blobs = [store.toBytes(), store.keys.toBytes()];
    const loaders = [SessionStore.fromBytes, LocalKeys.fromBytes];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 }), fc.nat(), fc.nat(), (which, bit, cut) => {
        const blob = blobs[which];
        expect(errorName(() => loaders[which](flipBit(blob, bit % (blob.length * 8))))).toBe('StateError');
        expect(errorName(() => loaders[which](blob.slice(0, cut % blob.length)))).toBe('StateError');
      }),
      { numRuns: RUNS * 4 },
    );
  });
});
