/**
 * Differential runs: a random schedule (sends, deliveries out of order, losses, duplicates,
 * bit flips, new sessions, chain rotations) runs here with recorded randomness, then the
 * Python library replays the same operations with the same random bytes; every step's
 * output (envelope, plaintext or error name) and the actor's whole serialized state must
 * be identical, byte for byte. The vectors pin one path; this walks many.
 */

import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/lib/crypto/bytes';
import { CryptoError } from '../../src/lib/crypto/errors';
import { IdentityKeyPair, LocalKeys } from '../../src/lib/crypto/keys';
import { SenderKeyStore } from '../../src/lib/crypto/senderKeys';
import { SessionStore } from '../../src/lib/crypto/sessions';
import { flipBit, seededRandom } from '../helpers';
import { runPython } from './python';

const ALICE = '0000000000004000800000000000a11c';
const BOB = '00000000000040008000000000000b0b';
const CHANNEL = '11111111111141118111111111111111';
const text = (b: Uint8Array) => new TextDecoder().decode(b);

type Step = Record<string, unknown> & { actor: string; op: string };
type Outcome = { out: unknown; store: string };

/** A random source that also records what it returned, step by step. */
function recorder(seed: number) {
  const rng = seededRandom(seed);
  let drawn: string[] = [];
  return {
    rng: (n: number) => {
      const value = rng(n);
      drawn.push(toHex(value));
      return value;
    },
    take: () => {
      const out = drawn;
      drawn = [];
      return out;
    },
  };
}

function outcome(fn: () => unknown): unknown {
  try {
    const value = fn();
    return value instanceof Uint8Array ? toHex(value) : (value ?? null);
  } catch (e) {
    if (e instanceof CryptoError) return { error: e.name };
    throw e;
  }
}

function dmRun(seed: number, length: number) {
  const pick = seededRandom(seed);
  const int = (n: number) => new DataView(pick(4).buffer).getUint32(0) % n;
  const rec = recorder(seed + 1);
  const aliceKeys = new LocalKeys(IdentityKeyPair.generate(rec.rng));
  const bobKeys = new LocalKeys(IdentityKeyPair.generate(rec.rng));
  bobKeys.addSignedPrekey(1, rec.rng);
  bobKeys.addSignedPrekey(2, rec.rng);
  bobKeys.addOneTimePrekeys(100, 4, rec.rng);
  rec.take();
  const initial = { alice_keys: text(aliceKeys.toBytes()), bob_keys: text(bobKeys.toBytes()) };
  const bobPublic = LocalKeys.fromBytes(bobKeys.toBytes());
  const stores: Record<string, SessionStore> = { alice: new SessionStore(aliceKeys), bob: new SessionStore(bobKeys) };
  const peer: Record<string, string> = { alice: BOB, bob: ALICE };
  const other: Record<string, string> = { alice: 'bob', bob: 'alice' };
  const inFlight: Record<string, Uint8Array[]> = { alice: [], bob: [] };
  const delivered: Record<string, Uint8Array[]> = { alice: [], bob: [] };
  const steps: Step[] = [];
  const outcomes: Outcome[] = [];
  let nextOpk = 100;
  const run = (step: Step, fn: () => unknown) => {
    const out = outcome(fn);
    steps.push({ ...step, random: rec.take() });
    outcomes.push({ out, store: text(stores[step.actor].toBytes()) });
    return out;
  };
  const initiate = () => {
    const opk = nextOpk <= 103 && int(3) > 0 ? nextOpk++ : null;
    const spk = 1 + int(2);
    run({ actor: 'alice', op: 'initiate', spk, opk }, () => void stores.alice.initiate(BOB, bobPublic.bundle(spk, opk), rec.rng));
  };
  initiate();
  for (let i = 0; i < length; i++) {
    const action = int(10);
    const who = int(2) === 0 ? 'alice' : 'bob';
    if (action <= 2) {
      if (!stores[who].hasSession(peer[who])) continue;
      const plaintext = toHex(new TextEncoder().encode(`${who} ${i}`));
      const env = run({ actor: who, op: 'encrypt', plaintext }, () => stores[who].encrypt(peer[who], fromHex(plaintext)));
      if (typeof env === 'string' && int(8) > 0) inFlight[other[who]].push(fromHex(env)); // else lost
    } else if (action <= 6 && inFlight[who].length) {
      const [env] = inFlight[who].splice(int(inFlight[who].length), 1);
      run({ actor: who, op: 'decrypt', envelope: toHex(env) }, () => stores[who].decrypt(peer[who], env, rec.rng));
      delivered[who].push(env);
    } else if (action === 7 && delivered[who].length) {
      const env = delivered[who][int(delivered[who].length)];
      run({ actor: who, op: 'decrypt', envelope: toHex(env) }, () => stores[who].decrypt(peer[who], env, rec.rng));
    } else if (action === 8 && delivered[who].length + inFlight[who].length) {
      const pool = [...delivered[who], ...inFlight[who]];
      const env = flipBit(pool[int(pool.length)], int(pool[0].length * 8));
      run({ actor: who, op: 'decrypt', envelope: toHex(env) }, () => stores[who].decrypt(peer[who], env, rec.rng));
    } else if (action === 9 && int(4) === 0) {
      initiate(); // a new session (as after a lost state), replacing the current one
    }
  }
  return { initial, steps, outcomes };
}

