/**
 * Sender-key rotation survives a reload (security): after a member's removal, the next
 * message in the channel must use a chain the removed member never received, even when
 * the page was reloaded in between, or never saw the rotation event at all. Real vaults on
 * (fake) IndexedDB; only the HTTP API is stood in for (bundles out, uploads recorded).
 */

import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { b64decode } from '../../src/lib/crypto/bytes';
import type { Api } from '../../src/lib/app/api';
import { Secure } from '../../src/lib/app/secure';
import { LocalLocks } from '../../src/lib/e2e/locks';
import { IndexedDbBlobStore } from '../../src/lib/e2e/storage';
import { E2EVault } from '../../src/lib/e2e/vault';
import { envelopeFromBase64, keyUploadJson, type KeyUploadJson, type SenderKeyUploadJson } from '../../src/lib/e2e/wire';

const ALICE = '00000000-0000-4000-8000-00000000a11c';
const BOB = '00000000-0000-4000-8000-000000000b0b';
const CAROL = '00000000-0000-4000-8000-0000000ca201';
const CHANNEL = '11111111-1111-4111-8111-111111111111';

/** The server as far as Secure uses it: bundles (one one-time prekey each) and uploads. */
class FakeServer {
  readonly keys = new Map<string, KeyUploadJson>();
  readonly uploads: SenderKeyUploadJson[] = [];
  api(): Api {
    return {
      get: async (path: string) => {
        const peer = /^\/keys\/([^/]+)\/bundle$/.exec(path)?.[1];
        const k = peer && this.keys.get(peer);
        if (!k) throw new Error(`unexpected GET ${path}`);
        return { identity_key: k.identity_key, signed_prekey: k.signed_prekey, one_time_prekey: k.one_time_prekeys.shift() ?? null };
      },
      post: async (path: string, body: SenderKeyUploadJson) => {
        if (path !== `/channels/${CHANNEL}/sender-keys`) throw new Error(`unexpected POST ${path}`);
        this.uploads.push(body);
        return {};
      },
    } as unknown as Api;
  }
  /** The copy of the last upload addressed to user (undefined when they were left out). */
  copyFor(user: string): Uint8Array | undefined {
    const d = this.uploads.at(-1)!.distributions.find((x) => x.recipient_id === user);
    return d && b64decode(d.envelope);
  }
}

async function setup() {
  const factory = new IDBFactory();
  const server = new FakeServer();
  const vaults: Record<string, E2EVault> = {};
  for (const [name, id] of [['bob', BOB], ['carol', CAROL]] as const) {
    vaults[name] = new E2EVault(await IndexedDbBlobStore.open(name, factory), id, new LocalLocks());
    server.keys.set(id, keyUploadJson(await vaults[name].createKeys({ oneTimePrekeys: 3 })));
  }
  const aliceStore = await IndexedDbBlobStore.open('alice', factory);
  await new E2EVault(aliceStore, ALICE, new LocalLocks()).createKeys({ oneTimePrekeys: 3 });
  /** Alice's page, opened (again) on her IndexedDB database. */
  const page = async () => new Secure(await IndexedDbBlobStore.open('alice', factory), ALICE, server.api());
  // Alice writes to all three; Bob and Carol receive her chain.
  const first = await (await page()).encryptGroup(CHANNEL, [ALICE, BOB, CAROL], 'before');
  for (const [name, id] of [['bob', BOB], ['carol', CAROL]] as const) {
    await vaults[name].receiveDistribution(CHANNEL, ALICE, server.copyFor(id)!);
  }
  const read = (who: E2EVault, ciphertext: string) =>
    who.decryptGroup(CHANNEL, ALICE, envelopeFromBase64(ciphertext)).then((b) => new TextDecoder().decode(b));
  expect(await read(vaults.carol, first.ciphertext)).toBe('before');
  return { server, page, bob: vaults.bob, carol: vaults.carol, first, read };
}

describe('Secure sender-key rotation', () => {
  it('a rotation event is kept across a reload: the next message is not readable by the removed member', async () => {
    const { server, page, bob, carol, first, read } = await setup();
    await (await page()).rotate(CHANNEL); // sender_key_rotation_required for Carol, then a reload
    const reloaded = await page();
    expect(await reloaded.vault.sendingChainId(CHANNEL)).not.toBe(first.chainId); // stored, not in memory
    expect(await reloaded.vault.distributedTo(CHANNEL)).toMatchObject({ members: [] });
    const after = await reloaded.encryptGroup(CHANNEL, [ALICE, BOB], 'after');
    expect(after.chainId).not.toBe(first.chainId);
    expect(server.uploads.at(-1)!.chain_id).toBe(after.chainId);
    expect(server.copyFor(CAROL)).toBeUndefined();
    await bob.receiveDistribution(CHANNEL, ALICE, server.copyFor(BOB)!);
    expect(await read(bob, after.ciphertext)).toBe('after');
    await expect(read(carol, after.ciphertext)).rejects.toThrow();
  });

  it('a removal the page never heard of (member list shrank since the last distribution) rotates too', async () => {
    const { server, page, carol, first, read } = await setup();
    const after = await (await page()).encryptGroup(CHANNEL, [ALICE, BOB], 'after');
    expect(after.chainId).not.toBe(first.chainId);
    expect(server.copyFor(CAROL)).toBeUndefined();
    await expect(read(carol, after.ciphertext)).rejects.toThrow();
  });

  it('no removal: the same chain continues after a reload, without a new upload', async () => {
    const { server, page, carol, first, read } = await setup();
    const again = await (await page()).encryptGroup(CHANNEL, [ALICE, BOB, CAROL], 'again');
    expect(again.chainId).toBe(first.chainId);
    expect(server.uploads.length).toBe(1);
    expect(await read(carol, again.ciphertext)).toBe('again');
  });
});
