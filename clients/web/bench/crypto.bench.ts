/** Throughput of the TypeScript E2E library in Node (`npm run bench`); never asserted. */

import { bench, describe } from 'vitest';
import { verify } from '../src/lib/crypto/ed25519';
import { IdentityKeyPair, LocalKeys } from '../src/lib/crypto/keys';
import { SenderKeyStore } from '../src/lib/crypto/senderKeys';
import { SessionStore } from '../src/lib/crypto/sessions';
import { safetyNumber } from '../src/lib/crypto/fingerprints';
import { LocalLocks } from '../src/lib/e2e/locks';
import { MemoryBlobStore } from '../src/lib/e2e/storage';
import { E2EVault } from '../src/lib/e2e/vault';

const ALICE = '00000000-0000-4000-8000-00000000a11c';
const BOB = '00000000-0000-4000-8000-000000000b0b';
const CHANNEL = '11111111-1111-4111-8111-111111111111';
const text = new TextEncoder().encode('a typical chat message of about sixty bytes, give or take.');

const bobKeys = new LocalKeys(IdentityKeyPair.generate());
bobKeys.addSignedPrekey(1);
const alice = new SessionStore(new LocalKeys(IdentityKeyPair.generate()));
const bob = new SessionStore(bobKeys);
alice.initiate(BOB, bobKeys.bundle(1));
bob.decrypt(ALICE, alice.encrypt(BOB, text));
alice.decrypt(BOB, bob.encrypt(ALICE, text));

const sender = new SenderKeyStore(ALICE);
const receiver = new SenderKeyStore(BOB);
receiver.processDistribution(CHANNEL, ALICE, sender.startChain(CHANNEL));

const signer = IdentityKeyPair.generate();
const signature = signer.sign(text);

describe('crypto', () => {
  bench('DM encrypt + decrypt (same chain)', () => {
    bob.decrypt(ALICE, alice.encrypt(BOB, text));
  });
  bench('DM round trip with a DH ratchet step each way', () => {
    bob.decrypt(ALICE, alice.encrypt(BOB, text));
    alice.decrypt(BOB, bob.encrypt(ALICE, text));
  });
  bench('group encrypt (sign) + decrypt (verify)', () => {
    receiver.decrypt(CHANNEL, ALICE, sender.encrypt(CHANNEL, text));
  });
  bench('strict Ed25519 verify', () => {
    verify(signer.publicKey, text, signature);
  });
  bench('X3DH + first prekey message, both sides', () => {
    const keys = new LocalKeys(IdentityKeyPair.generate());
    keys.addSignedPrekey(1);
    const a = new SessionStore(new LocalKeys(IdentityKeyPair.generate()));
    a.initiate(BOB, keys.bundle(1));
    new SessionStore(keys).decrypt(ALICE, a.encrypt(BOB, text));
  });
  bench('session store save + load', () => {
    SessionStore.fromBytes(alice.toBytes());
  });
  bench('safety number', () => {
    safetyNumber(signer.publicKey, ALICE, bobKeys.identity.publicKey, BOB);
  });
});

// The vault over an in-memory BlobStore, keys with 100 one-time prekeys (as registered).
const vaultStore = new MemoryBlobStore();
const vault = new E2EVault(vaultStore, ALICE, new LocalLocks());
const vaultReady = (async () => {
  await vault.createKeys({ oneTimePrekeys: 100 });
  await vault.initiate(BOB, bobKeys.bundle(1));
})();

describe('vault', () => {
  bench('encryptDm (lock, load, encrypt, store state and plaintext)', async () => {
    await vaultReady;
    await vault.encryptDm(BOB, text);
  });
  bench('encryptDm when another tab wrote last (full parse)', async () => {
    await vaultReady;
    await new E2EVault(vaultStore, ALICE, new LocalLocks()).encryptDm(BOB, text);
  });
});