function groupRun(seed: number, length: number) {
  const pick = seededRandom(seed);
  const int = (n: number) => new DataView(pick(4).buffer).getUint32(0) % n;
  const rec = recorder(seed + 1);
  const members = ['0000000000000000000000000000000a', '0000000000000000000000000000000b', '0000000000000000000000000000000c'];
  const stores = new Map(members.map((m) => [m, new SenderKeyStore(m)]));
  const queue = new Map(members.map((m) => [m, [] as [string, Uint8Array][]]));
  const seen = new Map(members.map((m) => [m, [] as [string, Uint8Array][]]));
  const steps: Step[] = [];
  const outcomes: Outcome[] = [];
  const run = (step: Step, fn: () => unknown) => {
    const out = outcome(fn);
    steps.push({ ...step, random: rec.take() });
    outcomes.push({ out, store: text(stores.get(step.actor)!.toBytes()) });
    return out;
  };
  const rotate = (sender: string) => {
    const dist = run({ actor: sender, op: 'start_chain' }, () => stores.get(sender)!.startChain(CHANNEL, rec.rng));
    for (const m of members) {
      if (m === sender || int(6) === 0) continue; // some never get it
      run({ actor: m, op: 'process', sender, distribution: dist }, () => stores.get(m)!.processDistribution(CHANNEL, sender, fromHex(dist as string)));
    }
  };
  members.forEach(rotate);
  for (let i = 0; i < length; i++) {
    const action = int(10);
    const who = members[int(members.length)];
    if (action <= 3) {
      const plaintext = toHex(new TextEncoder().encode(`${who.slice(-1)} ${i}`));
      const env = run({ actor: who, op: 'encrypt', plaintext }, () => stores.get(who)!.encrypt(CHANNEL, fromHex(plaintext)));
      for (const m of members) if (m !== who && int(6) > 0) queue.get(m)!.push([who, fromHex(env as string)]);
    } else if (action <= 6 && queue.get(who)!.length) {
      const q = queue.get(who)!;
      const [sender, env] = q.splice(int(q.length), 1)[0];
      run({ actor: who, op: 'decrypt', sender, envelope: toHex(env) }, () => stores.get(who)!.decrypt(CHANNEL, sender, env));
      seen.get(who)!.push([sender, env]);
    } else if (action === 7 && seen.get(who)!.length) {
      const s = seen.get(who)!;
      const [sender, env] = s[int(s.length)];
      const changed = int(2) === 0 ? env : flipBit(env, int(env.length * 8));
      run({ actor: who, op: 'decrypt', sender, envelope: toHex(changed) }, () => stores.get(who)!.decrypt(CHANNEL, sender, changed));
    } else if (action === 8 && int(3) === 0) {
      rotate(who);
    }
  }
  return { members, steps, outcomes };
}

describe('TypeScript and Python agree step by step', () => {
  it('on random DM schedules', () => {
    for (const seed of [11, 22, 33]) {
      const { initial, steps, outcomes } = dmRun(seed, 120);
      const py = runPython({}, [{ op: 'replay_dm', ...initial, alice_user: ALICE, bob_user: BOB, steps }]);
      const theirs = py.results[0] as Outcome[];
      expect(theirs.length).toBe(outcomes.length);
      outcomes.forEach((ours, i) => expect(theirs[i], `seed ${seed} step ${i} ${steps[i].op}`).toEqual(ours));
      const kinds = new Set(outcomes.map((o) => (typeof o.out === 'object' && o.out ? (o.out as { error: string }).error : 'ok')));
      expect(kinds.has('DuplicateMessage') || kinds.has('DecryptError')).toBe(true);
    }
  });

  it('on random sender-key schedules', () => {
    for (const seed of [5, 6, 7]) {
      const { members, steps, outcomes } = groupRun(seed, 120);
      const py = runPython({}, [{ op: 'replay_group', members, channel: CHANNEL, steps }]);
      const theirs = py.results[0] as Outcome[];
      expect(theirs.length).toBe(outcomes.length);
      outcomes.forEach((ours, i) => expect(theirs[i], `seed ${seed} step ${i} ${steps[i].op}`).toEqual(ours));
    }
  });
});
