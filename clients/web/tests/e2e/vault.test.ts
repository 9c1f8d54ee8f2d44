/**
 * The browser's E2E state in IndexedDB (fake-indexeddb) under locks: persisted before an
 * envelope is handed out, shared by "tabs" (several vaults on one database) without ever
 * reusing a message key, and refused clearly when corrupted.
 */

import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/lib/crypto/bytes';
import { parseDmEnvelope } from '../../src/lib/crypto/envelopes';
import type { PrekeyBundle } from '../../src/lib/crypto/keys';
import { LocalLocks, type Locks } from '../../src/lib/e2e/locks';
import { IndexedDbBlobStore, MemoryBlobStore, type BlobStore } from '../../src/lib/e2e/storage';
import { E2EVault, type UploadKeys } from '../../src/lib/e2e/vault';

const ALICE = '00000000-0000-4000-8000-00000000a11c';
const BOB = '00000000-0000-4000-8000-000000000b0b';
const CHANNEL = '11111111-1111-4111-8111-111111111111';
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** The bundle the server would hand out for freshly uploaded keys. */
function bundleOf(keys: UploadKeys): PrekeyBundle {
  const opk = keys.oneTimePrekeys[0];
  return {
    identityKey: keys.identityKey,
    signedPrekeyId: keys.signedPrekey.keyId,
    signedPrekey: keys.signedPrekey.publicKey,
    signedPrekeySignature: keys.signedPrekey.signature,
    oneTimePrekeyId: opk.keyId,
    oneTimePrekey: opk.publicKey,
  };
}

/** Alice and Bob, each with their own IndexedDB; Alice has a session with Bob. */
async function twoParties() {
  const factory = new IDBFactory();
  const aliceDb = await IndexedDbBlobStore.open('alice', factory);
  const bobDb = await IndexedDbBlobStore.open('bob', factory);
  const alice = new E2EVault(aliceDb, ALICE, new LocalLocks());
  const bob = new E2EVault(bobDb, BOB, new LocalLocks());
  await alice.createKeys({ oneTimePrekeys: 3 });
  const bobKeys = await bob.createKeys({ oneTimePrekeys: 3 });
  await alice.initiate(BOB, bundleOf(bobKeys));
  return { factory, aliceDb, bobDb, alice, bob };
}

/** A BlobStore whose puts can be made to fail (a full disk, a closed database). */
class FlakyStore implements BlobStore {
  failPuts = false;
  constructor(private readonly inner: BlobStore) {}
  get(key: string) {
    return this.inner.get(key);
  }
  async put(key: string, value: Uint8Array) {
    return this.putMany([[key, value]]);
  }
  async putMany(entries: [string, Uint8Array][]) {
    if (this.failPuts) throw new Error('QuotaExceededError');
    return this.inner.putMany(entries);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
}

/** No locking at all: what the vault would do without Web Locks. */
const noLocks: Locks = { run: (_name, fn) => fn() };

describe('E2EVault', () => {
  it('keeps keys and sessions in IndexedDB across reloads', async () => {
    const { factory, alice, bob } = await twoParties();
    expect(await alice.hasKeys()).toBe(true);
    await expect(alice.createKeys()).rejects.toThrow(/already exist/);
    for (let i = 0; i < 3; i++) {
      const env = await alice.encryptDm(BOB, enc(`a${i}`));
      // A "reload": a fresh database connection and vault on Bob's side each time.
      const reloaded = new E2EVault(await IndexedDbBlobStore.open('bob', factory), BOB, new LocalLocks());
      expect(dec(await reloaded.decryptDm(ALICE, env))).toBe(`a${i}`);
      const reply = await reloaded.encryptDm(ALICE, enc(`b${i}`));
      expect(dec(await alice.decryptDm(BOB, reply))).toBe(`b${i}`);
    }
    expect(await bob.hasSession(ALICE)).toBe(true);
  });

  it('persists the advanced state before handing out the envelope', async () => {
    const { aliceDb, bob } = await twoParties();
    const flaky = new FlakyStore(aliceDb);
    const alice = new E2EVault(flaky, ALICE, new LocalLocks());
    const first = await alice.encryptDm(BOB, enc('first'));
    flaky.failPuts = true;
    // The state cannot be stored: no envelope leaves, so its key is never used on the wire.
    await expect(alice.encryptDm(BOB, enc('never sent'))).rejects.toThrow(/Quota/);
    flaky.failPuts = false;
    const second = await alice.encryptDm(BOB, enc('second'));
    const n = (e: Uint8Array) => new DataView(parseDmEnvelope(e).header.buffer).getUint32(36);
    expect([n(first), n(second)]).toEqual([0, 1]);
    // And a vault reopened after a send continues after it, never reusing a key.
    const reopened = new E2EVault(aliceDb, ALICE, new LocalLocks());
    const third = await reopened.encryptDm(BOB, enc('third'));
    expect(n(third)).toBe(2);
    for (const [env, want] of [[second, 'second'], [first, 'first'], [third, 'third']] as const) {
      expect(dec(await bob.decryptDm(ALICE, env))).toBe(want);
    }
  });

  it('serializes tabs sharing one database: no message key is used twice', async () => {
    const { aliceDb, bob } = await twoParties();
    const locks = new LocalLocks(); // the Web Locks API is shared by every tab of the origin
    const tabs = [new E2EVault(aliceDb, ALICE, locks), new E2EVault(aliceDb, ALICE, locks)];
    const envs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => tabs[i % 2].encryptDm(BOB, enc(`m${i}`))),
    );
    const headers = new Set(envs.map((e) => toHex(parseDmEnvelope(e).header)));
    expect(headers.size).toBe(20);
    const got = [];
    for (const e of envs) got.push(dec(await bob.decryptDm(ALICE, e)));
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
  });

  it('would reuse message keys without the lock (the test above can fail)', async () => {
    const { aliceDb } = await twoParties();
    const tabs = [new E2EVault(aliceDb, ALICE, noLocks), new E2EVault(aliceDb, ALICE, noLocks)];
    const envs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => tabs[i % 2].encryptDm(BOB, enc(`m${i}`))),
    );
    const headers = new Set(envs.map((e) => toHex(parseDmEnvelope(e).header)));
    expect(headers.size).toBeLessThan(20);
  });

  it('gives a clear StateError for corrupted state, and NoSession without keys', async () => {
    const store = new MemoryBlobStore();
    const vault = new E2EVault(store, ALICE, new LocalLocks());
    await expect(vault.encryptDm(BOB, enc('x'))).rejects.toMatchObject({ name: 'NoSession' });
    await vault.createKeys({ oneTimePrekeys: 1 });
    const key = [...store.data.keys()][0];
    const blob = store.data.get(key)!;
    blob[blob.length - 30] ^= 1;
    await expect(vault.identityKey()).rejects.toMatchObject({ name: 'StateError' });
    // A browser that lost its keys registers new ones (replace), then works again.
    const fresh = await vault.createKeys({ replace: true, oneTimePrekeys: 1 });
    expect(toHex(await vault.identityKey())).toBe(toHex(fresh.identityKey));
  });

  it('pins identity keys and reports a change without re-pinning', async () => {
    const vault = new E2EVault(new MemoryBlobStore(), ALICE, new LocalLocks());
    const k1 = new Uint8Array(32).fill(1);
    const k2 = new Uint8Array(32).fill(2);
    expect(await vault.checkIdentity(BOB, k1)).toBe('new');
    expect(await vault.checkIdentity(BOB, k1)).toBe('same');
    expect(await vault.checkIdentity(BOB, k2)).toBe('changed');
    expect(toHex((await vault.pinnedIdentity(BOB))!)).toBe(toHex(k1));
    await vault.acceptIdentity(BOB, k2);
    expect(await vault.checkIdentity(BOB, k2)).toBe('same');
  });

  it('refuses a prekey envelope from an identity other than the pinned one', async () => {
    const { alice, bob } = await twoParties();
    const env = await alice.encryptDm(BOB, enc('hi'));
    const wrong = new Uint8Array(32).fill(9);
    await expect(bob.decryptDm(ALICE, env, { expectedIdentity: wrong })).rejects.toMatchObject({
      name: 'IdentityMismatch',
    });
    expect(dec(await bob.decryptDm(ALICE, env, { expectedIdentity: await alice.identityKey() }))).toBe('hi');
  });

  it('pins the peer identity on first use and refuses a changed one until accepted', async () => {
    const { factory, alice, bob } = await twoParties();
    expect(dec(await bob.decryptDm(ALICE, await alice.encryptDm(BOB, enc('hi'))))).toBe('hi');
    const aliceKey = await alice.identityKey();
    expect(toHex((await bob.pinnedIdentity(ALICE))!)).toBe(toHex(aliceKey));
    // Alice's browser lost its keys and registered new ones: a new identity.
    const newAlice = new E2EVault(await IndexedDbBlobStore.open('alice2', factory), ALICE, new LocalLocks());
    const newKeys = await newAlice.createKeys({ oneTimePrekeys: 1 });
    const bobSide = await bob.withSessions((s) => s.keys.bundle(1, null)); // what the server hands out
    await newAlice.initiate(BOB, bobSide);
    const fromNew = await newAlice.encryptDm(BOB, enc('new device'));
    await expect(bob.decryptDm(ALICE, fromNew)).rejects.toMatchObject({ name: 'IdentityMismatch' });
    await bob.acceptIdentity(ALICE, newKeys.identityKey); // after the key-change warning
    expect(dec(await bob.decryptDm(ALICE, fromNew))).toBe('new device');
    // And as initiator: a bundle with a changed key is refused until accepted.
    await alice.checkIdentity(BOB, bobSide.identityKey);
    const forged = { ...bobSide, identityKey: newKeys.identityKey };
    await expect(alice.initiate(BOB, forged)).rejects.toMatchObject({ name: 'IdentityMismatch' });
  });

  it('wraps distributions in pairwise sessions and stores received chains', async () => {
    const { alice, bob } = await twoParties();
    expect(dec(await bob.decryptDm(ALICE, await alice.encryptDm(BOB, enc('hi'))))).toBe('hi');
    const { copies } = await bob.wrapDistribution(CHANNEL, [ALICE]);
    expect([...copies.keys()]).toEqual(['0000000000004000800000000000a11c']);
    const wrapped = copies.get('0000000000004000800000000000a11c')!;
    await expect(alice.receiveDistribution('22222222-2222-4222-8222-222222222222', BOB, wrapped)).rejects.toMatchObject({
      name: 'WrongChannel',
    });
    const again = (await bob.wrapDistribution(CHANNEL, [ALICE])).copies.get('0000000000004000800000000000a11c')!;
    expect(await alice.receiveDistribution(CHANNEL, BOB, again)).toBe(true);
    const m = await bob.encryptGroup(CHANNEL, enc('to the group'));
    expect(dec(await alice.decryptGroup(CHANNEL, BOB, m))).toBe('to the group');
    // Rotation: a new chain; Alice holds both.
    const rotated = (await bob.wrapDistribution(CHANNEL, [ALICE], { rotate: true })).copies.get('0000000000004000800000000000a11c')!;
    expect(await alice.receiveDistribution(CHANNEL, BOB, rotated)).toBe(true);
    expect(await alice.withSenderKeys((s) => s.receivingChains(CHANNEL, BOB).length)).toBe(2);
    await expect(bob.wrapDistribution(CHANNEL, ['33333333-3333-4333-8333-333333333333'])).rejects.toMatchObject({
      name: 'NoSession',
    });
  });

  it('keeps sender keys: chain, distribution, messages, across reloads', async () => {
    const factory = new IDBFactory();
    const alice = new E2EVault(await IndexedDbBlobStore.open('a', factory), ALICE, new LocalLocks());
    const bob = new E2EVault(await IndexedDbBlobStore.open('b', factory), BOB, new LocalLocks());
    const dist = await alice.startChain(CHANNEL);
    expect(await bob.processDistribution(CHANNEL, ALICE, dist)).toBe(true);
    const m0 = await alice.encryptGroup(CHANNEL, enc('g0'));
    const aliceAgain = new E2EVault(await IndexedDbBlobStore.open('a', factory), ALICE, new LocalLocks());
    const m1 = await aliceAgain.encryptGroup(CHANNEL, enc('g1'));
    const bobAgain = new E2EVault(await IndexedDbBlobStore.open('b', factory), BOB, new LocalLocks());
    expect(dec(await bobAgain.decryptGroup(CHANNEL, ALICE, m1))).toBe('g1');
    expect(dec(await bob.decryptGroup(CHANNEL, ALICE, m0))).toBe('g0');
    // The key is used up, but the plaintext was kept with the state: history shows it again.
    expect(dec(await bob.decryptGroup(CHANNEL, ALICE, m0))).toBe('g0');
    expect(dec((await alice.groupPlaintext(CHANNEL, ALICE, m1))!)).toBe('g1'); // own message
    expect(await bob.groupPlaintext(CHANNEL, BOB, m0)).toBeUndefined(); // not another sender's
  });

  it('keeps plaintexts with the state that used their keys, per conversation', async () => {
    const { aliceDb, alice, bob } = await twoParties();
    const env = await alice.encryptDm(BOB, enc('kept'));
    expect(dec((await alice.dmPlaintext(BOB, env))!)).toBe('kept'); // own messages too
    expect(dec(await bob.decryptDm(ALICE, env))).toBe('kept');
    expect(dec(await bob.decryptDm(ALICE, env))).toBe('kept'); // history fetched again
    // The same envelope presented as another peer's finds nothing kept, and its EK_A may
    // not start a second session.
    await expect(bob.decryptDm('33333333-3333-4333-8333-333333333333', env)).rejects.toMatchObject({
      name: 'PrekeyReplay',
    });
    // Two tabs decrypting one envelope at once: one uses the key, both show the message.
    const tabs = [new E2EVault(aliceDb, ALICE, new LocalLocks()), alice];
    const reply = await bob.encryptDm(ALICE, enc('to both tabs'));
    const got = await Promise.all(tabs.map((t) => t.decryptDm(BOB, reply)));
    expect(got.map(dec)).toEqual(['to both tabs', 'to both tabs']);
  });

  it('writes the state and the plaintext together or not at all', async () => {
    const { bobDb, alice } = await twoParties();
    const flaky = new FlakyStore(bobDb);
    const bob = new E2EVault(flaky, BOB, new LocalLocks());
    const env = await alice.encryptDm(BOB, enc('atomic'));
    flaky.failPuts = true;
    await expect(bob.decryptDm(ALICE, env)).rejects.toThrow(/Quota/);
    expect(await bob.dmPlaintext(ALICE, env)).toBeUndefined();
    flaky.failPuts = false;
    expect(dec(await bob.decryptDm(ALICE, env))).toBe('atomic'); // the key was not used up
  });
});
